"""kill -9 a process that is busy taking checkpoints: the store stays sound.

After every kill: SQLite's integrity check passes, every checkpoint row's
commit exists in git (git first, then the DB), every id the process reported
as created is in the DB, and the dead writer's lock is taken over.
Synchronization is by the lines the child prints, never by sleeping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.store import RunStore
from tests.support.gitutil import git

ROOT = Path(__file__).resolve().parents[1]

_LOOP = """
import pathlib, sys
from engine.git.checkpoints import CheckpointService
from engine.git.snapshots import Snapshotter
from engine.store import RunStore

root = pathlib.Path(sys.argv[1])
store = RunStore.open(root)
svc = CheckpointService(root, store, Snapshotter(root))
run_id = store.create_run("loop", "crash me", "none", "full", {})
print("ready", flush=True)
i = 0
while True:
    i += 1
    (root / "work.txt").write_text(f"iteration {i}\\n" * i)
    (root / f"f{i % 5}.txt").write_text(str(i))
    if i % 2:
        cp = svc.create(None, None, "manual", f"loop {i}", None)
    else:
        cp = svc.create(run_id, None, "step", f"loop {i}", {"i": i, "pad": "x" * i})
        store.update_run(run_id, head_checkpoint_id=cp["id"])
    print(cp["id"], flush=True)
"""


def _start(repo: Path, crash_at: str | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("LLMFLOWS_CRASH_AT", None)
    if crash_at:
        env["LLMFLOWS_CRASH_AT"] = crash_at
    return subprocess.Popen(
        [sys.executable, "-c", _LOOP, str(repo)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_sound(repo: Path, reported: list[int]) -> None:
    with RunStore.open(repo) as store:  # the dead writer's lock is taken over
        assert store.integrity_check() == "ok"
        fk = store.db.execute("PRAGMA foreign_key_check").fetchall()
        assert fk == []
        rows = store.list_checkpoints()
        ids = {r["id"] for r in rows}
        assert set(reported) <= ids  # everything announced as created is durable
        for r in rows:
            p = subprocess.run(["git", "cat-file", "-e", f"{r['commit_sha']}^{{commit}}"], cwd=repo)
            assert p.returncode == 0, f"checkpoint {r['id']} points at missing {r['commit_sha']}"
            assert git(repo, "rev-parse", r["ref"]).strip() == r["commit_sha"]
            if r["state_hash"]:
                store.get_blob(r["state_hash"])


@pytest.mark.parametrize(
    "lines_before_kill, crash_at",
    [
        (0, None),  # killed while starting up / opening the store
        (1, None),  # right after the first checkpoint was reported
        (3, None),
        (6, None),
        (0, "checkpoint.after_git:2"),  # git objects written, no DB row yet
        (0, "checkpoint.in_transaction:3"),  # inside the DB transaction, before commit
    ],
)
def test_sigkill_leaves_a_sound_store(repo: Path, lines_before_kill: int, crash_at: str | None):
    proc = _start(repo, crash_at)
    reported: list[int] = []
    try:
        if lines_before_kill or crash_at:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        if crash_at:
            for line in proc.stdout:  # the child kills itself at the crash point
                reported.append(int(line))
                assert len(reported) < 10, f"crash point {crash_at} was never reached"
        else:
            for _ in range(lines_before_kill):
                reported.append(int(proc.stdout.readline()))
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    if crash_at:
        n = int(crash_at.rsplit(":", 1)[1])
        assert len(reported) == n - 1
    _assert_sound(repo, reported)


def test_repeated_kills_then_continue(repo: Path):
    reported: list[int] = []
    for k in (2, 1, 4):
        proc = _start(repo)
        try:
            assert proc.stdout.readline().strip() == "ready"
            reported += [int(proc.stdout.readline()) for _ in range(k)]
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
        _assert_sound(repo, reported)
    # Life goes on: the CLI can take a checkpoint and rewind to a survivor.
    p = subprocess.run(
        [sys.executable, "-m", "tui.entry", "-C", str(repo), "rewind", str(reported[-1])],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    _assert_sound(repo, reported)
