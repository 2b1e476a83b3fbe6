"""Writes a checkpoint cannot undo wait for a person; rewind says which files it could not restore."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.cli import main
from engine.git import snapshots
from engine.tools import Workspace
from engine.tools.files import unrestorable_change
from tests.support.gitutil import git, init_repo

FLOW = """\
name: overwrite
description: the agent overwrites one file
nodes:
  - id: edit
    kind: agent
    tools: [write_file, finish]
    prompt: "Overwrite it"
    next: end
"""


def test_what_a_checkpoint_cannot_restore(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo", {"src/a.py": "x = 1\n", ".gitignore": "*.log\n"})
    (repo / "big.bin").write_bytes(b"b" * 2000)
    (repo / "run.log").write_text("log\n")
    nested = init_repo(repo / "vendor" / "lib", {"lib.py": "y = 2\n"})
    ws = Workspace(repo)
    assert "over the 1,000-byte snapshot limit" in (unrestorable_change(ws, "big.bin", 1000) or "")
    assert "ignored by git" in (unrestorable_change(ws, "run.log", 1000) or "")
    assert "nested repository vendor/lib/" in (unrestorable_change(ws, "vendor/lib/lib.py", 1000) or "")  # fmt: skip
    assert unrestorable_change(ws, "src/a.py", 1000) is None  # tracked, small
    assert unrestorable_change(ws, "new.log", 1000) is None  # nothing to lose yet
    assert nested.is_dir()


def test_overwriting_a_file_too_large_to_snapshot_asks_first_and_rewind_tells_the_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(snapshots, "DEFAULT_MAX_FILE_BYTES", 1000)
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    big = repo / "big.bin"
    big.write_text("the person's data\n" * 100)  # 1800 bytes, untracked, over the limit
    before = big.read_bytes()
    flow = tmp_path / "overwrite.yaml"
    flow.write_text(FLOW)
    script = tmp_path / "s.yaml"
    script.write_text(
        yaml.safe_dump(
            {
                "responses": [
                    {
                        "node": "edit",
                        "tool_calls": [
                            {
                                "name": "write_file",
                                "arguments": {"path": "big.bin", "content": "gone\n"},
                            }
                        ],
                    },  # fmt: skip
                    {
                        "node": "edit",
                        "tool_calls": [{"name": "finish", "arguments": {"summary": "done"}}],
                    },  # fmt: skip
                ]
            }
        )
    )
    base = ["-C", str(repo), "--model", f"scripted:{script}"]
    code = main([*base, "run", str(flow), "go", "--autonomy", "full"])
    out = capsys.readouterr()
    assert code == 3, out  # paused: even full autonomy does not overwrite it unasked
    assert "checkpoints do not capture" in out.out + out.err
    assert big.read_bytes() == before
    assert main([*base, "resume", "--last", "--approve"]) in (0, 3)
    capsys.readouterr()
    assert big.read_text() == "gone\n"  # the person said yes
    assert main([*base, "rewind", "1"]) == 0
    text = capsys.readouterr().out
    assert "No files changed" not in text
    assert "No captured file changed" in text
    assert "big.bin  (not captured by the checkpoint" in text
    assert git(repo, "status", "--porcelain") is not None
