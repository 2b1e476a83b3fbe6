"""Pilot helpers shared by the TUI tests: wait for a state, find the run on screen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.worker import Worker

#: Workers that live as long as their screen (the file watcher at a gate).
_LONG_LIVED = {"watch"}


async def _next_worker_done(workers: list[Worker], within: float) -> None:
    """Return when one of ``workers`` ends (however it ends), or after ``within`` seconds."""

    async def ended(w: Worker) -> None:
        try:
            await w.wait()
        except Exception:  # failed or cancelled: ended all the same
            pass

    # Never cancel these: a task cancelled while awaiting a worker cancels the worker.
    tasks = [asyncio.ensure_future(ended(w)) for w in workers]
    await asyncio.wait(tasks, timeout=within, return_when=asyncio.FIRST_COMPLETED)


async def wait_for(pilot: Pilot, cond: Callable[[], Any], timeout: float = 120.0) -> None:
    """Let the app run until ``cond()`` holds.

    Between checks the app settles: the next of its workers to end is awaited (engine
    calls run in workers) and its message queue drained; with no worker running it
    yields briefly, so the engine thread can post its events. A widget not mounted yet
    (``NoMatches``) counts as "not yet"; any other error in ``cond`` fails the test at
    once. ``timeout`` only turns a hang into a failure; it asserts nothing about speed.
    """
    end = time.monotonic() + timeout
    while True:
        try:
            if cond():
                return
        except NoMatches:
            pass
        if time.monotonic() > end:
            raise AssertionError(f"condition not reached in {timeout}s; {_describe(pilot.app)}")
        busy = [w for w in pilot.app.workers if w.is_running and w.group not in _LONG_LIVED]
        if busy:
            await _next_worker_done(busy, within=1.0)
            await pilot.pause()
        else:  # the engine thread is posting events: give it the GIL between checks
            await pilot.pause(0.05)


def _describe(app: Any) -> str:
    """What the app shows, for a failed wait: screen, run status, gate, notifications."""
    screen = main_screen(app)
    parts = [f"screen {type(app.screen).__name__}"]
    if screen is not None:
        parts.append(f"status {screen.status!r} gate {screen.gate!r}")
    notes = [n.message for n in getattr(app, "_notifications", [])]
    if notes:
        parts.append(f"notifications {notes!r}")
    return "; ".join(parts)


def main_screen(app: Any) -> Any:
    """The run screen (``MainScreen``) nearest the top of the stack, or None."""
    from tui.screens.main import MainScreen

    for s in reversed(app.screen_stack):
        if isinstance(s, MainScreen):
            return s
    return None


def at_gate(app: Any) -> bool:
    """The run waits at a gate and its review diff is on screen."""
    s = main_screen(app)
    return s is not None and s.gate is not None and s.gate_ready


def finished(app: Any, status: str = "completed") -> bool:
    """The run on screen ended with ``status`` and nothing executes."""
    s = main_screen(app)
    return s is not None and s.status == status and not s.busy
