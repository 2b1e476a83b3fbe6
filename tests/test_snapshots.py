"""Snapshotter on real temp git repos: capture, restore, and never touching user state."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine.errors import GitCommandError, SnapshotError
from engine.git.snapshots import Snapshotter
from tests.support.gitutil import git, init_repo, user_git_state


def tree_state(root: Path) -> dict[str, tuple[str, object]]:
    """Every non-.git path -> (kind, content/mode) for exact comparisons."""
    out: dict[str, tuple[str, object]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if ".git" in dirnames:
            dirnames.remove(".git")
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            else:
                mode = os.stat(p).st_mode
                out[rel] = ("file", (Path(p).read_bytes(), bool(mode & stat.S_IXUSR)))
    return out


def ls_tree(root: Path, tree: str) -> dict[str, str]:
    out = git(root, "-c", "core.quotepath=false", "ls-tree", "-r", tree)
    res = {}
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        res[path] = meta.split()[0]
    return res


@pytest.fixture
def snap(repo: Path):
    s = Snapshotter(repo)
    yield s
    s.close()


def test_snapshot_captures_tracked_untracked_and_leaves_user_state(repo: Path, snap: Snapshotter):
    (repo / "README.md").write_text("# changed\n")
    (repo / "new file é.txt").write_text("untracked\n")
    before = user_git_state(repo)
    s = snap.snapshot("refs/llmflows/r1/0", "checkpoint 0")
    assert user_git_state(repo) == before
    files = ls_tree(repo, s.tree)
    assert set(files) == {"README.md", "src/app.py", "new file é.txt"}
    assert git(repo, "show", f"{s.commit}:README.md") == "# changed\n"
    assert git(repo, "rev-parse", "refs/llmflows/r1/0").strip() == s.commit
    assert git(repo, "rev-parse", f"{s.commit}^{{tree}}").strip() == s.tree
    # author/committer are ours, whatever the user's config says
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", s.commit).strip() == (
        "llmflows <llmflows@localhost>|llmflows <llmflows@localhost>"
    )
    assert not s.partial
    # nothing staged by the user: the recorded index tree is HEAD's tree
    assert s.index_tree == git(repo, "rev-parse", "HEAD^{tree}").strip()


def test_snapshot_parent_chain_and_load(repo: Path, snap: Snapshotter):
    a = snap.snapshot("refs/llmflows/r1/0", "first")
    (repo / "x").write_text("x\n")
    b = snap.snapshot("refs/llmflows/r1/1", "second", parent_commit=a.commit)
    assert git(repo, "rev-parse", f"{b.commit}^1").strip() == a.commit
    loaded = snap.load("refs/llmflows/r1/1")
    assert loaded.commit == b.commit and loaded.tree == b.tree
    assert loaded.index_tree == b.index_tree
    assert loaded.message.startswith("second\n")


def test_dirty_state_round_trips_exactly_with_restore_index(repo: Path, snap: Snapshotter):
    # staged + unstaged on the same file, staged-only, unstaged-only, untracked
    (repo / "README.md").write_text("# staged\n")
    git(repo, "add", "README.md")
    (repo / "README.md").write_text("# staged\n# and unstaged\n")
    (repo / "src/app.py").write_text("changed but not staged\n")
    (repo / "staged_new.txt").write_text("new, staged\n")
    git(repo, "add", "staged_new.txt")
    (repo / "untracked.txt").write_text("untracked\n")
    state0 = tree_state(repo)
    status0 = git(repo, "status", "--porcelain")
    diff_cached0 = git(repo, "diff", "--cached")
    cp0 = snap.snapshot("refs/llmflows/r1/0", "start")
    assert user_git_state(repo)["index"] is not None

    # the agent works: modifies, deletes, adds, even stages something
    (repo / "README.md").write_text("agent\n")
    (repo / "src/app.py").unlink()
    (repo / "agent.py").write_text("print(1)\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "agent commit")
    pre = snap.snapshot("refs/llmflows/r1/1", "pre-restore", parent_commit=cp0.commit)
    r = snap.restore(cp0.commit, restore_index=True, current=pre)
    assert r.index_restored
    assert tree_state(repo) == state0
    # HEAD moved (the user's/agent's commit is not undone) but the staged state is exact
    assert git(repo, "diff", "--cached", "HEAD~1") == diff_cached0
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    assert git(repo, "status", "--porcelain") == status0
    assert git(repo, "diff", "--cached") == diff_cached0


def test_restore_round_trip_without_commit_history_changes(repo: Path, snap: Snapshotter):
    (repo / "README.md").write_text("# staged\n")
    git(repo, "add", "README.md")
    (repo / "untracked.txt").write_text("u\n")
    state0 = tree_state(repo)
    cp0 = snap.snapshot("refs/llmflows/r1/0", "start")
    before = user_git_state(repo)

    (repo / "README.md").write_text("agent\n")
    (repo / "untracked.txt").unlink()
    (repo / "later" / "deep").mkdir(parents=True)
    (repo / "later" / "deep" / "file.txt").write_text("later\n")
    pre = snap.snapshot("refs/llmflows/r1/1", "pre-restore")
    r = snap.restore(cp0.commit, current=pre)
    assert tree_state(repo) == state0
    assert not (repo / "later").exists()  # emptied directories are removed too
    assert sorted(r.written) == ["README.md", "untracked.txt"]
    assert r.removed == ["later/deep/file.txt"]
    assert r.from_tree == pre.tree and r.to_tree == cp0.tree
    assert user_git_state(repo) == before  # restore_index=False: index bytes untouched

    # undo the rewind with the pre-restore snapshot, this time without `current`
    r2 = snap.restore(pre.commit)
    assert (repo / "later/deep/file.txt").read_text() == "later\n"
    assert (repo / "README.md").read_text() == "agent\n"
    assert r2.removed == ["untracked.txt"]
    assert user_git_state(repo) == before


def test_restore_only_writes_differing_files(repo: Path, snap: Snapshotter):
    cp = snap.snapshot("refs/llmflows/r/0", "a")
    untouched = repo / "src/app.py"
    os.utime(untouched, ns=(1_000_000_000, 1_000_000_000))
    (repo / "README.md").write_text("changed\n")
    r = snap.restore(cp.commit)
    assert r.written == ["README.md"] and r.removed == []
    assert untouched.stat().st_mtime_ns == 1_000_000_000


def test_modes_symlinks_binary_and_odd_names_round_trip(repo: Path, snap: Snapshotter):
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)
    os.symlink("src/app.py", repo / "link to app")
    (repo / "bin.dat").write_bytes(bytes(range(256)) * 4)
    (repo / "dir with space").mkdir()
    (repo / "dir with space" / "naïve ü 日本.txt").write_text("unicode\n")
    (repo / 'quote"and\\back').write_text("odd\n")
    state = tree_state(repo)
    cp = snap.snapshot("refs/llmflows/r/0", "modes")
    modes = ls_tree(repo, cp.tree)
    assert modes["run.sh"] == "100755"
    assert modes["link to app"] == "120000"
    assert modes["README.md"] == "100644"

    (repo / "run.sh").chmod(0o644)
    (repo / "link to app").unlink()
    (repo / "link to app").write_text("now a file\n")
    (repo / "bin.dat").write_bytes(b"\x00\xff" * 10)
    (repo / "dir with space" / "naïve ü 日本.txt").unlink()
    (repo / 'quote"and\\back').unlink()
    (repo / "README.md").unlink()
    snap.restore(cp.commit)
    assert tree_state(repo) == state
    assert os.access(repo / "run.sh", os.X_OK)


def test_ignored_files_summarised_not_partial_and_left_alone(repo: Path, snap: Snapshotter):
    (repo / ".gitignore").write_text("*.log\nbuild/\n*.o\n")
    (repo / "app.log").write_text("log v1\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.o").write_text("obj\n")
    (repo / "objs").mkdir()
    for i in range(300):
        (repo / "objs" / f"f{i}.o").write_text("o\n")
    cp = snap.snapshot("refs/llmflows/r/0", "a")
    # Ignored caches are not user work: summarised, never listed, never "partial".
    assert cp.skipped == [] and not cp.partial
    assert cp.ignored.count == 302  # app.log, build/ (one entry), 300 objects
    assert cp.ignored.top[0] == ("objs", 300)
    assert set(dict(cp.ignored.top)) == {"objs", "build", "."}
    assert "f1.o" not in cp.message and len(cp.message) < 400
    assert "app.log" not in ls_tree(repo, cp.tree)
    (repo / "app.log").write_text("log v2\n")
    snap.restore(cp.commit)
    assert (repo / "app.log").read_text() == "log v2\n"  # ignored: not ours to touch
    assert (repo / "build" / "out.o").exists()
    # the summary survives in the commit
    assert snap.load(cp.commit).ignored == cp.ignored


def test_snapshot_never_overwrites_a_ref(repo: Path, snap: Snapshotter):
    first = snap.snapshot("refs/llmflows/r/1", "first")
    (repo / "README.md").write_text("changed\n")
    with pytest.raises(SnapshotError):
        snap.snapshot("refs/llmflows/r/1", "second")
    assert git(repo, "rev-parse", "refs/llmflows/r/1").strip() == first.commit
    names = iter(["refs/llmflows/r/1", "refs/llmflows/r/2"])
    second = snap.snapshot("refs/llmflows/r/1", "second", next_ref=lambda: next(names))
    assert second.ref == "refs/llmflows/r/2"
    assert git(repo, "rev-parse", "refs/llmflows/r/1").strip() == first.commit
    assert git(repo, "rev-parse", "refs/llmflows/r/2").strip() == second.commit


def test_too_large_files_skipped_and_never_deleted(repo: Path):
    with Snapshotter(repo, max_file_bytes=1000) as snap:
        (repo / "big.bin").write_bytes(b"x" * 5000)  # untracked, too large
        (repo / "README.md").write_text("y" * 2000)  # tracked, modified, too large now
        (repo / "small.txt").write_text("small\n")
        cp = snap.snapshot("refs/llmflows/r/0", "a")
        assert {(s.path, s.reason) for s in cp.skipped} == {
            ("big.bin", "too_large"),
            ("README.md", "too_large"),
        }
        files = ls_tree(repo, cp.tree)
        assert "big.bin" not in files and "small.txt" in files
        # a stale copy of the too-large tracked file must not be in the tree
        assert "README.md" not in files
        n_objects = git(repo, "count-objects", "-v")
        assert "big.bin" not in n_objects  # (sanity: nothing named leaks into output)

        (repo / "small.txt").unlink()
        (repo / "big.bin").write_bytes(b"z" * 5000)
        r = snap.restore(cp.commit)
        assert (repo / "small.txt").read_text() == "small\n"
        assert (repo / "big.bin").read_bytes() == b"z" * 5000  # kept, not deleted
        assert (repo / "README.md").read_text() == "y" * 2000
        assert "big.bin" not in r.removed and "README.md" not in r.removed

        # A target that skipped big.bin must not delete it even when the current
        # state captured it (it has become small since).
        (repo / "big.bin").write_text("small now\n")
        pre = snap.snapshot("refs/llmflows/r/1", "pre")
        assert "big.bin" in ls_tree(repo, pre.tree)
        r = snap.restore(cp.commit, current=pre)
        assert (repo / "big.bin").read_text() == "small now\n"
        assert "big.bin" in r.kept


def test_too_large_in_current_is_not_overwritten(repo: Path):
    with Snapshotter(repo, max_file_bytes=1000) as snap:
        (repo / "data.bin").write_text("small version\n")
        cp = snap.snapshot("refs/llmflows/r/0", "a")
        (repo / "data.bin").write_bytes(b"L" * 5000)  # grew past the limit: not capturable
        pre = snap.snapshot("refs/llmflows/r/1", "pre")
        assert ("data.bin", "too_large") in {(s.path, s.reason) for s in pre.skipped}
        r = snap.restore(cp.commit, current=pre)
        # overwriting it would lose data the pre-restore snapshot could not save
        assert (repo / "data.bin").read_bytes() == b"L" * 5000
        assert r.kept == ["data.bin"]


def test_repo_without_commits(tmp_path: Path):
    root = init_repo(tmp_path / "fresh")
    assert not (root / ".git" / "index").exists()
    (root / "a.txt").write_text("a\n")
    before = user_git_state(root)
    with Snapshotter(root) as snap:
        cp = snap.snapshot("refs/llmflows/r/0", "first")
        assert user_git_state(root) == before
        assert not (root / ".git" / "index").exists()  # never created the user's index
        assert ls_tree(root, cp.tree) == {"a.txt": "100644"}
        assert cp.index_tree == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # empty tree
        (root / "a.txt").write_text("changed\n")
        (root / "b.txt").write_text("b\n")
        snap.restore(cp.commit)
        assert (root / "a.txt").read_text() == "a\n"
        assert not (root / "b.txt").exists()
        assert user_git_state(root) == before


def test_detached_head(repo: Path):
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "--detach", head)
    (repo / "README.md").write_text("detached work\n")
    before = user_git_state(repo)
    with Snapshotter(repo) as snap:
        cp = snap.snapshot("refs/llmflows/r/0", "d")
        (repo / "README.md").write_text("more\n")
        snap.restore(cp.commit)
        assert snap.capture_user_state()["detached"] is True
    assert (repo / "README.md").read_text() == "detached work\n"
    assert user_git_state(repo) == before


def test_linked_worktree(repo: Path, tmp_path: Path):
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(wt))
    (wt / "README.md").write_text("in worktree\n")
    (wt / "extra.txt").write_text("extra\n")
    main_before = user_git_state(repo)
    wt_gitdir = Path(git(wt, "rev-parse", "--absolute-git-dir").strip())
    wt_before = {n: (wt_gitdir / n).read_bytes() for n in ("HEAD", "index")}
    with Snapshotter(wt) as snap:
        assert snap.index_path == Path(git(wt, "rev-parse", "--absolute-git-dir").strip()) / "index"
        cp = snap.snapshot("refs/llmflows/wt/0", "w")
        (wt / "README.md").write_text("changed\n")
        (wt / "extra.txt").unlink()
        snap.restore(cp.commit)
    assert (wt / "README.md").read_text() == "in worktree\n"
    assert (wt / "extra.txt").read_text() == "extra\n"
    # the ref lives in the common dir: visible from the main checkout
    assert git(repo, "rev-parse", "refs/llmflows/wt/0").strip() == cp.commit
    assert user_git_state(repo) == main_before
    assert {n: (wt_gitdir / n).read_bytes() for n in ("HEAD", "index")} == wt_before
    assert (repo / "README.md").read_text() == "# demo\n"  # main checkout untouched


def test_nested_repo_and_submodule_reported_not_captured(repo: Path, tmp_path: Path):
    nested = repo / "vendor" / "lib"
    init_repo(nested, {"lib.py": "x = 1\n"})
    empty_nested = repo / "scratch"
    init_repo(empty_nested)  # no commits: `git add` would choke on it
    (empty_nested / "f").write_text("f\n")
    sub_src = init_repo(tmp_path / "subsrc", {"s.txt": "s\n"})
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub_src), "mods/s")
    git(repo, "commit", "-q", "-m", "add submodule")
    before = user_git_state(repo)
    with Snapshotter(repo) as snap:
        cp = snap.snapshot("refs/llmflows/r/0", "n")
        reasons = {(s.path, s.reason) for s in cp.skipped}
        assert ("vendor/lib", "nested_repo") in reasons
        assert ("scratch", "nested_repo") in reasons
        assert ("mods/s", "nested_repo") in reasons
        files = ls_tree(repo, cp.tree)
        assert not any(p.startswith(("vendor/lib", "scratch")) for p in files)
        assert files["mods/s"] == "160000"  # the gitlink, not its contents
        (nested / "lib.py").write_text("x = 2\n")
        (repo / "README.md").write_text("changed\n")
        r = snap.restore(cp.commit)
        assert r.written == ["README.md"]
    assert (nested / "lib.py").read_text() == "x = 2\n"  # nested repo untouched
    assert (repo / "mods/s/s.txt").read_text() == "s\n"
    assert user_git_state(repo) == before


def test_restore_refuses_when_live_tree_changed_after_current(repo: Path, snap: Snapshotter):
    cp = snap.snapshot("refs/llmflows/r/0", "a")
    (repo / "README.md").write_text("v2\n")
    pre = snap.snapshot("refs/llmflows/r/1", "pre")
    (repo / "README.md").write_text("v3 written after the pre-restore snapshot\n")
    with pytest.raises(GitCommandError):
        snap.restore(cp.commit, current=pre)
    assert (repo / "README.md").read_text() == "v3 written after the pre-restore snapshot\n"


def test_restore_with_current_not_from_cache(repo: Path):
    # A Snapshotter that did not take `current` itself (no cached temp index).
    with Snapshotter(repo) as s1:
        cp = s1.snapshot("refs/llmflows/r/0", "a")
        (repo / "README.md").write_text("v2\n")
        (repo / "gone.txt").write_text("gone\n")
        pre = s1.snapshot("refs/llmflows/r/1", "pre")
    with Snapshotter(repo) as s2:
        r = s2.restore(cp.commit, current=s2.load(pre.commit))
    assert (repo / "README.md").read_text() == "# demo\n"
    assert not (repo / "gone.txt").exists()
    assert r.removed == ["gone.txt"]


def test_failing_git_command_raises(repo: Path, snap: Snapshotter):
    with pytest.raises(GitCommandError):
        snap.restore("0" * 40)
    with pytest.raises(GitCommandError):
        snap.snapshot("refs/llmflows/r/0", "bad parent", parent_commit="f" * 40)
    with pytest.raises(SnapshotError):
        snap.snapshot("not-a-full-ref", "x")
    assert git(repo, "for-each-ref", "refs/llmflows") == ""  # nothing half-written


def test_corrupt_object_raises_and_pre_restore_snapshot_recovers(repo: Path):
    # Corrupt the loose object of the target's blob: the restore must fail loudly, and
    # the caller's pre-restore snapshot must still bring the live state back.
    (repo / "README.md").write_text("fresh content for a fresh blob\n")
    with Snapshotter(repo) as snap:
        cp = snap.snapshot("refs/llmflows/r/0", "a")
        blob = git(repo, "rev-parse", f"{cp.commit}:README.md").strip()
        obj = repo / ".git" / "objects" / blob[:2] / blob[2:]
        obj.chmod(0o644)
        obj.write_bytes(b"garbage")
        (repo / "README.md").write_text("something else\n")
        pre = snap.snapshot("refs/llmflows/r/1", "pre-restore")
        with pytest.raises(GitCommandError):
            snap.restore(cp.commit, current=pre)
        snap.restore(pre.commit)
        assert (repo / "README.md").read_text() == "something else\n"


def test_bad_index_file_raises(repo: Path):
    (repo / ".git" / "index").write_bytes(b"DIRC garbage that is not an index")
    with Snapshotter(repo) as snap, pytest.raises(GitCommandError):
        snap.snapshot("refs/llmflows/r/0", "a")
    assert git(repo, "for-each-ref", "refs/llmflows") == ""


def test_restore_index_requires_recorded_index(repo: Path, snap: Snapshotter):
    with pytest.raises(SnapshotError):
        snap.restore("HEAD", restore_index=True)


def test_capture_user_state_is_read_only(repo: Path, snap: Snapshotter):
    git(repo, "stash", "list")
    (repo / "README.md").write_text("stash me\n")
    git(repo, "stash", "-q")
    before = user_git_state(repo)
    st = snap.capture_user_state()
    assert st["head"] == "refs/heads/main"
    assert st["head_commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert st["stash"] == git(repo, "rev-parse", "refs/stash").strip()
    assert st["index_tree"] == git(repo, "rev-parse", "HEAD^{tree}").strip()
    assert "refs/heads/main" in st["branches"]
    assert user_git_state(repo) == before


def test_unchanged_user_index_is_memoised_but_changes_are_seen(repo: Path, snap: Snapshotter):
    a = snap.snapshot("refs/llmflows/r/0", "a")
    b = snap.snapshot("refs/llmflows/r/1", "b")
    assert a.parents[-1] == b.parents[-1]  # same index commit reused
    (repo / "README.md").write_text("staged\n")
    git(repo, "add", "README.md")
    c = snap.snapshot("refs/llmflows/r/2", "c")
    assert c.index_tree != a.index_tree
    assert git(repo, "show", f"{c.index_tree}:README.md") == "staged\n"


def test_a_big_tracked_file_is_hashed_before_the_status_scan(
    repo: Path, snap: Snapshotter, monkeypatch
):
    """Once a snapshot has seen a big tracked file, the next one hashes it with
    update-index first, so git status finds it fresh (no second hash to compare)."""
    from engine.git import snapshots

    monkeypatch.setattr(snapshots, "_LARGE_FILE_BYTES", 1000)
    (repo / "big.dat").write_bytes(b"a" * 5000)
    git(repo, "add", "big.dat")
    git(repo, "commit", "-qm", "big")
    snap.snapshot("refs/llmflows/b/1", "learns the big file")
    (repo / "big.dat").write_bytes(b"b" * 5000)  # same size: status would hash to compare
    (repo / "small.txt").write_text("new\n")
    statuses: list[bytes] = []
    real = snap._gitb

    def gitb(*args, **kw):
        out = real(*args, **kw)
        if "status" in args:
            statuses.append(out)
        return out

    monkeypatch.setattr(snap, "_gitb", gitb)
    s = snap.snapshot("refs/llmflows/b/2", "changed")
    assert b" M big.dat" not in statuses[0] and b"M  big.dat" in statuses[0]
    assert git(repo, "cat-file", "-p", f"{s.tree}:big.dat") == "b" * 5000
