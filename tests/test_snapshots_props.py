"""Hypothesis: random file operations interleaved with snapshots and restores.

Every restore must reproduce the snapshotted tree exactly: contents, permission bits
(including those git cannot store, such as 0600 files and 0700 directories), symlinks
and deletions (and nothing else: empty directories left behind by git are not part of
the comparison, git does not track directories).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.git.snapshots import Snapshotter
from tests.support.gitutil import git, init_repo, user_git_state

# Modes keep the owner's read/write (and search, for directories) so the test can work.
FILE_MODES = [0o600, 0o640, 0o644, 0o664, 0o700, 0o755, 0o775]
DIR_MODES = [0o700, 0o750, 0o755, 0o775]
DIRS = ["dir", "dir/sub", "dir2"]
NAMES = ["a.txt", "b c.txt", "ü日本.md", "dir/x", "dir/sub/y z", "dir2/ñ", "bin.dat", "run.sh"]

contents = st.one_of(
    st.binary(max_size=64),
    st.text(alphabet="ab\n é", max_size=40).map(lambda s: s.encode()),
)
ops = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), contents),
    st.tuples(st.just("delete"), st.sampled_from(NAMES)),
    st.tuples(st.just("chmod"), st.sampled_from(NAMES), st.booleans()),
    st.tuples(st.just("mode"), st.sampled_from(NAMES), st.sampled_from(FILE_MODES)),
    st.tuples(st.just("dirmode"), st.sampled_from(DIRS), st.sampled_from(DIR_MODES)),
    st.tuples(st.just("symlink"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("stage")),
    st.tuples(st.just("snapshot")),
    st.tuples(st.just("restore"), st.integers(min_value=0, max_value=50)),
)


def state(root: Path) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if ".git" in dirnames:
            dirnames.remove(".git")
        if filenames and dirpath != str(root):
            out[os.path.relpath(dirpath, root) + "/"] = (
                "dir",
                stat.S_IMODE(os.stat(dirpath).st_mode),
            )
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            else:
                out[rel] = (
                    "file",
                    Path(p).read_bytes(),
                    stat.S_IMODE(os.stat(p).st_mode),
                )
    return out


def _clear(p: Path) -> None:
    if p.is_symlink() or p.is_file():
        p.unlink()
    elif p.is_dir():
        shutil.rmtree(p)


def _prepare(root: Path, rel: str) -> Path:
    """Make ``rel`` writable as a file: clear whatever blocks its parents or itself."""
    p = root / rel
    parent = root
    for part in Path(rel).parts[:-1]:
        parent = parent / part
        if parent.is_symlink() or parent.is_file():
            parent.unlink()
    p.parent.mkdir(parents=True, exist_ok=True)
    _clear(p)
    return p


def apply(root: Path, op: tuple) -> None:
    kind = op[0]
    if kind == "write":
        _prepare(root, op[1]).write_bytes(op[2])
    elif kind == "delete":
        _clear(root / op[1])
    elif kind == "chmod":
        p = root / op[1]
        if p.is_file() and not p.is_symlink():
            p.chmod(0o755 if op[2] else 0o644)
    elif kind == "mode":
        p = root / op[1]
        if p.is_file() and not p.is_symlink():
            p.chmod(op[2])
    elif kind == "dirmode":
        p = root / op[1]
        if p.is_dir() and not p.is_symlink():
            p.chmod(op[2])
    elif kind == "symlink":
        # a relative link to another (maybe missing) name: dangling links are fine too
        p = _prepare(root, op[1])
        os.symlink(os.path.relpath(root / op[2], p.parent), p)
    elif kind == "rename":
        src = root / op[1]
        if (src.is_file() or src.is_symlink()) and op[1] != op[2]:
            data_link = os.readlink(src) if src.is_symlink() else None
            data = None if data_link is not None else src.read_bytes()
            mode = None if data_link is not None else src.stat().st_mode
            src.unlink()
            dst = _prepare(root, op[2])
            if data_link is not None:
                os.symlink(data_link, dst)
            else:
                dst.write_bytes(data)
                dst.chmod(stat.S_IMODE(mode))
    elif kind == "stage":
        git(root, "add", "-A")


# Fixed examples (derandomized): the same sequences on every run, so CI cannot fail by
# the luck of the draw; run with a random seed locally to explore further.
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(ops, min_size=1, max_size=14))
# Found by a random run: a folder holding only a symlink, chmod-ed after a checkpoint.
@example([("symlink", "dir/x", "a.txt"), ("snapshot",), ("dirmode", "dir", 0o700), ("restore", 1)])
def test_random_operations_restore_exactly(sequence: list[tuple]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="snapprops-"))
    try:
        root = init_repo(tmp / "r", {"a.txt": "base\n", "dir/x": "x\n"})
        snaps: list[tuple[str, dict]] = []
        seq = 0
        with Snapshotter(root) as snap:
            cp0 = snap.snapshot("refs/llmflows/p/0", "start")
            snaps.append((cp0.commit, state(root)))
            for op in [*sequence, ("snapshot",), ("restore", 0)]:
                if op[0] == "snapshot":
                    seq += 1
                    s = snap.snapshot(f"refs/llmflows/p/{seq}", "s", parent_commit=snaps[-1][0])
                    snaps.append((s.commit, state(root)))
                elif op[0] == "restore":
                    commit, expected = snaps[op[1] % len(snaps)]
                    seq += 1
                    pre = snap.snapshot(f"refs/llmflows/p/{seq}", "pre-restore")
                    head_before = user_git_state(root)
                    snap.restore(commit, current=pre)
                    assert state(root) == expected
                    assert user_git_state(root) == head_before
                    # and the rewind is undoable
                    snap.restore(pre.commit)
                    snap.restore(commit)
                    assert state(root) == expected
                else:
                    apply(root, op)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
