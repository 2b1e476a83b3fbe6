"""Running the real `llmflows-tui` CLI in a subprocess, for tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(
    *args: str,
    repo: Path | None = None,
    crash: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """``llmflows-tui [-C repo] ARGS``; ``crash`` sets LLMFLOWS_CRASH_AT for the child."""
    env = {k: v for k, v in os.environ.items() if k != "LLMFLOWS_CRASH_AT"}
    if crash:
        env["LLMFLOWS_CRASH_AT"] = crash
    where = ["-C", str(repo)] if repo is not None else []
    return subprocess.run(
        [sys.executable, "-m", "tui.entry", *where, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
