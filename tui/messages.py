"""Textual messages that carry engine activity to the UI thread.

The engine calls subscriber callbacks on its own thread; the app turns each
event into an :class:`EngineEvent` with ``post_message`` (thread-safe), so
every widget update happens on Textual's thread.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class EngineEvent(Message):
    """One engine event (``engine.events.Event``) delivered on the UI thread."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class RunEnded(Message):
    """``controller.execute`` returned (``outcome``) or raised (``error``)."""

    def __init__(self, run_id: str, outcome: Any = None, error: BaseException | None = None):
        super().__init__()
        self.run_id = run_id
        self.outcome = outcome
        self.error = error


class TreeChanged(Message):
    """The working tree changed on disk while a run is paused (watchfiles)."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.paths = paths
