"""Terminal test: the real `llmflows-tui demo` inside tmux, approved by keystrokes.

Starts ``python -m tui.entry demo --dir D`` in a detached tmux session of a
fixed size, presses ``a`` whenever the screen shows a gate, until it shows the
run completed; then the sample project's tests must pass inside D.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


def _tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], capture_output=True, text=True, check=False, timeout=30
    ).stdout


@pytest.mark.timeout(150)
def test_demo_runs_to_completion_in_tmux(tmp_path):
    demo_dir = tmp_path / "demo"
    session = f"llmflows-test-{uuid.uuid4().hex[:8]}"
    cmd = f"cd {ROOT} && {sys.executable} -m tui.entry demo --dir {demo_dir}"
    # 80×24: the smallest common terminal; the review gives the diff the screen
    _tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", cmd)
    _tmux("set-option", "-t", session, "remain-on-exit", "on")  # to read what it prints
    screen = ""
    try:
        deadline = time.monotonic() + 110
        approvals = 0
        while time.monotonic() < deadline:
            time.sleep(0.5)
            screen = _tmux("capture-pane", "-p", "-t", session)
            status = screen.rstrip("\n").splitlines()[-2] if screen.strip() else ""
            if "completed" in status:
                break
            if "⏸ paused" in status:  # at a gate (review, gate node, command, ...)
                _tmux("send-keys", "-t", session, "a")
                approvals += 1
                time.sleep(1.0)
        else:
            pytest.fail(f"the demo did not complete; last screen:\n{screen}")
        assert approvals >= 1
        assert "Plan" in screen and "Cost" in screen and "Tests" in screen
        assert "✓ completed" in screen
        _tmux("send-keys", "-t", session, "C-q")
        # after quitting, the demo says where its project is
        told = f"The demo project is in {demo_dir}"
        deadline = time.monotonic() + 30
        while told not in screen.replace("\n", "") and time.monotonic() < deadline:
            time.sleep(0.5)
            screen = _tmux("capture-pane", "-p", "-J", "-t", session)
        assert told in screen.replace("\n", ""), screen
    finally:
        _tmux("kill-session", "-t", session)
    # the approved fix is on disk
    assert "subtotal = sum(" in (demo_dir / "invoice" / "totals.py").read_text()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=demo_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in proc.stdout
