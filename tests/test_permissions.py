"""Permission bits git cannot store (0600, 0664, 0700 dirs) survive rewind, reject and
partial-hunk approval: the snapshot's mode manifest puts them back."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from engine.git.diffmodel import HunkRef
from engine.git.snapshots import Snapshotter, parse_modes
from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from tests.support.fake_model import FakeModel, say, tool
from tests.support.gitutil import init_repo

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
        assert out.gate["kind"] == "review"
        ops.answer_gate(s, run_id, "reject", reason="no")
    assert (repo / "private/secret.txt").read_text() == "".join(LINES)
    assert _mode(repo / "private/secret.txt") == 0o600
    assert _mode(repo / "private") == 0o700


def test_partial_hunk_approval_keeps_the_private_mode(tmp_path: Path):
    repo = _private_repo(tmp_path)
    with Session.open(repo) as s:
        run_id, out = _start(s, tmp_path)
        assert out.gate["kind"] == "review"
        ops.answer_gate(s, run_id, "approve", hunks={HunkRef("private/secret.txt", 1)})
    text = (repo / "private/secret.txt").read_text()
    assert "line 36 CHANGED" in text and "line 2 CHANGED" not in text
    assert _mode(repo / "private/secret.txt") == 0o600
