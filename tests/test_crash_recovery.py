"""The two breaks that fault runs found (issue #15), as real SIGKILLs then resumes.

- A command the journal marks done must never run again when the process dies in
  the next model call (plain ``resume``, ``resume --approve``, review autonomy).
- Recovery keeps the person's edits made while the run was dead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.store import RunStore
from tests.support.cli import run_cli
from tests.support.gitutil import effects_log, git, init_repo

FLOW = str(Path(__file__).parent / "flows" / "deploy.yaml")


@pytest.fixture(autouse=True)
def _log_outside_the_repo_is_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scripted commands append to a counter beside the repo: allow it in the sandbox."""
    monkeypatch.setenv("LLMFLOWS_SANDBOX_WRITABLE", str(tmp_path))


def _deploy_script(tmp_path: Path, log: Path, command: str = "echo deployed") -> Path:
    script = tmp_path / "deploy.script.yaml"
    script.write_text(
        yaml.safe_dump(
            {
                "responses": [
                    {
                        "tool_calls": [
                            {
                                "name": "run_command",
                                "arguments": {"command": f"{command} >> {log}"},
                            }
                        ]
                    },
                    {"tool_calls": [{"name": "finish", "arguments": {"summary": "deployed"}}]},
                ]
            }
        )
    )
    return script


def _run_id(repo: Path) -> str:
    return json.loads(run_cli("runs", "--json", repo=repo).stdout)[0]["id"]


def _killed_demo(tmp_path: Path, crash: str) -> Path:
    """The demo's bugfix run, SIGKILLed at crash point ``crash``; its project folder."""
    demo = tmp_path / "demo"
    first = run_cli("demo", "--headless", "--dir", str(demo), "--autonomy", "full", crash=crash)
    assert first.returncode == -9, first.stdout + first.stderr
    return demo


def _check_store(repo: Path) -> None:
    with RunStore.open(repo, write=False) as store:
        assert store.integrity_check() == "ok"
        for cp in store.list_checkpoints():
            git(repo, "cat-file", "-e", cp["commit_sha"])


def test_a_done_command_does_not_run_again_after_a_crash_in_the_next_model_call(tmp_path):
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    log = effects_log(repo)
    script = _deploy_script(tmp_path, log)
    first = run_cli(
        "run",
        FLOW,
        "deploy it",
        "--model",
        f"scripted:{script}",
        "--autonomy",
        "full",
        repo=repo,
        crash="intent-llm:2",
    )
    assert first.returncode == -9, first.stdout + first.stderr
    assert log.read_text() == "deployed\n"
    second = run_cli("resume", _run_id(repo), repo=repo)
    assert second.returncode == 0, second.stdout + second.stderr
    assert log.read_text() == "deployed\n"  # once, not twice
    _check_store(repo)


def test_review_autonomy_approved_command_runs_once_across_a_crash(tmp_path):
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    log = effects_log(repo)
    # A command outside the allowlist, so review autonomy asks before it runs.
    script = _deploy_script(tmp_path, log, "python3 -c \"print('deployed')\"")
    first = run_cli(
        "run",
        FLOW,
        "deploy it",
        "--model",
        f"scripted:{script}",
        "--autonomy",
        "review",
        repo=repo,
    )
    assert first.returncode == 3 and "command" in first.stdout, first.stdout + first.stderr
    run_id = _run_id(repo)
    # the person approves the command; the process dies in the next model call
    second = run_cli("resume", run_id, "--approve", repo=repo, crash="intent-llm:1")
    assert second.returncode == -9, second.stdout + second.stderr
    assert log.read_text() == "deployed\n"
    third = run_cli("resume", run_id, repo=repo)
    assert third.returncode == 0, third.stdout + third.stderr
    assert log.read_text() == "deployed\n"
    _check_store(repo)


def test_recovery_keeps_the_persons_edits_made_while_the_run_was_dead(tmp_path):
    demo = _killed_demo(tmp_path, "intent-llm:3")
    readme = demo / "README.md"
    before = readme.read_text()
    readme.write_text(before + "a line the person added\n")
    (demo / "user_new.txt").write_text("mine\n")
    second = run_cli("resume", _run_id(demo), repo=demo)
    assert second.returncode == 0, second.stdout + second.stderr
    assert readme.read_text() == before + "a line the person added\n"
    assert (demo / "user_new.txt").read_text() == "mine\n"
    assert (demo / "tests" / "test_rounding.py").exists()  # the step's own work is there too
    _check_store(demo)


def test_recovery_removes_the_temp_file_of_a_write_killed_before_its_rename(tmp_path):
    # killed as the step's write_file of tests/test_rounding.py begins (intent recorded)
    demo = _killed_demo(tmp_path, "intent-tool:2")
    tests = demo / "tests"
    leftover = tests / ".test_rounding.py.0123abcd.llmflows-tmp"  # as atomic_write names it
    leftover.write_text("half a file\n")
    mine = [tests / ".test_rounding.py.notours.llmflows-tmp", tests / "notes.llmflows-tmp"]
    for p in mine:
        p.write_text("the person's\n")
    # the write's outcome is unknown: recovery asks first, with the leftover already gone
    second = run_cli("resume", _run_id(demo), repo=demo)
    assert second.returncode == 3, second.stdout + second.stderr
    assert not leftover.exists()
    assert all(p.read_text() == "the person's\n" for p in mine)
    third = run_cli("resume", _run_id(demo), "--approve", repo=demo)
    assert third.returncode == 0, third.stdout + third.stderr
    assert (tests / "test_rounding.py").exists()
    assert all(p.read_text() == "the person's\n" for p in mine)
    _check_store(demo)


