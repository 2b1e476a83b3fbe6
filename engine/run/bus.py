"""Event bus: persist every event, then publish it to subscribers.

Token deltas are published but not persisted one by one: the full text of
every model answer is already in the effects journal, and storing each delta
would multiply the events table for no information. Live command output
chunks likewise: a ``run`` step stores its output once (``CommandOutput``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from engine.events import Event, ModelWaiting, OutputChunk, TokenDelta

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]
_EPHEMERAL = (TokenDelta, ModelWaiting, OutputChunk)


class EventBus:
    """Appends events to the run store and fans them out to subscribers."""

    def __init__(self, store=None):
        self._store = store
        self._subs: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Register ``fn``; returns a function that unsubscribes it."""
        with self._lock:
            self._subs.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subs:
                    self._subs.remove(fn)

        return unsubscribe

    def emit(self, event: Event) -> Event:
        if self._store is not None and event.run_id and not isinstance(event, _EPHEMERAL):
            event.seq = self._store.append_event(event)
        with self._lock:
            subs = list(self._subs)
        for fn in subs:
            try:
                fn(event)
            except Exception:  # a broken subscriber must not break the run
                log.exception("event subscriber failed")
        return event
