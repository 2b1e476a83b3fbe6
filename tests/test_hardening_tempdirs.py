"""Snapshot temp dirs do not pile up after kill -9: the next Snapshotter removes them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from engine.git.snapshots import Snapshotter
from tests.support.gitutil import init_repo

CHILD = """\
import sys, time
from engine.git.snapshots import Snapshotter
s = Snapshotter(sys.argv[1])
s.snapshot("refs/llmflows/t/1", "x")
print(s._tmp, flush=True)
time.sleep(600)
"""


def test_temp_dirs_of_a_killed_process_are_removed_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_root = tmp_path / "tmp"
    tmp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_root))
    repo = init_repo(tmp_path / "repo", {"a.txt": "a\n"})
    env = {**os.environ, "TMPDIR": str(tmp_root), "PYTHONPATH": os.getcwd()}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(repo)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    left = Path(child.stdout.readline().strip())
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert left.is_dir() and left.parent == tmp_root  # kill -9: nothing cleaned up

    alive = tmp_root / f"llmflows-snap-{os.getpid()}-other"  # a live process's dir stays
    alive.mkdir()
    with Snapshotter(repo) as s:
        assert not left.exists()
        assert alive.is_dir()
        assert s._tmp.is_dir()
    assert sorted(p.name for p in tmp_root.iterdir()) == [alive.name]
