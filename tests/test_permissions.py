"""Permission bits git cannot store (0600, 0664, 0700 dirs) survive rewind, reject and
partial-hunk approval: the snapshot's mode manifest puts them back."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

from engine.git.diffmodel import HunkRef
from engine.git.snapshots import Snapshotter, parse_modes
from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from tests.support.fake_model import FakeModel, say, tool
from tests.support.gitutil import git, init_repo

ONE_EDIT = """\
name: one
description: one edit
nodes:
  - id: edit
    kind: agent
    tools: [write_file, finish]
    prompt: "Edit the secret"
    next: end
"""
LINES = [f"line {i}\n" for i in range(1, 41)]


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def _private_repo(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "p", {"private/secret.txt": "".join(LINES), "README.md": "hi\n"})
    (repo / "private/secret.txt").chmod(0o600)
    (repo / "private").chmod(0o700)
    (repo / "README.md").chmod(0o664)
    return repo


def _edit_model() -> FakeModel:
    edited = list(LINES)
    edited[1] = "line 2 CHANGED\n"
    edited[35] = "line 36 CHANGED\n"
    return FakeModel(
        {
            "edit": [
                say(tool("write_file", path="private/secret.txt", content="".join(edited))),
                say(tool("finish", summary="edited")),
            ]
        }
    )


def _start(s: Session, tmp_path: Path) -> tuple[str, object]:
    flow = tmp_path / "flow.yaml"
    flow.write_text(ONE_EDIT)
    run_id = ops.create_run(s, str(flow), "edit", model="fake/model", autonomy="review")
    out = asyncio.run(Executor(s, run_id, model_factory=lambda _s: _edit_model()).execute())
    return run_id, out


def test_snapshot_records_modes_git_cannot_store(tmp_path: Path):
    repo = _private_repo(tmp_path)
    with Snapshotter(repo) as snap:
        s = snap.snapshot("refs/llmflows/t/0", "start")
        assert s.modes == {"private/secret.txt": 0o600, "private/": 0o700, "README.md": 0o664}
        assert parse_modes(snap.load(s.commit).message) == s.modes


def test_rewind_puts_a_private_file_back_as_0600(tmp_path: Path):
    repo = _private_repo(tmp_path)
    with Snapshotter(repo) as snap:
        start = snap.snapshot("refs/llmflows/t/0", "start")
        # The agent deletes the private folder and a chmod widens the README.
        (repo / "private/secret.txt").unlink()
        (repo / "private").rmdir()
        (repo / "README.md").chmod(0o644)
        pre = snap.snapshot("refs/llmflows/t/1", "pre-restore")
        snap.restore(start.commit, current=pre)
        assert (repo / "private/secret.txt").read_text() == "".join(LINES)
        assert _mode(repo / "private/secret.txt") == 0o600
        assert _mode(repo / "private") == 0o700
        assert _mode(repo / "README.md") == 0o664
        # Undoing the rewind brings the agent's bits back too.
        snap.restore(pre.commit)
        assert _mode(repo / "README.md") == 0o644


def test_reject_recreates_the_file_with_its_private_mode(tmp_path: Path):
    repo = _private_repo(tmp_path)
    with Session.open(repo) as s:
        run_id, out = _start(s, tmp_path)
        assert out.gate.kind == "review"
        ops.answer_gate(s, run_id, "reject", reason="no")
    assert (repo / "private/secret.txt").read_text() == "".join(LINES)
    assert _mode(repo / "private/secret.txt") == 0o600
    assert _mode(repo / "private") == 0o700


def test_partial_hunk_approval_keeps_the_private_mode(tmp_path: Path):
    repo = _private_repo(tmp_path)
    with Session.open(repo) as s:
        run_id, out = _start(s, tmp_path)
        assert out.gate.kind == "review"
        ops.answer_gate(s, run_id, "approve", hunks={HunkRef("private/secret.txt", 1)})
    text = (repo / "private/secret.txt").read_text()
    assert "line 36 CHANGED" in text and "line 2 CHANGED" not in text
    assert _mode(repo / "private/secret.txt") == 0o600


def test_manifest_stats_only_files_whose_index_entry_changed(tmp_path: Path, monkeypatch):
    """Unchanged files keep the bits seen at the last lstat; an edited + chmod-ed file is
    stat-ed again and its new bits recorded. (The clock is moved on so every file counts
    as old enough to trust; git compares ctimes to the second.)"""
    from types import SimpleNamespace

    from engine.git import snapshots

    files = {f"src/m{i}.py": f"x = {i}\n" for i in range(20)}
    repo = init_repo(tmp_path / "r", files)
    (repo / "private").mkdir()
    (repo / "private/key.txt").write_text("k\n")
    (repo / "private/key.txt").chmod(0o600)
    git(repo, "add", "private")  # the index entry records the file after its chmod
    real_time = snapshots.time.time
    monkeypatch.setattr(snapshots, "time", SimpleNamespace(time=lambda: real_time() + 100))
    stated: list[bytes] = []
    real_lstat = os.lstat

    def lstat(path, *a, **k):
        if isinstance(path, bytes):  # the manifest's per-file lstat (folders are str)
            stated.append(os.path.relpath(path, os.fsencode(repo)))
        return real_lstat(path, *a, **k)

    monkeypatch.setattr(os, "lstat", lstat)
    with Snapshotter(repo) as snap:
        first = snap.snapshot("refs/llmflows/m/1", "first")
        assert len(stated) == 21 and first.modes["private/key.txt"] == 0o600
        stated.clear()
        again = snap.snapshot("refs/llmflows/m/2", "nothing changed")
        assert stated == [] and again.modes == first.modes
        (repo / "src/m3.py").write_text("x = 'secret'\n")
        (repo / "src/m3.py").chmod(0o600)
        third = snap.snapshot("refs/llmflows/m/3", "edited and chmod-ed")
    assert stated == [b"src/m3.py"]
    assert third.modes == {**first.modes, "src/m3.py": 0o600}


def test_a_chmod_alone_is_recorded_even_when_the_user_turns_optional_locks_off(
    tmp_path: Path, monkeypatch
):
    """The manifest trusts the ctimes our ``git status`` refreshes in the temp index; a
    user's GIT_OPTIONAL_LOCKS=0 would stop status writing them, so a chmod with no edit
    would keep the old bits. (Clock moved on as above.)"""
    from types import SimpleNamespace

    from engine.git import snapshots

    repo = init_repo(tmp_path / "r", {f"src/m{i}.py": f"x = {i}\n" for i in range(5)})
    real_time = snapshots.time.time
    monkeypatch.setattr(snapshots, "time", SimpleNamespace(time=lambda: real_time() + 100))
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")
    with Snapshotter(repo) as snap:
        snap.snapshot("refs/llmflows/m/1", "first")
        # git compares ctimes to the second: the chmod must land in a later one.
        m3 = repo / "src/m3.py"
        created = os.stat(m3).st_ctime_ns // 1_000_000_000
        m3.chmod(0o600)
        while os.stat(m3).st_ctime_ns // 1_000_000_000 == created:
            time.sleep(0.05)
            m3.chmod(0o600)
        second = snap.snapshot("refs/llmflows/m/2", "chmod-ed")
    assert second.modes == {"src/m3.py": 0o600}


def test_manifest_with_a_split_index_stats_every_file(tmp_path: Path):
    """A split index (entries partly in a shared file) is not read directly: git lists
    the files and each is stat-ed, so the bits are still recorded."""
    repo = _private_repo(tmp_path)
    git(repo, "update-index", "--split-index")
    with Snapshotter(repo) as snap:
        s = snap.snapshot("refs/llmflows/split/1", "split")
    assert s.modes["private/secret.txt"] == 0o600 and s.modes["README.md"] == 0o664
