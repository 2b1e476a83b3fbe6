"""Running the `llmflows-tui` CLI for tests: in-process (the default) or in a subprocess.

In-process (``engine.cli.main(argv)`` + capsys) is what almost every CLI test wants:
no interpreter start, no litellm import per call. A subprocess is for what only a
process boundary shows: a SIGKILL mid-run, a pause that survives the process exiting.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import forked


@dataclass(frozen=True)
class CliResult:
    """What one CLI invocation gave: exit code and its two streams."""

    returncode: int
    stdout: str
    stderr: str


def run_main(capsys: pytest.CaptureFixture[str], *args: str, repo: Path | None = None) -> CliResult:
    """``llmflows-tui [-C repo] ARGS`` in this process (``engine.cli.main``)."""
    from engine.cli import main

    where = ["-C", str(repo)] if repo is not None else []
    capsys.readouterr()  # only this call's output
    try:
        code = main([*where, *args])
    except SystemExit as e:  # argparse usage errors and --help / --version
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    out, err = capsys.readouterr()
    return CliResult(code, out, err)


def run_cli(
    *args: str,
    repo: Path | None = None,
    crash: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """``llmflows-tui [-C repo] ARGS`` in a new process; ``crash`` sets LLMFLOWS_CRASH_AT.

    The process is forked from a warm server (:mod:`tests.support.forked`): a real
    process boundary without an interpreter start and litellm import per call.
    """
    env = {k: v for k, v in os.environ.items() if k != "LLMFLOWS_CRASH_AT"}
    if crash:
        env["LLMFLOWS_CRASH_AT"] = crash
    where = ["-C", str(repo)] if repo is not None else []
    return forked.start([*where, *args], env).communicate(timeout)
