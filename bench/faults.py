"""Fault harness: kill a real run at a random moment, resume it to the end, check invariants.

Usage: python bench/faults.py [--trials N] [--seed S] [--json]

Each trial builds the same small repository (a commit, a second branch, a stash
entry, a staged file), starts a real ``llmflows-tui run`` subprocess of a flow
with one of each side effect (``write_file``, ``edit_file``, an agent
``run_command``, a ``run`` node, model calls; the process is forked from a warm
server that has imported the engine and litellm, ``tests/support/forked.py``, so
random delays land in the run, not in imports), and kills it either at a random
named crash point (``LLMFLOWS_CRASH_AT``, see ``engine/run/crashpoints.py``) or
with SIGKILL after a random delay. While the run is dead the person edits a
file the agent never touches and creates a new one. The harness then resumes
the run (in this process, through the CLI's ``main``) until it completes,
approving crash gates as a person would, and checks:

- ``tree``: the final tree equals an uninterrupted run's (plus the person's edits);
- ``once``: each command ran exactly once (a side-effect log the checkpoints never
  capture or restore: an ignored directory, since commands run in a sandbox where
  only the repository is writable),
  except a command whose outcome was unknown and that a person approved to run again;
- ``edits``: the person's edits are intact;
- ``integrity``: ``PRAGMA integrity_check`` is ok;
- ``objects``: every checkpoint's commit is present in git;
- ``user_git``: the user's HEAD, index entries, branches and stash are unchanged;
- ``finished``: the run completed, every resume ended with an exit code (no traceback).

It prints a table: trials, how they were killed, and failures by invariant.
A fixed seed gives the same trials (the delays of SIGKILLs still race the clock).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from tests.support import forked  # noqa: E402
from tests.support.forked import Forked  # noqa: E402

INVARIANTS = ("tree", "once", "edits", "integrity", "objects", "user_git", "finished")

#: Named crash points and how many times each is reached in one uninterrupted run.
CRASH_POINTS = {
    "intent-llm": 5,
    "done-llm": 5,
    "intent-tool": 3,
    "done-tool": 3,
    "intent-command": 1,
    "done-command": 1,
    "before-checkpoint": 3,
    "after-checkpoint": 3,
    "after-head": 3,
    "checkpoint.after_git": 4,
    "checkpoint.in_transaction": 4,
}

FLOW = {
    "name": "faults",
    "description": "One of each side effect, for the fault harness.",
    "settings": {"log": ""},
    "nodes": [
        {
            "id": "edit",
            "kind": "agent",
            "prompt": "Change the files and count.",
            "tools": ["write_file", "edit_file", "run_command", "finish"],
            "next": "count",
        },
        {
            "id": "count",
            "kind": "run",
            "command": "echo run >> {{ settings.log }}",
            "next": "summary",
        },
        {"id": "summary", "kind": "llm", "prompt": "Summarize.", "next": "end"},
    ],
}

#: Where commands log that they ran: ignored by git, so no checkpoint captures or restores it.
LOG_DIR = ".effects"
PERSON_LINE = "a line the person added while the run was dead\n"
PERSON_FILE = "user_new.txt"


def _script(log: Path) -> dict:
    def call(name: str, **args: str) -> dict:
        return {"node": "edit", "tool_calls": [{"name": name, "arguments": args}]}

    return {
        "responses": [
            call("write_file", path="a.txt", content="A\n"),
            call("edit_file", path="src.txt", old="old\n", new="new\n"),
            call("run_command", command=f"echo tool >> {log}"),
            call("finish", summary="done"),
            {"node": "summary", "text": "All good."},
        ]
    }


def git(repo: Path, *args: str, check: bool = True) -> str:
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


@dataclass
class Setup:
    """One trial's directory: the repo, the flow, the script and the side-effect log."""

    root: Path
    repo: Path = field(init=False)
    log: Path = field(init=False)
    flow: Path = field(init=False)
    script: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True)
        self.repo = self.root / "repo"
        self.log = self.repo / LOG_DIR / "effects.log"
        self.flow = self.root / "faults.yaml"
        self.script = self.root / "script.yaml"
        self.flow.write_text(yaml.safe_dump(FLOW, sort_keys=False))
        self.script.write_text(yaml.safe_dump(_script(self.log), sort_keys=False))
        repo = self.repo
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        (repo / ".git" / "info").mkdir(exist_ok=True)
        (repo / ".git" / "info" / "exclude").write_text(f"/{LOG_DIR}/\n")
        (repo / LOG_DIR).mkdir()
        git(repo, "config", "user.email", "person@example.com")
        git(repo, "config", "user.name", "Person")
        (repo / "README.md").write_text("# project\n")
        (repo / "src.txt").write_text("old\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "initial")
        git(repo, "branch", "feature")
        (repo / "README.md").write_text("# project\nstashed work\n")
        git(repo, "stash", "-q")
        (repo / "staged.txt").write_text("staged by the person\n")
        git(repo, "add", "staged.txt")

    def argv(self) -> list[str]:
        return [
            "run",
            str(self.flow),
            "exercise every effect",
            "--model",
            f"scripted:{self.script}",
            "--autonomy",
            "full",
            "--set",
            f"log={self.log}",
        ]


def tree(repo: Path) -> dict[str, bytes]:
    """Every file of the working tree (not .git, not the store)."""
    out = {}
    for p in sorted(repo.rglob("*")):
        rel = p.relative_to(repo).as_posix()
        if rel.split("/", 1)[0] in (".git", ".llmflows", LOG_DIR) or not p.is_file():
            continue
        out[rel] = p.read_bytes()
    return out


def user_git(repo: Path) -> dict[str, str]:
    gitdir = Path(git(repo, "rev-parse", "--absolute-git-dir").strip())
    return {
        "HEAD": (gitdir / "HEAD").read_text(),
        "head_commit": git(repo, "rev-parse", "HEAD"),
        "index": git(repo, "ls-files", "-s"),
        "branches": git(repo, "for-each-ref", "refs/heads", "refs/tags"),
        "stash": git(repo, "stash", "list", "--format=%H"),
    }


def cli(argv: list[str]) -> tuple[int | None, str]:
    """The CLI's ``main`` in this process: (exit code or None on a traceback, output)."""
    from engine.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            code: int | None = main(argv)
        except KeyboardInterrupt:  # ^C or SIGTERM ends the harness (with its table), not a trial
            raise
        except BaseException as e:  # noqa: BLE001 - a traceback is what we count
            code = None
            buf.write(f"TRACEBACK {type(e).__name__}: {e}")
    return code, buf.getvalue()


def _child(argv: list[str], repo: Path, crash: str | None) -> Forked:
    env = {k: v for k, v in os.environ.items() if k != "LLMFLOWS_CRASH_AT"}
    if crash:
        env["LLMFLOWS_CRASH_AT"] = crash
    return forked.start(["-C", str(repo), *argv], env)


def baseline(workdir: Path) -> tuple[dict[str, bytes], float]:
    """An uninterrupted run: its final tree and how long the process took."""
    s = Setup(workdir / "baseline")
    forked.warm_up()  # the delays are drawn from the run's own time, not the server's start
    t0 = time.perf_counter()
    done = _child(s.argv(), s.repo, None).communicate()
    if done.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed ({done.returncode}): {done.stderr}")
    return tree(s.repo), time.perf_counter() - t0


@dataclass
class Trial:
    n: int
    fault: str
    killed: bool = False
    resumes: int = 0
    approved_reruns: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


def _run_ids(repo: Path) -> list[str]:
    code, out = cli(["-C", str(repo), "runs", "--json"])
    if code != 0:
        return []
    return [r["id"] for r in json.loads(out)]


def _unknown_commands(repo: Path, run_id: str) -> list[str]:
    """Commands named by the open crash gate (their outcome is unknown)."""
    from engine.store import RunStore

    with RunStore.open(repo, write=False) as store:
        gate = store.pending_gate(run_id)
        if gate is None or gate["kind"] != "crash":
            return []
        keys = set((gate.get("payload") or {}).get("effects") or [])
        out = []
        for e in store.effects_for_run(run_id):
            if e["key"] in keys and e["status"] == "intent":
                req = e["request"] or {}
                out.append(req.get("command") or (req.get("arguments") or {}).get("command", ""))
        return [c for c in out if c]


def _finish(s: Setup, t: Trial) -> None:
    """Resume (approving crash gates, as a person would) until the run completes."""
    ids = _run_ids(s.repo)
    if not ids:  # killed before the run was recorded: start it again
        code, out = cli(["-C", str(s.repo), *s.argv()])
        ids = _run_ids(s.repo)
        if code is None or not ids:
            t.failures["finished"] = f"no run after a fresh start: {out[-300:]}"
            return
    run_id = ids[0]
    for _ in range(6):
        code, out = cli(["-C", str(s.repo), "resume", run_id])
        t.resumes += 1
        if code == 0:
            return
        if code == 3 and "crash gate" in out:
            t.approved_reruns += _unknown_commands(s.repo, run_id)
            code, out = cli(["-C", str(s.repo), "resume", run_id, "--approve"])
            t.resumes += 1
            if code == 0:
                return
        if code is None or code not in (0, 3):
            t.failures["finished"] = f"resume exit {code}: {out.strip()[-300:]}"
            return
    t.failures["finished"] = "still not completed after 6 resumes"


def check(s: Setup, t: Trial, expected: dict[str, bytes], user_before: dict[str, str]) -> None:
    from engine.store import RunStore

    final = tree(s.repo)
    want = dict(expected)
    want["README.md"] = want["README.md"] + PERSON_LINE.encode()
    want[PERSON_FILE] = b"mine\n"
    if "finished" not in t.failures and final != want:
        diff = sorted(k for k in set(final) | set(want) if final.get(k) != want.get(k))
        t.failures["tree"] = f"differs in {diff}"
    if not (s.repo / "README.md").read_text().endswith(PERSON_LINE) or not (
        (s.repo / PERSON_FILE).is_file() and (s.repo / PERSON_FILE).read_text() == "mine\n"
    ):
        t.failures["edits"] = "the person's edit or new file is gone"
    ran = Counter(s.log.read_text().split()) if s.log.exists() else Counter()
    allowed = Counter({"tool": 1, "run": 1})
    for cmd in t.approved_reruns:
        allowed[cmd.split()[1]] += 1
    if "finished" not in t.failures and (
        set(ran) != {"tool", "run"} or any(not 1 <= ran[k] <= allowed[k] for k in ran)
    ):
        t.failures["once"] = f"ran {dict(ran)}"
    if (s.repo / ".llmflows" / "history.db").exists():
        with RunStore.open(s.repo, write=False) as store:
            ok = store.integrity_check()
            if ok != "ok":
                t.failures["integrity"] = ok
            missing = [
                cp["id"]
                for cp in store.list_checkpoints()
                if subprocess.run(
                    ["git", "cat-file", "-e", cp["commit_sha"]], cwd=s.repo, check=False
                ).returncode
            ]
            if missing:
                t.failures["objects"] = f"checkpoints without objects: {missing}"
    after = user_git(s.repo)
    changed = [k for k in user_before if user_before[k] != after[k]]
    if changed:
        t.failures["user_git"] = f"changed: {changed}"


def trial(n: int, rng: random.Random, workdir: Path, expected, duration: float) -> Trial:
    s = Setup(workdir / f"t{n}")
    user_before = user_git(s.repo)
    if rng.random() < 0.6:
        point = rng.choice(sorted(CRASH_POINTS))
        nth = rng.randint(1, CRASH_POINTS[point])
        t = Trial(n, f"{point}:{nth}")
        proc = _child(s.argv(), s.repo, t.fault)
        proc.communicate()
    else:
        delay = rng.uniform(0.0, duration)
        t = Trial(n, f"kill@{delay:.2f}s")
        proc = _child(s.argv(), s.repo, None)
        if proc.wait(delay) is None:
            proc.kill()
        proc.communicate()
    t.killed = proc.returncode == -signal.SIGKILL
    # The person works while the run is dead.
    readme = s.repo / "README.md"
    readme.write_text(readme.read_text() + PERSON_LINE)
    (s.repo / PERSON_FILE).write_text("mine\n")
    _finish(s, t)
    check(s, t, expected, user_before)
    return t


def run_trials(
    trials: int, seed: int, workdir: Path, progress=None, out: list[Trial] | None = None
) -> list[Trial]:
    """Run ``trials`` fault trials with a fixed seed; return their results.

    ``out`` (if given) receives each result as it completes, so an interrupted
    run still has the trials done so far.
    """
    expected, duration = baseline(workdir)
    rng = random.Random(seed)
    out = [] if out is None else out
    for n in range(1, trials + 1):
        t = trial(n, rng, workdir, expected, duration)
        out.append(t)
        if progress:
            progress(t)
    return out


def table(results: list[Trial]) -> str:
    fails = Counter(k for t in results for k in t.failures)
    kinds = Counter("kill" if t.fault.startswith("kill@") else "crash point" for t in results)
    lines = [
        f"trials: {len(results)}  (crash point {kinds['crash point']}, "
        f"SIGKILL after a delay {kinds['kill']}; really killed {sum(t.killed for t in results)})",
        f"gated re-runs of an unknown-outcome command (approved): "
        f"{sum(len(t.approved_reruns) for t in results)}",
        f"{'invariant':<12} {'failures':>8}",
    ]
    lines += [f"{k:<12} {fails[k]:>8}" for k in INVARIANTS]
    bad = [t for t in results if t.failures]
    lines.append(f"{'any':<12} {len(bad):>8}")
    for t in bad[:20]:
        lines.append(f"  trial {t.n} ({t.fault}): {t.failures}")
    return "\n".join(lines)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="llmflows-faults-") as d:

        def progress(t: Trial) -> None:
            mark = "ok" if not t.failures else "FAIL " + ",".join(t.failures)
            print(f"trial {t.n:>4} {t.fault:<28} {mark}", file=sys.stderr, flush=True)

        results: list[Trial] = []
        # SIGTERM (e.g. a deadline) ends the run early with the table of what ran.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            run_trials(args.trials, args.seed, Path(d), progress, results)
        except KeyboardInterrupt:
            print(f"interrupted after {len(results)} of {args.trials} trials", flush=True)
    if args.json:
        print(
            json.dumps(
                [
                    {"n": t.n, "fault": t.fault, "killed": t.killed, "failures": t.failures}
                    for t in results
                ]
            )
        )
    else:
        print(table(results))
        print(f"seed {args.seed}, {time.perf_counter() - t0:.0f} s")
    return 1 if any(t.failures for t in results) else 0


if __name__ == "__main__":
    sys.exit(main())
