"""The single-writer lock: other processes are refused (naming the holder), stale locks taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import StoreLockedError
from engine.store import RunStore

ROOT = Path(__file__).resolve().parents[1]

# Opens the store as a writer, says so, then waits for a line on stdin.
_HOLDER = """
import sys
from engine.store import RunStore
s = RunStore.open(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
s.close()
print("closed", flush=True)
"""

# Tries to open the store as a writer; reports the outcome.
_CONTENDER = """
import sys
from engine.errors import StoreLockedError
from engine.store import RunStore
try:
    RunStore.open(sys.argv[1]).close()
except StoreLockedError as e:
    print(f"locked pid={e.pid} exit={e.exit_code}: {e}")
    sys.exit(3)
print("opened")
"""


def _py(code: str, repo: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, str(repo)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_second_writer_in_another_process_is_refused_naming_our_pid(repo: Path):
    with RunStore.open(repo):
        p = _py(_CONTENDER, repo)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 3, err
        assert f"locked pid={os.getpid()} exit=2" in out
        assert f"process {os.getpid()}" in out
        assert "only one llmflows-tui may write" in out
    # Released on close: now the other process gets it.
    p = _py(_CONTENDER, repo)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and "opened" in out, err


def test_we_are_refused_while_another_process_holds_it(repo: Path):
    holder = _py(_HOLDER, repo)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError) as e:
            RunStore.open(repo)
        assert e.value.pid == holder.pid
        assert str(holder.pid) in str(e.value)
        assert e.value.exit_code == 2
        # Readers do not need the lock.
        with RunStore.open(repo, write=False) as r:
            assert r.list_runs() == []
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "closed"
    finally:
        holder.kill()
        holder.wait()
    with RunStore.open(repo) as s:
        assert s.writable


def test_lock_of_a_killed_holder_is_taken_over(repo: Path):
    holder = _py(_HOLDER, repo)
    assert holder.stdout.readline().strip() == "ready"
    lock = repo / ".llmflows" / "lock"
    assert lock.read_text().strip() == str(holder.pid)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    # The dead holder's pid is still in the file, but its flock died with it.
    assert lock.read_text().strip() == str(holder.pid)
    with RunStore.open(repo) as s:
        assert s._lock.previous_pid == holder.pid
        assert lock.read_text().strip() == str(os.getpid())


def test_stale_lock_file_with_dead_pid_is_taken_over(repo: Path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    lock = repo / ".llmflows" / "lock"
    lock.parent.mkdir()
    lock.write_text(f"{dead.pid}\n")
    with RunStore.open(repo) as s:
        assert lock.read_text().strip() == str(os.getpid())
        assert s._lock.previous_pid == dead.pid
    assert lock.read_text() == ""  # cleared on close; the file itself stays


def test_lock_released_on_close_and_failed_open(repo: Path, monkeypatch):
    RunStore.open(repo).close()
    RunStore.open(repo).close()

    from engine.store import runstore

    def boom(db):
        raise RuntimeError("migration failed")

    monkeypatch.setattr(runstore, "migrate", boom)
    with pytest.raises(RuntimeError):
        RunStore.open(repo)
    monkeypatch.undo()
    RunStore.open(repo).close()  # the failed open did not leave the lock held


# Takes the lock, forks a child that keeps the lock's open file (as a child does
# between fork and exec) until a line comes on stdin, then SIGKILLs itself.
_FORKS_THEN_DIES = """
import os, signal, sys
from engine.store import RunStore
s = RunStore.open(sys.argv[1])
if os.fork() == 0:
    sys.stdin.readline()
    os._exit(0)
print("forked", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_lock_held_by_a_dead_writers_child_is_waited_for(repo: Path, monkeypatch):
    import fcntl
    import time

    from engine.store import lock as lock_mod

    writer = _py(_FORKS_THEN_DIES, repo)
    try:
        assert writer.stdout.readline().strip() == "forked"
        assert writer.wait(timeout=60) == -signal.SIGKILL
        lock = repo / ".llmflows" / "lock"
        fd = os.open(lock, os.O_RDWR)
        with pytest.raises(BlockingIOError):  # the dead writer's child still holds it
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
        released: list[bool] = []
        sleep = time.sleep

        def release_then_sleep(seconds: float) -> None:
            # the first refusal: now the child goes on (to its exec, here its exit)
            if not released:
                writer.stdin.write("\n")
                writer.stdin.flush()
                released.append(True)
            sleep(seconds)

        monkeypatch.setattr(lock_mod.time, "sleep", release_then_sleep)
        with RunStore.open(repo) as s:
            assert released and s._lock.previous_pid == writer.pid
    finally:
        writer.stdin.close()
        writer.kill()
        writer.wait()
