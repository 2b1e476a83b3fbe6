"""CheckpointService on real repositories: create, rewind, undo the rewind, diff, ordering."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.errors import CheckpointNotFoundError
from engine.git import snapshots
from engine.git.checkpoints import CheckpointService
from engine.store import RunStore
from tests.support.gitutil import git, user_git_state


@pytest.fixture
def svc(repo: Path):
    store = RunStore.open(repo)
    snap = snapshots.Snapshotter(repo)
    yield CheckpointService(repo, store, snap)
    snap.close()
    store.close()


def _worktree(repo: Path) -> dict[str, str]:
    """Every non-ignored file's content (the .git dir and our store excluded)."""
    out = {}
    for p in sorted(repo.rglob("*")):
        rel = p.relative_to(repo).as_posix()
        if p.is_file() and not rel.startswith((".git/", ".llmflows/")):
            out[rel] = p.read_text()
    return out


def _user_state(repo: Path) -> dict[str, object]:
    """What a rewind to a user checkpoint must round-trip: files, staged and unstaged diffs."""
    return {
        "files": _worktree(repo),
        "staged": git(repo, "diff", "--cached"),
        "unstaged": git(repo, "diff"),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
    }


def _make_dirty(repo: Path) -> None:
    (repo / "src" / "app.py").write_text("def add(a, b):\n    return a + b  # staged\n")
    git(repo, "add", "src/app.py")
    (repo / "src" / "app.py").write_text("def add(a, b):\n    return a + b  # unstaged\n")
    (repo / "notes.txt").write_text("untracked\n")
    (repo / "new_staged.py").write_text("x = 1\n")
    git(repo, "add", "new_staged.py")


def test_create_manual_checkpoint_records_git_then_row(svc: CheckpointService, repo: Path):
    _make_dirty(repo)
    before = user_git_state(repo)
    cp = svc.create(None, None, "manual", "before refactor", None)
    assert user_git_state(repo) == before  # HEAD, index, branches, stash, config untouched
    assert cp["source"] == "manual" and cp["run_id"] is None and cp["message"] == "before refactor"
    assert cp["ref"] == "refs/llmflows/manual/1" and cp["seq"] == 1
    assert git(repo, "rev-parse", cp["ref"]).strip() == cp["commit_sha"]
    assert git(repo, "rev-parse", f"{cp['commit_sha']}^{{tree}}").strip() == cp["tree_sha"]
    # 3 files differ from HEAD: app.py, notes.txt, new_staged.py.
    assert cp["files_changed"] == 3
    # Our own .llmflows/ directory is not "user work that was skipped".
    assert cp["partial"] is False and cp["skipped"] == []

    (repo / "notes.txt").write_text("changed\n")
    cp2 = svc.create(None, None, "manual", "second", {"cursor": "edit"})
    assert cp2["parent_id"] == cp["id"] and cp2["ref"] == "refs/llmflows/manual/2"
    assert cp2["files_changed"] == 1
    assert svc.store.get_blob(cp2["state_hash"]) == {"cursor": "edit"}
    assert [c["id"] for c in svc.list()] == [cp["id"], cp2["id"]]


def test_ignored_caches_never_make_a_checkpoint_partial(svc: CheckpointService, repo: Path):
    (repo / ".gitignore").write_text("*.log\n.pytest_cache/\n__pycache__/\n")
    (repo / "debug.log").write_text("noise\n")
    (repo / ".pytest_cache").mkdir()
    (repo / ".pytest_cache" / "v").write_text("cache\n")
    (repo / "src" / "__pycache__").mkdir()
    (repo / "src" / "__pycache__" / "app.pyc").write_bytes(b"\0pyc")
    cp = svc.create(None, None, "manual", "with ignored", None)
    assert cp["partial"] is False and cp["skipped"] == []
    # Only skipped user files (here a nested repository) make it partial.
    git((repo / "vendored").parent, "init", "-q", "vendored")
    (repo / "vendored" / "lib.py").write_text("x = 1\n")
    cp2 = svc.create(None, None, "manual", "with a nested repo", None)
    assert cp2["partial"] is True
    assert cp2["skipped"] == [{"path": "vendored", "reason": "nested_repo"}]


