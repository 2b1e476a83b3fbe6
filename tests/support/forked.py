"""CLI processes that start warm: forked from a server that has imported the engine.

A test (or the fault harness) that needs a real process boundary — a SIGKILL
mid-run, a pause that outlives its process — pays for one ``fork`` instead of an
interpreter start plus litellm's seconds-long import. The server is
multiprocessing's ``forkserver``: single-threaded, started once per process that
uses it, preloaded with :mod:`tests.support.warm`, and gone when that process exits.
Each child is a separate process running ``llmflows-tui ARGS`` from scratch (its
own store connection, event loop, crash-point counters) with the environment and
working directory of the call.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(["tests.support.warm"])


def _main(argv: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    """The child: ``llmflows-tui ARGV`` with its output in two files."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    # Line-buffered: a SIGKILL loses at most a partial line.
    sys.stdout = open(out, "w", buffering=1)  # noqa: SIM115 - closed by process exit
    sys.stderr = open(err, "w", buffering=1)  # noqa: SIM115
    from tui.entry import main

    raise SystemExit(main(argv))


@dataclass
class Forked:
    """A running ``llmflows-tui`` child; ``returncode`` is negative when a signal ended it."""

    argv: list[str]
    process: BaseProcess
    out: Path
    err: Path
    _read: bool = field(default=False, init=False)

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the child to end (up to ``timeout`` s); its exit code, or None."""
        self.process.join(timeout)
        return self.process.exitcode

    def kill(self) -> None:
        self.process.kill()
        self.process.join()

    def communicate(self, timeout: float | None = None) -> subprocess.CompletedProcess:
        """Wait (killing the child after ``timeout`` s), then its exit code and output."""
        if self.wait(timeout) is None:
            self.kill()
            raise subprocess.TimeoutExpired(self.argv, timeout or 0)
        out, err = self.out.read_text(), self.err.read_text()
        self.out.unlink(missing_ok=True)
        self.err.unlink(missing_ok=True)
        return subprocess.CompletedProcess(self.argv, self.process.exitcode, out, err)


def start(argv: list[str], env: dict[str, str] | None = None) -> Forked:
    """Start ``llmflows-tui ARGV`` in a forked child (``env`` defaults to this process's)."""
    outs = []
    for name in ("out", "err"):
        fd, path = tempfile.mkstemp(prefix=f"llmflows-child-{name}-")
        os.close(fd)
        outs.append(Path(path))
    proc = _context.Process(
        target=_main,
        args=(argv, dict(os.environ if env is None else env), os.getcwd(), *map(str, outs)),
        daemon=True,
    )
    proc.start()
    return Forked(argv, proc, outs[0], outs[1])


def warm_up() -> None:
    """Start the fork server and wait until it has imported everything (timing starts after)."""
    done = start(["--version"]).communicate()
    if done.returncode != 0:
        raise RuntimeError(f"the fork server's child failed: {done.stderr}")
