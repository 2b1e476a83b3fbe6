"""The store and refs under attack (issue #15, point 4; issue #16, point 8).

Refs deleted and garbage-collected, the history database deleted or corrupted,
the person committing / switching / stashing / resetting while a run is paused:
each ends with a clear message and an exit code, never a traceback, never a
silently wrong tree. All in-process through the CLI's ``main``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.cli import main
from tests.support.gitutil import git, init_repo

FLOW = str(Path(__file__).parent / "flows" / "deploy.yaml")


def _cli(capsys, repo: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["-C", str(repo), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def paused(tmp_path, capsys):
    """A run paused at the review gate of a step that rewrote the tracked a.txt."""
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n", "a.txt": "old\n"})
    git(repo, "config", "user.email", "p@example.com")
    git(repo, "config", "user.name", "P")
    script = tmp_path / "s.yaml"
    script.write_text(
        yaml.safe_dump(
            {
                "responses": [
                    {
                        "tool_calls": [
                            {"name": "write_file", "arguments": {"path": "a.txt", "content": "A\n"}}
                        ]
                    },
                    {"tool_calls": [{"name": "finish", "arguments": {"summary": "ok"}}]},
                ]
            }
        )
    )
    code, out, err = _cli(capsys, repo, "run", FLOW, "write a", "--model", f"scripted:{script}")
    assert code == 3 and "review" in out, out + err
    run_id = json.loads(_cli(capsys, repo, "runs", "--json")[1])[0]["id"]
    return repo, run_id


def test_refs_deleted_and_gc_then_approve_or_reject_is_a_clear_error(paused, capsys):
    repo, run_id = paused
    for ref in git(repo, "for-each-ref", "--format=%(refname)", "refs/llmflows").split():
        git(repo, "update-ref", "-d", ref)
    (repo / "a.txt").write_text("A but edited\n")  # so the reject has something to undo
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    code, out, err = _cli(capsys, repo, "resume", run_id, "--reject", "no")
    assert code == 2 and "missing" in err and "Traceback" not in err, out + err
    assert (repo / "a.txt").read_text() == "A but edited\n"  # nothing touched
    code, out, err = _cli(capsys, repo, "resume", run_id, "--approve")
    assert code == 2 and "missing" in err, out + err
    assert (repo / "a.txt").read_text() == "A but edited\n"


def test_history_deleted_is_a_clear_error(paused, capsys):
    repo, run_id = paused
    (repo / ".llmflows" / "history.db").unlink()
    code, out, err = _cli(capsys, repo, "resume", run_id)
    assert code == 2 and run_id in err, out + err
    assert (repo / "a.txt").read_text() == "A\n"


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_history_is_a_clear_error_for_every_verb(paused, capsys, damage):
    repo, run_id = paused
    db = repo / ".llmflows" / "history.db"
    for extra in ("-wal", "-shm"):
        Path(str(db) + extra).unlink(missing_ok=True)
    if damage == "garbage":
        db.write_bytes(b"this is not a database\n" * 100)
    else:
        db.write_bytes(db.read_bytes()[:3000])
    for verb in (["runs"], ["show", run_id], ["resume", run_id], ["checkpoints"]):
        code, out, err = _cli(capsys, repo, *verb)
        assert code == 2, (verb, out, err)
        assert "history.db" in err and "move it aside" in err, (verb, err)
    # verbs that need no history still work
    code, out, err = _cli(capsys, repo, "flows", "check", FLOW)
    assert code == 0, out + err


def test_commit_while_paused_goes_on_and_rewinding_to_the_start_says_so(paused, capsys):
    repo, run_id = paused
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "the person commits the agent's file")
    code, out, err = _cli(capsys, repo, "resume", run_id, "--approve")
    assert code == 0, out + err
    assert (repo / "a.txt").read_text() == "A\n"
    head = git(repo, "rev-parse", "HEAD")
    cps = json.loads(_cli(capsys, repo, "show", run_id, "--json")[1])["checkpoints"]
    start = min(cp["id"] for cp in cps)
    code, out, err = _cli(capsys, repo, "rewind", str(start))
    assert code == 0, out + err
    assert "committed" in out + err and "HEAD" in out + err  # said, not silent
    assert git(repo, "rev-parse", "HEAD") == head


@pytest.mark.parametrize(
    "move",
    [
        ["switch", "-q", "-c", "other"],
        ["stash", "-q", "-u"],
        ["reset", "-q", "--hard"],
    ],
    ids=["switch", "stash", "reset"],
)
def test_moving_the_tree_under_a_paused_run_is_refused_with_a_way_out(paused, capsys, move):
    repo, run_id = paused
    if move[0] == "switch":
        git(repo, "switch", "-q", "-c", "other")
        (repo / "README.md").write_text("other branch\n")
        git(repo, "commit", "-qam", "on other")
    else:
        git(repo, *move)
    before = {p: p.read_bytes() for p in repo.glob("*") if p.is_file()}
    code, out, err = _cli(capsys, repo, "resume", run_id, "--approve")
    assert code == 2 and "while the run was paused" in err, out + err
    assert "rewind" in err
    assert {p: p.read_bytes() for p in repo.glob("*") if p.is_file()} == before  # untouched


def _deploy_script(tmp_path: Path) -> Path:
    script = tmp_path / "ok.yaml"
    script.write_text(
        yaml.safe_dump(
            {"responses": [{"tool_calls": [{"name": "finish", "arguments": {"summary": "ok"}}]}]}
        )
    )
    return script


@pytest.mark.parametrize(
    "case",
    ["merge", "rebase", "policy", "nan", "timeout", "scripted-dir"],
)
def test_bad_start_is_refused_before_a_run_exists(tmp_path, capsys, case):
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    git(repo, "config", "user.email", "p@example.com")
    git(repo, "config", "user.name", "P")
    model = f"scripted:{_deploy_script(tmp_path)}"
    extra: list[str] = []
    gitdir = repo / ".git"
    if case == "merge":
        (gitdir / "MERGE_HEAD").write_text(git(repo, "rev-parse", "HEAD"))
    elif case == "rebase":
        (gitdir / "rebase-merge").mkdir()
    elif case == "policy":
        (repo / ".llmflows").mkdir()
        (repo / ".llmflows" / "config.toml").write_text('[policy]\nallow = [1, ""]\n')
    elif case == "nan":
        extra = ["--max-cost", "nan"]
    elif case == "timeout":
        (repo / ".llmflows").mkdir()
        (repo / ".llmflows" / "config.toml").write_text("[model]\ntimeout_s = -5\n")
    else:
        model = f"scripted:{tmp_path}"
    code, out, err = _cli(capsys, repo, "run", FLOW, "do it", "--model", model, *extra)
    assert code == 2, out + err
    assert err.count("\n") == 1 and "Traceback" not in err, err  # one clear line
    code, out, err = _cli(capsys, repo, "runs", "--json")
    assert json.loads(out) == []  # nothing half-made
