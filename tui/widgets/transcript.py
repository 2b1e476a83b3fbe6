"""Transcript: the model pane — what the agent said, the tools it called and what they
returned, and what the person told it, live or rebuilt from stored events.

Streamed tokens are batched (thousands a second would flood the pane) and wrapped at
word boundaries (``Log`` does not wrap). Tool results are collapsed to their first
line; :meth:`Transcript.toggle_expanded` shows them whole. A replayed run has no
token events (they are not stored): its answers come from the ``cost`` events'
``text``.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.reactive import reactive
from textual.widgets import Log

from engine.events import Event

_RESULT_LINES = 12  # lines of a tool result shown when expanded


@dataclass
class _Entry:
    """One block of the transcript (kept so a toggle can re-render the whole pane)."""

    kind: str  # "header" | "text" | "tool" | "user" | "note"
    text: str
    detail: str = ""  # a tool's result


class Transcript(Log):
    """The model pane.

    Public API: :meth:`apply_event` (live or ``replay=True``), :meth:`toggle_expanded`,
    :meth:`note`; :attr:`tokens` (chunks streamed in the current step),
    :attr:`expanded`, :attr:`waiting` (a model call is on its way, no answer yet).
    """

    expanded: reactive[bool] = reactive(False, init=False)
    waiting: reactive[str] = reactive("", init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=4000)
        self.tokens = 0
        self._entries: list[_Entry] = []
        self._wrap = StreamWrap()
        self._buf: list[str] = []
        self._flush_pending = False
        self._live_text = ""  # the answer being streamed (kept for re-rendering)

    # ------------------------------------------------------------------ public API
    def apply_event(self, ev: Event, replay: bool = False) -> None:
        """Add what ``ev`` says to the transcript (other events are ignored)."""
        t = ev.type
        if t == "token":
            self.tokens += 1
            self.waiting = ""
            self._buf.append(ev.text)  # type: ignore[attr-defined]
            if not self._flush_pending:
                self._flush_pending = True
                self.set_timer(0.05, self._flush)
        elif t == "model_waiting":
            self.waiting = ev.reason  # type: ignore[attr-defined]
        elif t == "cost":
            self.waiting = ""
            text = getattr(ev, "text", "")
            if replay and text:
                self._add(_Entry("text", text))
            else:
                self._end_answer()
        elif t == "tool_call":
            args = ", ".join(
                f"{k}={str(v)[:30]}".replace("\n", "⏎")
                for k, v in ev.arguments.items()  # type: ignore[attr-defined]
            )
            mark = "" if ev.ok else "✗ "  # type: ignore[attr-defined]
            self._add(_Entry("tool", f"{mark}{ev.name}({args})", ev.summary))  # type: ignore[attr-defined]
        elif t == "step_started":
            self.tokens = 0
            self._add(_Entry("header", f"── {ev.node} (attempt {ev.attempt})"))  # type: ignore[attr-defined]
        elif t == "step_finished" and ev.error:  # type: ignore[attr-defined]
            self._add(_Entry("note", f"{ev.status}: {ev.error}"))  # type: ignore[attr-defined]
        elif t == "user_message":
            self._add(_Entry("user", ev.text))  # type: ignore[attr-defined]
        elif t == "run_status" and ev.status != "running":  # type: ignore[attr-defined]
            self.waiting = ""

    def note(self, text: str) -> None:
        """A line of the app's own (e.g. why nothing is happening)."""
        self._add(_Entry("note", text))

    def toggle_expanded(self) -> None:
        """Show tool results whole / collapsed to one line."""
        self.expanded = not self.expanded

    def watch_expanded(self) -> None:
        self._rerender()

    def on_resize(self) -> None:
        if self._entries:
            self._rerender()

    # ------------------------------------------------------------------ rendering
    @property
    def _pane_width(self) -> int:
        return max(20, self.scrollable_content_region.width - 1)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._buf:
            text, self._buf = "".join(self._buf), []
            self._live_text += text
            self.write(self._wrap.feed(text, self._pane_width))

    def _end_answer(self) -> None:
        """The streamed answer is complete: keep it as an entry, end its line."""
        self._flush()
        tail = self._wrap.flush(self._pane_width)
        if self._wrap.col or tail:
            self.write(tail + "\n")
        self._wrap = StreamWrap()
        if self._live_text:
            self._entries.append(_Entry("text", self._live_text))
            self._live_text = ""

    def _add(self, entry: _Entry) -> None:
        self._end_answer()
        self._entries.append(entry)
        self.write(self._render_entry(entry))

    def _render_entry(self, e: _Entry) -> str:
        width = self._pane_width
        if e.kind == "text":
            wrap = StreamWrap()
            return wrap.feed(e.text, width) + wrap.flush(width) + "\n"
        if e.kind == "header":
            return e.text + "\n"
        if e.kind == "user":
            wrap = StreamWrap()
            body = wrap.feed(e.text, width - 4) + wrap.flush(width - 4)
            return "you › " + body.replace("\n", "\n      ") + "\n"
        if e.kind == "tool":
            out = f"  → {e.text}\n"
            lines = e.detail.strip().splitlines()
            if not lines:
                return out
            if not self.expanded:
                # the count first: a narrow pane cuts the line, never the "more" mark
                more = f"+{len(lines) - 1} " if len(lines) > 1 else ""
                return out + f"    ← {more}{lines[0][: max(8, width - 7 - len(more))]}\n"
            shown = lines[:_RESULT_LINES]
            rest = len(lines) - len(shown)
            out += "".join(f"    │ {ln[: width - 6]}\n" for ln in shown)
            return out + (f"    │ … {rest} more\n" if rest > 0 else "")
        return f"   {e.text}\n"

    def _rerender(self) -> None:
        self._flush()
        self.clear()
        self.write("".join(self._render_entry(e) for e in self._entries))
        self._wrap = StreamWrap()
        if self._live_text:
            self.write(self._wrap.feed(self._live_text, self._pane_width))


class StreamWrap:
    """Word wrapping for text that arrives in pieces (model tokens).

    :meth:`feed` returns what can be written now: whole words, with a newline put
    before a word that would cross ``width``; the word still being streamed waits
    for its end (or :meth:`flush`). Words longer than a line are cut.
    """

    def __init__(self) -> None:
        self.col = 0
        self.word = ""
        self.soft = False  # the current line began with a wrap (not a newline)

    def _place(self, width: int) -> str:
        word, self.word = self.word, ""
        if not word:
            return ""
        out = []
        if self.col and self.col + len(word) > width:
            out.append("\n")
            self.col = 0
        while self.col + len(word) > width:
            cut = width - self.col
            out.append(word[:cut] + "\n")
            word, self.col = word[cut:], 0
        out.append(word)
        self.col += len(word)
        self.soft = False
        return "".join(out)

    def feed(self, text: str, width: int) -> str:
        out: list[str] = []
        for ch in text:
            if ch == "\n":
                out.append(self._place(width) + "\n")
                self.col, self.soft = 0, False
            elif ch in " \t":
                out.append(self._place(width))
                if self.col >= width:
                    out.append("\n")  # the space ends the line
                    self.col, self.soft = 0, True
                elif self.col or not self.soft:  # indentation kept, not after a soft break
                    out.append(" ")
                    self.col += 1
            else:
                self.word += ch
                if len(self.word) >= width:
                    out.append(self._place(width))
        return "".join(out)

    def flush(self, width: int) -> str:
        return self._place(width)
