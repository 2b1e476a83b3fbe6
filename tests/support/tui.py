"""Pilot helpers shared by the TUI tests: wait for a state, find the run on screen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from textual.css.query import NoMatches
from textual.message import Message
from textual.pilot import Pilot
from textual.worker import Worker

#: Workers that live as long as their screen (the file watcher at a gate).
_LONG_LIVED = {"watch"}


def _ended(w: Worker) -> asyncio.Future[None]:
    """A future done when ``w`` ends, however it ends (never cancel it: a task cancelled
    while awaiting a worker cancels the worker)."""

    async def ended() -> None:
        try:
            await w.wait()
        except Exception:  # failed or cancelled: ended all the same
            pass

    return asyncio.ensure_future(ended())


async def wait_for(pilot: Pilot, cond: Callable[[], Any], timeout: float = 120.0) -> None:
    """Let the app run until ``cond()`` holds.

    ``cond`` is checked again each time the app or a screen on its stack has handled a
    message (an engine event delivered to the UI, a worker's state change, a run's end, a
    key, a widget's message) or a running worker ends, and the queues are drained first:
    the wait wakes on what the app does, never on a clock. A widget not mounted yet
    (``NoMatches``) counts as "not yet"; any other error in ``cond`` fails the test at
    once. ``timeout`` only turns a hang into a failure; it asserts nothing about speed.
    """
    app = pilot.app
    end = time.monotonic() + timeout
    handled = asyncio.Event()
    pumps: list[Any] = []

    def on_message(message: Message) -> None:
        handled.set()

    def listen(pump: Any) -> None:
        if pump not in pumps and pump.is_running:
            pump.message_signal.subscribe(app, on_message, immediate=True)
            pumps.append(pump)

    try:
        while True:
            listen(app)
            for screen in app.screen_stack:
                listen(screen)
            try:
                if cond():
                    return
            except NoMatches:
                pass
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"condition not reached in {timeout}s; {_describe(app)}")
            # Nothing ran since the check: anything the app handles from here wakes the wait.
            handled.clear()
            woken = asyncio.ensure_future(handled.wait())
            busy = [w for w in app.workers if w.is_running and w.group not in _LONG_LIVED]
            await asyncio.wait(
                [woken, *map(_ended, busy)], timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            woken.cancel()
            await pilot.pause()  # let the rest of what woke us be handled
    finally:
        for pump in pumps:
            pump.message_signal.unsubscribe(app)


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


async def clear_notifications(pilot: Pilot) -> None:
    """Clear the app's notifications; return once no toast shows on the screen."""
    from textual.widgets._toast import ToastRack

    app = pilot.app
    app.clear_notifications()
    await wait_for(pilot, lambda: not any(r.display for r in app.screen.query(ToastRack)))
