"""StatusLine: one line with run state, current node, autonomy, elapsed time and a message."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget

from engine.events import Event, GateOpened, RunStatusChanged, StepStarted
from engine.records import ENDED

STATE_ICONS = {
    "idle": ("○", "dim"),
    "running": ("◐", "bold green"),
    "paused": ("⏸", "bold yellow"),
    "completed": ("✓", "bold green"),
    "failed": ("✗", "bold red"),
    "stopped": ("⊘", "bold yellow"),
    "crashed": ("✗", "bold red"),
}


def fmt_elapsed(seconds: float) -> str:
    """``MM:SS`` below an hour, ``H:MM:SS`` above."""
    s = int(max(0, seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def elide(text: str, width: int) -> str:
    """``text`` in ``width`` cells: whole, else cut after its last clause that fits
    (``: `` ``; `` `` · `` ``. ``) when that keeps at least half the room, else an ellipsis."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = text[: width - 1]
    cut = max(head.rfind(sep) for sep in (": ", "; ", " · ", ". ", " — "))
    if cut >= width // 2:
        return text[:cut] + "…"
    while cell_len(head) > width - 1:
        head = head[:-1]
    return head.rstrip() + "…"


class StatusLine(Widget):
    """Run state · node · autonomy · elapsed (ticks every second) · message.

    Public API: :meth:`apply_event` (RunStatusChanged, StepStarted, GateOpened),
    :meth:`set_autonomy`, :meth:`set_message`, :meth:`text`; :attr:`state`,
    :attr:`node`, :attr:`autonomy`, :attr:`message`, :attr:`elapsed`.

    The clock starts at the first running state / step and stops when the run
    reaches a final state. ``clock`` can be injected (tests).
    """

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        background: $panel;
        padding: 0 1;
    }
    """

    def __init__(
        self,
        *,
        autonomy: str = "review",
        clock: Callable[[], float] = time.monotonic,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._clock = clock
        self.state = "idle"
        self.node: str | None = None
        self.autonomy = autonomy
        self.message = ""
        self._started: float | None = None
        self._ended: float | None = None

    def on_mount(self) -> None:
        # Only the elapsed time changes on its own; a 1 s tick is enough.
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        if self._started is not None and self._ended is None:
            self.refresh()

    # ------------------------------------------------------------------ public API

    @property
    def elapsed(self) -> float:
        """Seconds since the run started (frozen once it ends); 0 before."""
        if self._started is None:
            return 0.0
        end = self._ended if self._ended is not None else self._clock()
        return end - self._started

    def set_autonomy(self, autonomy: str) -> None:
        """Show the autonomy level (review / auto-edit / full)."""
        self.autonomy = autonomy
        self.refresh()

    def set_message(self, message: str) -> None:
        """Set the short message slot (empty string clears it)."""
        self.message = message
        self.refresh()

    def set_span(self, started: float | None, ended: float | None) -> None:
        """Show a past run's duration (read-only view): fixed start and end times."""
        if started is not None and ended is not None:
            self._started, self._ended = float(started), float(ended)
            self.refresh()

    def reset(self) -> None:
        """Back to idle with the clock stopped and cleared."""
        self.state, self.node, self.message = "idle", None, ""
        self._started = self._ended = None
        self.refresh()

    def apply_event(self, event: Event) -> None:
        """Handle RunStatusChanged, StepStarted and GateOpened; ignore others."""
        if isinstance(event, RunStatusChanged):
            self.state = event.status
            if event.node:
                self.node = event.node
            if event.status == "running":
                self._start_clock()
                self._ended = None
            elif event.status in ENDED:
                if self._started is not None and self._ended is None:
                    self._ended = self._clock()
            self.message = event.reason
        elif isinstance(event, StepStarted):
            self._start_clock()
            if self.state in ("idle", "paused"):
                self.state = "running"
            self.node = event.node
            self.message = ""
        elif isinstance(event, GateOpened):
            self.state = "paused"
            if event.node:
                self.node = event.node
            prompt = event.prompt.splitlines()[0] if event.prompt else ""
            self.message = f"{event.kind}: {prompt}" if prompt else f"awaiting {event.kind}"
        self.refresh()

    def text(self, width: int | None = None) -> Text:
        """The line's content (what :meth:`render` shows) for ``width`` cells.

        The message matters most: when the labelled line does not fit, the labels go,
        then the autonomy, then the state's word (its icon stays), then the message is
        cut at a clause (or with an ellipsis).
        ``None``: the widget's own width (unbounded before it is mounted).
        """
        if width is None and self.is_mounted and self.content_size.width:
            width = self.content_size.width
        icon, style = STATE_ICONS.get(self.state, ("?", ""))
        node, clock = self.node or "—", fmt_elapsed(self.elapsed)
        state = f"{icon} {self.state}"
        layouts = (
            [(state, style), ("  node ", "dim"), (node, "bold")]
            + [("  autonomy ", "dim"), (self.autonomy, "")],
            [(state, style), (" · ", "dim"), (node, "bold"), (" · ", "dim"), (self.autonomy, "")],
            [(state, style), (" · ", "dim"), (node, "bold")],
            [(icon, style), (" ", ""), (node, "bold")],  # the icon says the state
        )
        lines = []
        for parts in layouts:
            t = Text(no_wrap=True, overflow="ellipsis")
            for part, part_style in parts:
                t.append(part, style=part_style)
            t.append("  ⏱ ", style="dim")
            t.append(clock)
            if self.message:
                t.append("  │ ", style="dim")
            room = (width - t.cell_len) if width else None
            if room is None or cell_len(self.message) <= room:
                t.append(self.message)
                return t
            lines.append((t, max(room, 0)))
        # no layout shows it whole: the fullest one that keeps what the tightest keeps
        least = cell_len(elide(self.message, lines[-1][1]))
        t, room = next((t, room) for t, room in lines if room >= least)
        t.append(elide(self.message, room))
        return t

    def render(self) -> Text:
        return self.text()

    def _start_clock(self) -> None:
        if self._started is None:
            self._started = self._clock()
