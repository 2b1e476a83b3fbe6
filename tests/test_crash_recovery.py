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
    demo = tmp_path / "demo"
    first = run_cli(
        "demo", "--headless", "--dir", str(demo), "--autonomy", "full", crash="intent-llm:3"
    )
    assert first.returncode == -9, first.stdout + first.stderr
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