def _git_trace(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    # Every git process the engine starts logs its command line here.
    monkeypatch.setenv("GIT_TRACE", str(path))


def test_checkpoint_refs_are_not_listed_per_checkpoint(
    svc: CheckpointService, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    trace = tmp_path / "trace.log"
    _git_trace(monkeypatch, trace)
    run_id = svc.store.create_run("plan", "goal", "scripted:x", "review", {})
    for i in range(5):
        (repo / "notes.txt").write_text(f"step {i}\n")
        svc.create(run_id, None, "step", f"step {i}", None)
    commands = trace.read_text()
    assert "update-ref" in commands  # the trace does capture the engine's git calls
    assert "for-each-ref" not in commands
    refs = [c["ref"] for c in svc.list(run_id)]
    assert refs == [f"refs/llmflows/{run_id}/{n}" for n in range(1, 6)]


def test_taken_ref_is_skipped_never_overwritten(svc: CheckpointService, repo: Path):
    # Someone else (another worktree, a deleted store) already holds manual/1.
    other = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-ref", "refs/llmflows/manual/1", other)
    cp = svc.create(None, None, "manual", "mine", None)
    assert cp["ref"] == "refs/llmflows/manual/2" and cp["seq"] == 2
    assert git(repo, "rev-parse", "refs/llmflows/manual/1").strip() == other


def test_taken_ref_is_skipped_by_a_rewind_that_reuses_the_last_snapshot(
    svc: CheckpointService, repo: Path
):
    run_id = svc.store.create_run("plan", "goal", "scripted:x", "review", {})
    cp1 = svc.create(run_id, None, "step", "one", None)
    (repo / "README.md").write_text("# two\n")
    cp2 = svc.create(run_id, None, "step", "two", None)
    # the name the pre-restore checkpoint would get is someone else's
    taken = f"refs/llmflows/{run_id}/{cp2['seq'] + 1}"
    git(repo, "update-ref", taken, cp1["commit_sha"])
    pre = svc.get(svc.rewind(cp1["id"])["undo_checkpoint"])
    assert pre["commit_sha"] == cp2["commit_sha"]  # reused, under the next free name
    assert pre["ref"] == f"refs/llmflows/{run_id}/{cp2['seq'] + 2}"
    assert git(repo, "rev-parse", taken).strip() == cp1["commit_sha"]


def test_linked_worktrees_checkpoint_concurrently_without_losing_refs(repo: Path, tmp_path: Path):
    import threading

    wt = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "other", str(wt))
    services = []
    for root in (repo, wt):
        store = RunStore.open(root)
        services.append(CheckpointService(root, store, snapshots.Snapshotter(root)))
    made: list[dict] = []
    errors: list[BaseException] = []

    def take(svc: CheckpointService, n: int) -> None:
        try:
            (svc.repo_root / "work.txt").write_text(f"{svc.repo_root.name} {n}\n")
            made.append(svc.create(None, None, "manual", f"{svc.repo_root.name} {n}", None))
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    try:
        for n in range(20):
            threads = [threading.Thread(target=take, args=(s, n)) for s in services]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors, errors
            git(repo, "gc", "-q", "--prune=now")
    finally:
        for s in services:
            s.snapshotter.close()
            s.store.close()
    assert len(made) == 40
    assert len({c["ref"] for c in made}) == 40  # nobody overwrote anybody
    for c in made:
        # Every checkpoint survives gc and its ref still names its own commit.
        assert git(repo, "rev-parse", c["ref"]).strip() == c["commit_sha"]
        assert git(repo, "cat-file", "-t", c["tree_sha"]).strip() == "tree"


def test_rewind_restores_user_state_exactly_and_is_undoable(svc: CheckpointService, repo: Path):
    _make_dirty(repo)
    start_state = _user_state(repo)
    head_before = user_git_state(repo)["head_commit"]
    cp = svc.create(None, None, "manual", "my work", None)

    # Someone (an agent) makes a mess: edits, deletes, creates, stages.
    (repo / "README.md").write_text("# clobbered\n")
    (repo / "src" / "app.py").unlink()
    (repo / "junk.txt").write_text("junk\n")
    git(repo, "add", "-A")
    mess_state = _user_state(repo)

    result = svc.rewind(cp["id"])
    assert result["restored"] == cp["id"]
    assert result["restore_index"] is True  # manual checkpoint: staged state comes back too
    assert "junk.txt" in result["removed"]
    assert {"README.md", "src/app.py"} <= set(result["written"])
    assert _user_state(repo) == start_state
    assert user_git_state(repo)["head_commit"] == head_before

    undo = svc.get(result["undo_checkpoint"])
    assert undo["source"] == "pre-restore" and undo["run_id"] is None

    # Undo the rewind: back to the mess, exactly.
    result2 = svc.rewind(result["undo_checkpoint"])
    assert _user_state(repo) == mess_state
    # ... and undo the undo.
    svc.rewind(result2["undo_checkpoint"])
    assert _user_state(repo) == start_state


def test_rewind_to_run_step_checkpoint_keeps_the_index(svc: CheckpointService, repo: Path):
    store = svc.store
    git(repo, "rm", "-q", "--cached", "README.md")  # the user's staged change
    staged = git(repo, "diff", "--cached")
    rid = store.create_run("feature", "goal", "m", "review", {})
    c0 = svc.create(rid, None, "start", "checkpoint 0", {"cursor": "start"})
    store.update_run(rid, head_checkpoint_id=c0["id"])
    assert c0["ref"] == f"refs/llmflows/{rid}/1"

    sid = store.create_step(rid, "edit", "agent", 1, None, None, c0["id"])
    (repo / "src" / "app.py").write_text("def add(a, b):\n    return b + a\n")
    (repo / "src" / "extra.py").write_text("y = 2\n")
    c1 = svc.create(rid, sid, "step", "edit done", {"cursor": "test"}, parent_id=c0["id"])
    store.update_run(rid, head_checkpoint_id=c1["id"])
    assert c1["parent_id"] == c0["id"] and c1["files_changed"] == 2

    (repo / "src" / "app.py").write_text("broken\n")
    result = svc.rewind(c1["id"])
    assert result["restore_index"] is False
    assert (repo / "src" / "app.py").read_text() == "def add(a, b):\n    return b + a\n"
    assert git(repo, "diff", "--cached") == staged  # index untouched
    pre = svc.get(result["undo_checkpoint"])
    assert pre["run_id"] == rid and pre["source"] == "pre-restore"
    assert pre["parent_id"] == c1["id"]
    assert pre["state_hash"] == c1["state_hash"]  # undo target has resumable state
    assert store.get_run(rid)["head_checkpoint_id"] == c1["id"]

    # Rewinding to checkpoint 0 (a "start" checkpoint) forks the run from there.
    svc.rewind(c0["id"])
    assert not (repo / "src" / "extra.py").exists()
    assert store.get_run(rid)["head_checkpoint_id"] == c0["id"]
    c2 = svc.create(rid, None, "step", "fork", None)
    assert c2["parent_id"] == c0["id"]


def test_rewind_unknown_checkpoint(svc: CheckpointService):
    with pytest.raises(CheckpointNotFoundError):
        svc.rewind(404)
    with pytest.raises(CheckpointNotFoundError):
        svc.diff(404)


def test_failed_snapshot_writes_no_row(svc: CheckpointService, monkeypatch):
    svc.create(None, None, "manual", "ok", None)

    def fail(*a, **kw):
        raise RuntimeError("git exploded")

    monkeypatch.setattr(svc.snapshotter, "snapshot", fail)
    with pytest.raises(RuntimeError):
        svc.create(None, None, "manual", "doomed", {"s": 1})
    assert len(svc.list()) == 1
    assert svc.store.db["blobs"].count == 0


def test_existing_ref_is_never_overwritten(svc: CheckpointService, repo: Path):
    # A ref left by an earlier store (e.g. history.db deleted) keeps its objects.
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-ref", "refs/llmflows/manual/1", head)
    cp = svc.create(None, None, "manual", "m", None)
    assert cp["ref"] == "refs/llmflows/manual/2"
    assert git(repo, "rev-parse", "refs/llmflows/manual/1").strip() == head


def test_diff_between_checkpoints_and_to_live_tree(svc: CheckpointService, repo: Path):
    a = svc.create(None, None, "manual", "a", None)
    (repo / "README.md").write_text("# demo\nmore\n")
    b = svc.create(None, None, "manual", "b", None)
    d = svc.diff(a["id"], b["id"])
    assert [f.path for f in d.files] == ["README.md"]
    assert d.additions == 1
    (repo / "new.txt").write_text("n\n")
    live = svc.diff(b["id"])
    assert [f.path for f in live.files] == ["new.txt"]


def test_same_size_edit_in_the_same_instant_as_the_index_is_captured(
    svc: CheckpointService, repo: Path
):
    # "Racy git": a file rewritten with the same size and the same mtime as the
    # index must still be seen as modified (the snapshot must not trust stat data
    # the copied index cannot vouch for).
    index = repo / ".git" / "index"
    readme = repo / "README.md"
    readme.write_text("# DEMO\n")  # same size as "# demo\n"
    st = index.stat()
    os.utime(readme, ns=(st.st_atime_ns, st.st_mtime_ns))
    cp = svc.create(None, None, "manual", "racy", None)
    assert git(repo, "show", f"{cp['commit_sha']}:README.md") == "# DEMO\n"


def _traced(trace: Path, fn):
    trace.write_text("")
    result = fn()
    return result, trace.read_text()


def test_rewind_reuses_the_live_snapshot_when_nothing_changed(
    svc: CheckpointService, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    run_id = svc.store.create_run("plan", "goal", "scripted:x", "review", {})
    cp1 = svc.create(run_id, None, "step", "one", {"n": 1})
    (repo / "README.md").write_text("# step two\n")
    (repo / "new.txt").write_text("new\n")
    cp2 = svc.create(run_id, None, "step", "two", {"n": 2})
    trace = tmp_path / "trace.log"
    _git_trace(monkeypatch, trace)
    result, commands = _traced(trace, lambda: svc.rewind(cp1["id"]))
    pre = svc.get(result["undo_checkpoint"])
    # Nothing changed since step two's snapshot: same commit, a ref of its own, no hashing.
    assert pre["commit_sha"] == cp2["commit_sha"] and pre["ref"] != cp2["ref"]
    assert git(repo, "rev-parse", pre["ref"]).strip() == cp2["commit_sha"]
    assert "write-tree" not in commands and "commit-tree" not in commands
    assert not (repo / "new.txt").exists()
    # Undo right away: the restored tree is the reference now, again nothing to hash.
    undo, commands = _traced(trace, lambda: svc.rewind(pre["id"]))
    assert "commit-tree" not in commands
    assert "diff-tree" not in commands  # the way back is the first diff, reversed
    assert svc.get(undo["undo_checkpoint"])["commit_sha"] == cp1["commit_sha"]
    assert (repo / "README.md").read_text() == "# step two\n"
    assert (repo / "new.txt").read_text() == "new\n"


@pytest.mark.parametrize("change", ["edit", "untracked", "chmod", "chmod_dir", "index"])
def test_rewind_takes_a_real_snapshot_after_any_change(
    svc: CheckpointService, repo: Path, change: str
):
    run_id = svc.store.create_run("plan", "goal", "scripted:x", "review", {})
    cp1 = svc.create(run_id, None, "step", "one", {"n": 1})
    (repo / "README.md").write_text("# step two\n")
    cp2 = svc.create(run_id, None, "step", "two", {"n": 2})
    app = repo / "src" / "app.py"
    if change == "edit":
        app.write_text("edited after the step\n")
    elif change == "untracked":
        (repo / "scratch.txt").write_text("mine\n")
    elif change == "chmod":
        app.chmod(0o600)
    elif change == "chmod_dir":
        app.parent.chmod(0o700)
    else:
        git(repo, "add", "README.md")
    before = _worktree(repo)
    mode, dir_mode = os.stat(app).st_mode & 0o777, os.stat(app.parent).st_mode & 0o777
    result = svc.rewind(cp1["id"])
    pre = svc.get(result["undo_checkpoint"])
    assert pre["commit_sha"] != cp2["commit_sha"]  # the change is in the saved tree
    # the name tried for a reuse was given back: refs and rows match one to one
    listed = git(repo, "for-each-ref", "--format=%(refname)", f"refs/llmflows/{run_id}/").split()
    assert sorted(listed) == sorted(c["ref"] for c in svc.list(run_id))
    svc.rewind(pre["id"])
    assert _worktree(repo) == before
    assert os.stat(app).st_mode & 0o777 == mode
    assert os.stat(app.parent).st_mode & 0o777 == dir_mode


def _manifest_of(repo: Path, commit: str) -> dict[str, int]:
    return snapshots.parse_modes(git(repo, "log", "-1", "--format=%B", commit))


def test_rewind_corrects_the_reused_snapshot_when_an_untouched_file_was_chmod_ed(
    svc: CheckpointService, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # The rewind only rewrites README.md; src/app.py's bits are read while it runs.
    run_id = svc.store.create_run("plan", "goal", "scripted:x", "review", {})
    cp1 = svc.create(run_id, None, "step", "one", {"n": 1})
    (repo / "README.md").write_text("# step two\n")
    cp2 = svc.create(run_id, None, "step", "two", {"n": 2})
    app = repo / "src" / "app.py"
    app.chmod(0o600)
    trace = tmp_path / "trace.log"
    _git_trace(monkeypatch, trace)
    result, commands = _traced(trace, lambda: svc.rewind(cp1["id"]))
    pre = svc.get(result["undo_checkpoint"])
    # Same tree, nothing re-hashed, but a commit of its own that records the new bits,
    # and the pre-restore ref follows it.
    assert "write-tree" not in commands
    assert pre["tree_sha"] == cp2["tree_sha"] and pre["commit_sha"] != cp2["commit_sha"]
    assert _manifest_of(repo, pre["commit_sha"])["src/app.py"] == 0o600
    assert git(repo, "rev-parse", pre["ref"]).strip() == pre["commit_sha"]
    assert os.stat(app).st_mode & 0o777 == 0o644  # step one's bits
    svc.rewind(pre["id"])
    assert os.stat(app).st_mode & 0o777 == 0o600


def test_rewind_takes_a_real_snapshot_when_a_file_it_rewrites_was_chmod_ed(
    svc: CheckpointService, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    run_id = svc.store.create_run("plan", "goal", "scripted:x", "review", {})
    cp1 = svc.create(run_id, None, "step", "one", {"n": 1})
    readme = repo / "README.md"
    readme.write_text("# step two\n")
    cp2 = svc.create(run_id, None, "step", "two", {"n": 2})
    readme.chmod(0o600)  # its bits must be read before the rewind overwrites it
    trace = tmp_path / "trace.log"
    _git_trace(monkeypatch, trace)
    result, commands = _traced(trace, lambda: svc.rewind(cp1["id"]))
    pre = svc.get(result["undo_checkpoint"])
    assert "write-tree" in commands  # found before the restore: a real snapshot
    assert _manifest_of(repo, pre["commit_sha"])["README.md"] == 0o600
    assert pre["commit_sha"] != cp2["commit_sha"]
    svc.rewind(pre["id"])
    assert readme.read_text() == "# step two\n" and os.stat(readme).st_mode & 0o777 == 0o600


def test_a_failed_rewind_still_corrects_the_reused_snapshot_s_bits(
    svc: CheckpointService, repo: Path, monkeypatch: pytest.MonkeyPatch
):
    run_id = svc.store.create_run("plan", "goal", "scripted:x", "review", {})
    cp1 = svc.create(run_id, None, "step", "one", {"n": 1})
    (repo / "README.md").write_text("# step two\n")
    cp2 = svc.create(run_id, None, "step", "two", {"n": 2})
    (repo / "src" / "app.py").chmod(0o600)
    real_git = snapshots.Snapshotter._git

    def failing(self, *args, **kwargs):
        if args[:2] == ("read-tree", "-m"):
            raise snapshots.GitCommandError(["git", *args], 128, "simulated failure")
        return real_git(self, *args, **kwargs)

    monkeypatch.setattr(snapshots.Snapshotter, "_git", failing)
    with pytest.raises(snapshots.GitCommandError) as failed:
        svc.rewind(cp1["id"])
    undo_id = max(c["id"] for c in svc.list(run_id))
    assert f"saved as checkpoint {undo_id}" in "".join(failed.value.__notes__)
    pre = svc.get(undo_id)
    assert pre["tree_sha"] == cp2["tree_sha"] and pre["commit_sha"] != cp2["commit_sha"]
    assert _manifest_of(repo, pre["commit_sha"])["src/app.py"] == 0o600
    assert git(repo, "rev-parse", pre["ref"]).strip() == pre["commit_sha"]
