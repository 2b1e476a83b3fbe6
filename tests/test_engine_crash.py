"""SIGKILL a real `llmflows-tui run` subprocess at several points, then resume.

No done effect may run twice, nothing may be lost, and the DB must pass
integrity_check and never point at a missing git object.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from engine.store import RunStore
from tests.support.cli import run_cli
from tests.support.gitutil import effects_log, git, init_repo

FLOW = str(Path(__file__).parent / "flows" / "crashy.yaml")


@pytest.fixture(autouse=True)
def _log_outside_the_repo_is_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scripted commands append to a counter beside the repo: allow it in the sandbox."""
    monkeypatch.setenv("LLMFLOWS_SANDBOX_WRITABLE", str(tmp_path))


def _script(path: Path, counter: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "responses": [
                    {
                        "node": "edit",
                        "tool_calls": [
                            {"name": "write_file", "arguments": {"path": "a.txt", "content": "A\n"}}
                        ],
                    },
                    {
                        "node": "edit",
                        "tool_calls": [
                            {
                                "name": "run_command",
                                "arguments": {"command": f"echo tool >> {counter}"},
                            }
                        ],
                    },
                    {
                        "node": "edit",
                        "tool_calls": [{"name": "finish", "arguments": {"summary": "done"}}],
                    },
                    {"node": "summary", "text": "All good."},
                ]
            }
        )
    )
    return path


def _cli(repo: Path, *args: str, crash: str | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, repo=repo, crash=crash)


def _start(tmp_path: Path, crash: str) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """A repo and a `crashy` run of it that SIGKILLs itself at ``crash``."""
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    # Counted in an ignored dir: commands run in a sandbox where only the repo is writable,
    # and no checkpoint captures or restores ignored files.
    counter = effects_log(repo, "counter.txt")
    script = _script(tmp_path / "script.yaml", counter)
    first = _cli(
        repo,
        "run",
        FLOW,
        "count things",
        "--model",
        f"scripted:{script}",
        "--autonomy",
        "full",
        "--set",
        f"counter={counter}",
        crash=crash,
    )
    return repo, counter, first


def _run_id(repo: Path) -> str:
    out = _cli(repo, "runs", "--json")
    return json.loads(out.stdout)[0]["id"]


def _check_store(repo: Path) -> None:
    with RunStore.open(repo, write=False) as store:
        assert store.integrity_check() == "ok"
        for cp in store.list_checkpoints():
            git(repo, "cat-file", "-e", cp["commit_sha"])


@pytest.mark.parametrize(
    "crash",
    [
        "done-llm:1",  # right after the first model answer was journaled
        "done-tool:1",  # after write_file, before its step's checkpoint
        "done-tool:2",  # after the command ran
        "before-checkpoint:1",
        "after-checkpoint:1",  # git + DB checkpoint made, head not moved yet
        "after-head:2",  # between steps
        "done-command:1",  # after the flow's run command
    ],
)
def test_sigkill_then_resume_runs_every_effect_once(tmp_path: Path, crash: str):
    repo, counter, first = _start(tmp_path, crash)
    assert first.returncode == -9, first.stdout + first.stderr  # really killed
    _check_store(repo)
    run_id = _run_id(repo)
    listed = json.loads(_cli(repo, "runs", "--json").stdout)[0]
    assert listed["status"] == "crashed"  # detected, even by a read-only listing
    second = _cli(repo, "resume", run_id)
    if second.returncode == 3:  # crashed mid-effect: the human is asked first
        assert "crash" in second.stdout
        second = _cli(repo, "resume", run_id, "--approve")
    assert second.returncode == 0, second.stdout + second.stderr
    lines = counter.read_text().splitlines()
    assert sorted(lines) == ["run", "tool"], lines  # each side effect exactly once
    assert (repo / "a.txt").read_text() == "A\n"
    _check_store(repo)
    show = json.loads(_cli(repo, "show", run_id, "--json").stdout)
    assert show["run"]["status"] == "completed"


def test_sigkill_mid_effect_keeps_the_tree_and_asks(tmp_path: Path):
    # killed after the command's intent was journaled, before it ran
    repo, counter, first = _start(tmp_path, "intent-tool:2")
    assert first.returncode == -9
    assert (repo / "a.txt").exists()  # written by the step before the crash
    run_id = _run_id(repo)
    second = _cli(repo, "resume", run_id)
    assert second.returncode == 3 and "died" in second.stdout and "echo tool" in second.stdout
    # nothing is restored: the done write_file stays, and is not run again
    assert (repo / "a.txt").read_text() == "A\n"
    third = _cli(repo, "resume", run_id, "--approve")
    assert third.returncode == 0, third.stdout + third.stderr
    assert counter.read_text().splitlines() == ["tool", "run"]
    assert (repo / "a.txt").read_text() == "A\n"
    _check_store(repo)


def test_sigkill_during_a_concurrent_batch_pays_for_no_answer_twice(tmp_path: Path):
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    flow = Path(__file__).parent / "flows" / "fanout.yaml"
    tasks = [{"title": f"task {i}"} for i in range(1, 4)]
    script = tmp_path / "fan.yaml"
    script.write_text(
        yaml.safe_dump(
            {
                "responses": [
                    {
                        "node": "plan",
                        "tool_calls": [{"name": "submit_plan", "arguments": {"tasks": tasks}}],
                    },
                    *(
                        {"node": "review", "text": f"ok {i}", "latency": 0.05 * i}
                        for i in range(1, 4)
                    ),
                    *({"node": "review", "text": f"again {i}"} for i in range(1, 4)),
                ]
            }
        )
    )
    first = _cli(
        repo,
        "run",
        str(flow),
        "fan out",
        "--model",
        f"scripted:{script}",
        "--autonomy",
        "full",
        crash="done-llm:2",
    )
    assert first.returncode == -9, first.stdout + first.stderr
    run_id = _run_id(repo)
    second = _cli(repo, "resume", run_id)
    assert second.returncode == 0, second.stdout + second.stderr
    with RunStore.open(repo, write=False) as store:
        paid = [
            e
            for e in store.effects_for_run(run_id)
            if e["kind"] == "llm" and e["status"] == "done" and not e["request"].get("copied")
        ]
        done = [
            s for s in store.steps_for(run_id) if s["node"] == "review" and s["status"] == "done"
        ]
        assert store.integrity_check() == "ok"
    assert len(paid) == 4  # the plan and each review answer, each paid for exactly once
    # export-script writes each answer once, not again where it was reused
    from engine.cli.run_cmds import export_script
    from engine.run.session import Session

    with Session.open(repo, write=False) as session:
        exported = export_script(session, run_id)
    assert [e["node"] for e in exported] == ["plan", "review", "review", "review"]
    assert sorted(s["task_id"] for s in done) == ["t1", "t2", "t3"]
