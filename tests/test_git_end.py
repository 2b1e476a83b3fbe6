"""Git at the end, only when asked: --commit / --branch / `commit` (the person's identity,
Co-authored-by the model, only the run's files), `gc` (pinned runs kept, space freed, the
user's refs untouched), `run --worktree` (a real git worktree with its own store, listed
by `runs` of the main checkout). All through main(argv) in-process with real repos."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml

from engine.cli import main
from tests.support.gitutil import git, init_repo, user_git_state

FLOW = """\
name: one
description: one edit and a summary
nodes:
  - id: edit
    kind: agent
    tools: [write_file, finish]
    prompt: "Write the file"
    next: summary
  - id: summary
    kind: llm
    prompt: "Summarize"
    next: end
"""


def _script(path: Path, name: str, content: str) -> str:
    responses = [
        {
            "node": "edit",
            "tool_calls": [{"name": "write_file", "arguments": {"path": name, "content": content}}],
        },
        {"node": "edit", "tool_calls": [{"name": "finish", "arguments": {"summary": "ok"}}]},
        {"node": "summary", "text": f"Add {name}\n\nWrites {content.strip()} to {name}."},
    ]
    path.write_text(yaml.safe_dump({"responses": responses}))
    return f"scripted:{path}"


@pytest.fixture
def setup(tmp_path: Path):
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n", "notes.txt": "mine\n"})
    flow = tmp_path / "one.yaml"
    flow.write_text(FLOW)
    return repo, flow


def _run(repo, flow, model, *extra) -> int:
    return main(
        [
            "-C",
            str(repo),
            "--model",
            model,
            "run",
            str(flow),
            "add a file",
            "--autonomy",
            "full",
            *extra,
        ]
    )


def test_commit_on_current_branch_only_the_runs_files(setup, tmp_path, capsys):
    repo, flow = setup
    (repo / "notes.txt").write_text("my own unfinished work\n")  # not the run's: stays out
    git(repo, "add", "notes.txt")
    model = _script(tmp_path / "s.yaml", "new.txt", "v1\n")
    assert _run(repo, flow, model, "--commit", "--output-format", "json") == 0
    res = json.loads(capsys.readouterr().out)
    assert res["commit"]["branch"] == "main"
    log = git(repo, "log", "-1", "--format=%an <%ae>%n%B")
    assert log.startswith("Test User <test@example.invalid>\nAdd new.txt\n")
    assert f"Co-authored-by: {model} <llmflows-tui@users.noreply.invalid>" in log
    assert f"llmflows-tui run {res['run_id']}" in log
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["new.txt"]
    # the person's staged work is still staged and not committed
    assert git(repo, "diff", "--cached", "--name-only").split() == ["notes.txt"]
    assert (repo / "notes.txt").read_text() == "my own unfinished work\n"


def test_branch_and_later_commit_verb(setup, tmp_path, capsys):
    repo, flow = setup
    assert (
        _run(repo, flow, _script(tmp_path / "a.yaml", "a.txt", "a\n"), "--branch", "feature/a") == 0
    )
    assert "committed" in capsys.readouterr().out
    assert git(repo, "branch", "--show-current").strip() == "feature/a"
    assert git(repo, "log", "-1", "--format=%s", "main").strip() == "initial"
    # a run completed without --commit can be committed afterwards; a second time says no
    assert _run(repo, flow, _script(tmp_path / "b.yaml", "b.txt", "b\n")) == 0
    capsys.readouterr()
    assert main(["-C", str(repo), "commit"]) == 0
    assert "Add b.txt" in capsys.readouterr().out
    assert main(["-C", str(repo), "commit", "--branch", "feature/a"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_commit_refuses_a_tree_that_drifted(setup, tmp_path, capsys):
    repo, flow = setup
    assert _run(repo, flow, _script(tmp_path / "s.yaml", "new.txt", "v1\n")) == 0
    (repo / "new.txt").write_text("edited after the run\n")
    head = git(repo, "rev-parse", "HEAD")
    assert main(["-C", str(repo), "commit"]) == 2
    assert "no longer matches" in capsys.readouterr().err
    assert git(repo, "rev-parse", "HEAD") == head


def test_gc_keeps_pinned_and_recent_runs_and_frees_objects(setup, tmp_path, capsys):
    repo, flow = setup
    ids = []
    for i in range(3):
        big = "".join(f"line {i} {n}\n" for n in range(3000))
        assert (
            _run(
                repo,
                flow,
                _script(tmp_path / f"s{i}.yaml", f"f{i}.txt", big),
                "--output-format",
                "json",
            )
            == 0
        )
        ids.append(json.loads(capsys.readouterr().out)["run_id"])
    assert main(["-C", str(repo), "pin", ids[0]]) == 0
    before = user_git_state(repo)
    assert main(["-C", str(repo), "gc", "--keep-last", "1", "--dry-run"]) == 0
    assert "would collect 1 run(s)" in capsys.readouterr().out
    assert main(["-C", str(repo), "gc", "--keep-last", "1", "--grace-seconds", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["runs"] == [ids[1]] and report["kept_pinned"] == [ids[0]]
    assert report["refs"] >= 3 and report["objects"] > 0 and report["bytes_freed"] > 0
    assert git(repo, "for-each-ref", f"refs/llmflows/{ids[1]}/") == ""
    assert git(repo, "for-each-ref", f"refs/llmflows/{ids[0]}/") != ""
    assert user_git_state(repo) == before
    git(repo, "fsck", "--connectivity-only", "--no-dangling")  # all reachable objects exist
    assert main(["-C", str(repo), "runs", "--json"]) == 0
    assert {r["id"] for r in json.loads(capsys.readouterr().out)} == {ids[0], ids[2]}
    assert main(["-C", str(repo), "show", ids[2]]) == 0  # kept runs still whole
    capsys.readouterr()
    assert main(["-C", str(repo), "diff", "1"]) in (0, 2)


def test_worktree_runs_in_parallel_with_their_own_store(setup, tmp_path, capsys):
    repo, flow = setup
    models = [_script(tmp_path / f"w{i}.yaml", f"w{i}.txt", f"{i}\n") for i in range(2)]
    codes: list[int] = []

    def go(i: int) -> None:
        codes.append(_run(repo, flow, models[i], "--worktree", f"wt{i}", "--output-format", "json"))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    capsys.readouterr()
    assert codes == [0, 0]
    trees = git(repo, "worktree", "list", "--porcelain")
    for i in range(2):
        wt = repo / ".llmflows" / "worktrees" / f"wt{i}"
        assert f"worktree {wt}" in trees
        assert (wt / f"w{i}.txt").read_text() == f"{i}\n"
        assert (wt / ".llmflows" / "history.db").is_file()
        assert not (repo / f"w{i}.txt").exists()  # the main checkout is untouched
    assert git(repo, "status", "--porcelain") == ""  # .llmflows/ is excluded
    assert main(["-C", str(repo), "runs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(Path(r["worktree"]).name for r in rows) == ["wt0", "wt1"]
    assert main(["-C", str(repo), "runs"]) == 0
    assert "[worktree" in capsys.readouterr().out


def test_history_screen_lists_worktree_runs(setup, tmp_path, capsys):
    import asyncio

    from tests.test_tui_app import wait_for
    from tui.app import LlmflowsApp
    from tui.screens.history import HistoryScreen

    repo, flow = setup
    assert _run(repo, flow, _script(tmp_path / "w.yaml", "w.txt", "w\n"), "--worktree", "side") == 0
    assert _run(repo, flow, _script(tmp_path / "m.yaml", "m.txt", "m\n")) == 0
    capsys.readouterr()

    async def history_rows() -> list:
        app = LlmflowsApp(str(repo))
        async with app.run_test(size=(140, 40)) as pilot:
            await wait_for(pilot, lambda: app.repo_root is not None)
            app.push_screen(HistoryScreen())
            await wait_for(pilot, lambda: len(getattr(app.screen, "rows", [])) == 2)
            return list(app.screen.rows)

    rows = asyncio.run(history_rows())
    assert sorted(str(r.worktree and Path(r.worktree).name) for r in rows) == ["None", "side"]


def _refs(repo: Path, run_id: str, kind: str | None = None) -> list[str]:
    """Objects the run's refs point at (only those of type ``kind`` if given)."""
    out = git(
        repo, "for-each-ref", "--format=%(objectname) %(objecttype)", f"refs/llmflows/{run_id}/"
    )
    pairs = [line.split() for line in out.splitlines() if line]
    return [sha for sha, t in pairs if kind is None or t == kind]


