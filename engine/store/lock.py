"""The single-writer lock for a repository's run store.

``.llmflows/lock`` is held with ``fcntl.flock(LOCK_EX | LOCK_NB)`` for as long
as a writer has the store open, and the holder writes its pid into the file so
a refused process can say *who* holds it. ``flock`` is released by the kernel
when the holder dies, so a lock file left behind by a killed process (its pid
still in the file) is simply taken over: the pid is only a message, the flock
is the truth. One wait: a writer killed just after it forked a subprocess leaves
the flock with that child until the child reaches exec (``O_CLOEXEC``), a moment
later; a lock held while its recorded writer is dead is retried for a few seconds.

The file is never unlinked: unlinking while another process has it open would
let two processes hold locks on two different inodes at once.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path

from engine.errors import StoreLockedError

#: How long a lock still held after its writer died is waited for (see ``acquire``).
ORPHAN_WAIT_S = 5.0


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 64).decode("ascii", "replace").strip()
        return int(raw) if raw else None
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WriterLock:
    """An exclusive, non-blocking, process-level lock on one file.

    ``acquire()`` raises :class:`StoreLockedError` naming the holder's pid when
    another live process holds the lock. ``store_path`` is only used in that
    message (the thing being protected, e.g. ``.llmflows/history.db``).
    """

    def __init__(self, path: Path, store_path: Path | None = None):
        self.path = Path(path)
        self.store_path = Path(store_path) if store_path else self.path
        self._fd: int | None = None
        self.previous_pid: int | None = None  # pid found in a stale lock file we took over

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_CLOEXEC (Python's default) keeps child processes (tests, shell
        # commands the agent runs) from inheriting the lock.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + ORPHAN_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                holder = _read_pid(fd)
                busy = e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
                # Held, but its writer is dead: a child it forked has not reached exec
                # yet (O_CLOEXEC closes the lock only there) and lets go in a moment.
                if busy and holder and not pid_alive(holder) and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                os.close(fd)
                if busy:
                    raise StoreLockedError(str(self.store_path), holder) from None
                raise
        # We hold the flock: whatever pid is in the file is stale (its process
        # died or closed without cleaning up). Record ours.
        stale = _read_pid(fd)
        self.previous_pid = stale if stale and stale != os.getpid() else None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            # Clear the pid while still holding the lock, then unlock.
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder_pid(path: Path) -> int | None:
    """The pid recorded in a lock file (None if empty/missing); for messages only."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return _read_pid(fd)
    finally:
        os.close(fd)