def test_a_kill_right_after_a_model_answer_does_not_lose_its_cost(tmp_path, capsys):
    from engine.cli import main

    def cost(repo: Path) -> tuple[float, int]:
        with RunStore.open(repo, write=False) as store:
            c = store.run_cost(store.list_runs()[0]["id"])
        return c["cost_usd"], c["calls"]

    args = ["run", FLOW, "deploy it", "--autonomy", "full"]
    # Same-length paths: the prompt (and so the cost) of both runs is the same.
    plain = init_repo(tmp_path / "ra", {"README.md": "hi\n"})
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    script = _deploy_script(tmp_path / "a", effects_log(plain))
    assert main(["-C", str(plain), *args, "--model", f"scripted:{script}"]) == 0
    repo = init_repo(tmp_path / "rb", {"README.md": "hi\n"})
    script = _deploy_script(tmp_path / "b", effects_log(repo))
    first = run_cli(*args, "--model", f"scripted:{script}", repo=repo, crash="done-llm:1")
    assert first.returncode == -9, first.stdout + first.stderr
    assert main(["-C", str(repo), "resume", _run_id(repo)]) == 0
    capsys.readouterr()
    assert cost(repo) == cost(plain) and cost(repo)[1] == 2


def _writes_script(tmp_path: Path) -> Path:
    """The model writes a new file, edits a tracked one, then finishes."""

    def call(name: str, **args: str) -> dict:
        return {"tool_calls": [{"name": name, "arguments": args}]}

    script = tmp_path / "writes.script.yaml"
    script.write_text(
        yaml.safe_dump(
            {
                "responses": [
                    call("write_file", path="a.txt", content="A from the step\n"),
                    call("edit_file", path="src.txt", old="old\n", new="new from the step\n"),
                    call("finish", summary="written"),
                ]
            }
        )
    )
    return script


def _crashed_review_run(tmp_path: Path) -> Path:
    """A review-autonomy run killed in the model call after its write_file and edit_file."""
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n", "src.txt": "old\n"})
    script = _writes_script(tmp_path)
    first = run_cli(
        "run",
        FLOW,
        "write things",
        "--model",
        f"scripted:{script}",
        "--autonomy",
        "review",
        repo=repo,
        crash="intent-llm:3",
    )
    assert first.returncode == -9, first.stdout + first.stderr
    assert (repo / "a.txt").read_text() == "A from the step\n"
    assert (repo / "src.txt").read_text() == "new from the step\n"
    return repo


def _tool_effects(repo: Path, run_id: str) -> list[str]:
    with RunStore.open(repo, write=False) as store:
        return [
            e["request"]["name"]
            for e in store.effects_for_run(run_id)
            if e["kind"] == "tool" and e["status"] == "done"
        ]


def test_review_autonomy_done_writes_are_not_applied_again_after_a_crash(tmp_path):
    repo = _crashed_review_run(tmp_path)
    written = {p: (repo / p).stat().st_mtime_ns for p in ("a.txt", "src.txt")}
    # the person works while the run is dead, on files the step did not write
    (repo / "README.md").write_text("hi\nthe person's line\n")
    (repo / "user_new.txt").write_text("mine\n")
    run_id = _run_id(repo)
    second = run_cli("resume", run_id, repo=repo)
    # the step finishes from the journal; review autonomy shows it before going on
    assert second.returncode == 3 and "review" in second.stdout, second.stdout + second.stderr
    assert "recovering step 'work'" in second.stdout + second.stderr
    assert {p: (repo / p).stat().st_mtime_ns for p in written} == written  # not written again
    third = run_cli("resume", run_id, "--approve", repo=repo)
    assert third.returncode == 0, third.stdout + third.stderr
    assert (repo / "a.txt").read_text() == "A from the step\n"
    assert (repo / "src.txt").read_text() == "new from the step\n"
    assert (repo / "README.md").read_text() == "hi\nthe person's line\n"
    assert (repo / "user_new.txt").read_text() == "mine\n"
    assert sorted(_tool_effects(repo, run_id)) == ["edit_file", "write_file"]  # once each
    _check_store(repo)


def test_clash_gate_shows_the_steps_version_and_yours_and_keeps_yours(tmp_path):
    repo = _crashed_review_run(tmp_path)
    # the person rewrites both files the step wrote, then collects garbage
    (repo / "a.txt").write_text("A the person wrote\n")
    (repo / "src.txt").write_text("old\nthe person's own line\n")
    git(repo, "gc", "-q", "--prune=now")
    run_id = _run_id(repo)
    second = run_cli("resume", run_id, repo=repo)
    assert second.returncode == 3 and "crash gate" in second.stdout, second.stdout + second.stderr
    show = run_cli("show", run_id, repo=repo).stdout
    for text in (second.stdout, show):
        # both versions of both files, as a diff: - the step's, + the person's
        assert "--- a.txt  the step's version" in text and "+++ a.txt  yours" in text
        assert "-A from the step" in text and "+A the person wrote" in text
        assert "-new from the step" in text and "+the person's own line" in text
    third = run_cli("resume", run_id, "--approve", repo=repo)  # go on with the person's files
    assert third.returncode == 3 and "review" in third.stdout, third.stdout + third.stderr
    fourth = run_cli("resume", run_id, "--approve", repo=repo)
    assert fourth.returncode == 0, fourth.stdout + fourth.stderr
    assert (repo / "a.txt").read_text() == "A the person wrote\n"  # never written again
    assert (repo / "src.txt").read_text() == "old\nthe person's own line\n"
    assert sorted(_tool_effects(repo, run_id)) == ["edit_file", "write_file"]  # once each
    _check_store(repo)