def _exists(repo: Path, sha: str) -> bool:
    return git(repo, "cat-file", "-t", sha, check=False).strip() != ""


def test_gc_frees_a_run_that_a_kept_follow_up_continues(setup, tmp_path, capsys):
    repo, flow = setup
    model = _script(tmp_path / "a.yaml", "a.txt", "v1\n")
    assert _run(repo, flow, model, "--output-format", "json") == 0
    old = json.loads(capsys.readouterr().out)["run_id"]
    c = ["-C", str(repo), "--model", _script(tmp_path / "b.yaml", "b.txt", "v2\n")]
    assert (
        main([*c, "run", "--continue", "add b", "--autonomy", "full", "--output-format", "json"])
        == 0
    )
    new = json.loads(capsys.readouterr().out)
    # its checkpoints (its other refs keep blobs a write made, which the follow-up's
    # tree shares: those stay)
    old_commits = _refs(repo, old, "commit")
    assert old_commits and all(_exists(repo, sha) for sha in old_commits)
    gc = ["-C", str(repo), "gc", "--keep-last", "1", "--grace-seconds", "0", "--json"]
    assert main([*gc, "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert _refs(repo, old, "commit") == old_commits
    assert all(_exists(repo, sha) for sha in old_commits)
    assert main(gc) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["runs"] == [old] and report["kept_linked"] == {}
    # the dry run said exactly what would go
    assert (dry["runs"], dry["objects"], dry["bytes_freed"]) == (
        report["runs"],
        report["objects"],
        report["bytes_freed"],
    )
    assert report["objects"] >= len(old_commits) and report["bytes_freed"] > 0
    assert _refs(repo, old) == [] and not any(_exists(repo, sha) for sha in old_commits)
    git(repo, "fsck", "--connectivity-only", "--no-dangling")  # what stays is whole
    # the follow-up still works: show, diff from its start, rewind to its start and back
    start, final = new["start_checkpoint_id"], new["final_checkpoint_id"]
    assert main(["-C", str(repo), "show", new["run_id"]]) == 0
    capsys.readouterr()
    assert main(["-C", str(repo), "diff", str(start), str(final), "--json"]) == 0
    assert [f["path"] for f in json.loads(capsys.readouterr().out)["files"]] == ["b.txt"]
    assert main(["-C", str(repo), "rewind", str(start)]) == 0
    assert (repo / "a.txt").read_text() == "v1\n" and not (repo / "b.txt").exists()
    assert main(["-C", str(repo), "rewind", str(final)]) == 0
    assert (repo / "b.txt").read_text() == "v2\n"


def test_gc_names_the_kept_run_whose_history_holds_a_collected_one(setup, tmp_path, capsys):
    from engine.run import operations as ops
    from engine.run.session import Session

    repo, flow = setup
    assert (
        _run(repo, flow, _script(tmp_path / "a.yaml", "a.txt", "v1\n"), "--output-format", "json")
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    with Session.open(str(repo)) as s:  # a fork's history runs through the forked run
        fork = ops.fork(s, res["final_checkpoint_id"])
    base = git(repo, "rev-parse", f"{_refs(repo, fork)[0]}^1").strip()  # the forked checkpoint
    assert base in _refs(repo, res["run_id"])
    gc = ["-C", str(repo), "gc", "--keep-last", "1", "--grace-seconds", "0"]
    assert main([*gc, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"run {res['run_id']}: would be forgotten, but its checkpoint objects stay" in out
    assert main(gc) == 0
    out = capsys.readouterr().out
    assert f"run {res['run_id']}: forgotten, but its checkpoint objects stay" in out
    assert f"git history of kept run(s) {fork}" in out
    assert _refs(repo, res["run_id"]) == [] and _exists(repo, base)
    git(repo, "fsck", "--connectivity-only", "--no-dangling")
    assert main(["-C", str(repo), "show", fork]) == 0
