"""A read-only mount or a full disk: every verb ends with one line and exit 1, no traceback.

The file systems are real (a small tmpfs, remounted read-only), so these tests need
the right to mount; elsewhere they are skipped.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from engine.cli import main
from tests.support.gitutil import init_repo

FLOW = """\
name: two
description: an edit and a gate
nodes:
  - id: edit
    kind: agent
    tools: [write_file, finish]
    prompt: "Write a.txt"
    next: approve
  - id: approve
    kind: gate
    prompt: "Ship it?"
    next: end
"""
SCRIPT = {
    "responses": [
        {
            "node": "edit",
            "tool_calls": [
                {"name": "write_file", "arguments": {"path": "a.txt", "content": "v\n"}}
            ],
        },  # fmt: skip
        {"node": "edit", "tool_calls": [{"name": "finish", "arguments": {"summary": "v"}}]},
    ]
}


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)):
        pytest.skip("needs the right to mount a tmpfs")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def paused_repo(small_fs: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> Path:
    repo = init_repo(small_fs / "repo", {"README.md": "hi\n"})
    (tmp_path / "two.yaml").write_text(FLOW)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(SCRIPT))
    args = ["-C", str(repo), "run", str(tmp_path / "two.yaml"), "go"]
    assert main([*args, "--model", f"scripted:{tmp_path / 's.yaml'}"]) == 3  # paused at the gate
    capsys.readouterr()
    return repo


VERBS = [
    ["runs"],
    ["show", "1"],
    ["checkpoints"],
    ["checkpoint"],
    ["diff", "1"],
    ["rewind", "1"],
    ["resume", "1", "--approve"],
    ["retry", "1"],
    ["export-script", "1"],
    ["run", "{flow}", "again", "--model", "scripted:{script}"],
]


def _assert_one_line_failure(repo: Path, tmp_path: Path, capsys, verb: list[str], hint: str):
    argv = [a.format(flow=tmp_path / "two.yaml", script=tmp_path / "s.yaml") for a in verb]
    code = main(["-C", str(repo), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 1, (verb, code, err)
    assert err.startswith("llmflows-tui: error: ") and "\n" not in err, (verb, err)
    assert hint in err, (verb, err)


def test_every_verb_on_a_read_only_mount_says_so_in_one_line(
    paused_repo: Path, small_fs: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert _mount("-o", "remount,ro", str(small_fs))
    for verb in VERBS:
        _assert_one_line_failure(paused_repo, tmp_path, capsys, verb, "read-only")


def test_a_full_disk_says_so_in_one_line_and_the_store_stays_sound(
    paused_repo: Path, small_fs: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (paused_repo / "new.txt").write_bytes(b"x" * 300_000)  # something to snapshot
    # unbuffered: nothing is left to flush (and fail) when the file closes
    with open(small_fs / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    for verb in (["checkpoint"], ["diff", "1"]):
        _assert_one_line_failure(paused_repo, tmp_path, capsys, verb, "disk is full")
    (small_fs / "filler").unlink()
    assert main(["-C", str(paused_repo), "runs"]) == 0  # nothing was lost
    assert "paused" in capsys.readouterr().out
