"""TestOutput: streaming test log (virtualized ``Log``) + pass/fail summary bar.

``apply_event(OutputChunk)`` appends a batch of live lines, ``CommandOutput``
(the step's stored output) shows what the live stream did not (all of it when
replaying a past run, only the tail when the head was streamed), the older
``TestOutputLine`` one line; ``apply_event(TestResult)`` updates the summary
(counts of the latest result) and the failing test list.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Log, Static

from engine.events import CommandOutput, Event, OutputChunk, TestOutputLine, TestResult


def fold_failing(ids: list[str], width: int) -> Text:
    """``✗ id`` per failing test, long ids cut at the width (never a lone ``✗`` line)."""
    width = max(8, width)
    lines: list[str] = []
    for test_id in ids:
        row = f"✗ {test_id}"
        while len(row) > width:
            lines.append(row[:width])
            row = "  " + row[width:]
        lines.append(row)
    return Text("\n".join(lines), no_wrap=True)


class FailingTests(Widget):
    """The failing test ids, folded to the pane's width (test ids have no spaces)."""

    DEFAULT_CSS = "FailingTests { height: auto; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ids: list[str] = []

    def set_ids(self, ids: list[str]) -> None:
        self.ids = list(ids)
        self.refresh(layout=True)

    def render(self) -> Text:
        return fold_failing(self.ids, self.content_size.width or 40)


class TestOutput(Vertical):
    """Streaming test output with a summary bar and the failing test ids.

    Public API: :meth:`apply_event`, :meth:`write_line`, :meth:`clear`, and the
    read-only figures :attr:`passed`, :attr:`failed`, :attr:`errors`,
    :attr:`skipped`, :attr:`failing`, :attr:`exit_code`, :meth:`summary_text`.
    """

    __test__ = False  # not a pytest test class despite the name

    DEFAULT_CSS = """
    TestOutput {
        height: 1fr;
        & > #test-summary { height: 1; padding: 0 1; background: $boost; }
        & > #test-summary.-failed { background: $error 30%; }
        & > #test-summary.-passed { background: $success 25%; }
        & > #test-failing { height: auto; max-height: 6; padding: 0 1; color: $text-error; display: none; }
        & > #test-failing.-shown { display: block; }
        & > Log { height: 1fr; }
    }
    """

    def __init__(
        self,
        *,
        max_lines: int | None = 20000,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._max_lines = max_lines
        self._step_id: int | None = None
        self._pending: list[str] = []  # lines that arrive before mount
        self._streamed: set[int] = set()  # steps whose output arrived live
        self._reset_counts()

    def _reset_counts(self) -> None:
        self.passed = 0
        self.failed = 0
        self.errors = 0
        self.skipped = 0
        self.failing: list[str] = []
        self.exit_code: int | None = None
        self.command: str = ""
        self.duration_s: float = 0.0
        self.line_count = 0

    def compose(self) -> ComposeResult:
        yield Static(self._summary(), id="test-summary")
        yield FailingTests(id="test-failing")
        # Log is a Line-API widget: thousands of lines of pytest output stay cheap.
        yield Log(max_lines=self._max_lines, auto_scroll=True)

    def on_mount(self) -> None:
        if self._pending:
            self.log_widget.write_lines(self._pending)
            self._pending.clear()
            self._keep_at_end(True)

    def _keep_at_end(self, was_at_end: bool) -> None:
        """Show the latest lines again once a layout change (summary, failing list) settles."""
        if was_at_end:
            log = self.log_widget
            self.call_after_refresh(log.scroll_end, animate=False, x_axis=False)

    @property
    def log_widget(self) -> Log:
        """The inner ``Log`` (for scrolling, ``lines``)."""
        return self.query_one(Log)

    def apply_event(self, event: Event) -> None:
        """Handle output events (append) and TestResult (summary); ignore others."""
        if isinstance(event, OutputChunk):
            self._streamed.add(event.step_id)
            self._write_lines(event.step_id, event.text.split("\n"))
        elif isinstance(event, CommandOutput):
            if event.step_id not in self._streamed:
                text = event.output  # replayed: nothing of it was shown yet
            elif event.truncated:
                text = event.output[event.tail_from :]
            else:
                return
            if text:
                self._write_lines(event.step_id, text.split("\n"))
        elif isinstance(event, TestOutputLine):
            self._write_lines(event.step_id, [event.line])
        elif isinstance(event, TestResult):
            self.passed, self.failed = event.passed, event.failed
            self.errors, self.skipped = event.errors, event.skipped
            self.failing = list(event.failing)
            self.exit_code = event.exit_code
            self.command = event.command
            self.duration_s = event.duration_s
            self._step_id = event.step_id
            self._update_summary()

    def _write_lines(self, step_id: int, lines: list[str]) -> None:
        if self._step_id is not None and step_id != self._step_id:
            lines = [f"── step {step_id} ──", *lines]
        self._step_id = step_id
        self.line_count += len(lines)
        if self.is_mounted:
            self.log_widget.write_lines(lines)
        else:
            self._pending.extend(lines)

    def write_line(self, line: str) -> None:
        """Append one line of output."""
        self.line_count += 1
        if self.is_mounted:
            self.log_widget.write_line(line.rstrip("\n"))
        else:
            self._pending.append(line.rstrip("\n"))

    def clear(self) -> None:
        """Clear the log, counts and failing list."""
        self._reset_counts()
        self._step_id = None
        self._pending.clear()
        self._streamed.clear()
        if self.is_mounted:
            self.log_widget.clear()
            self._update_summary()

    def summary_text(self) -> str:
        """The summary bar as plain text."""
        return self._summary().plain

    # ------------------------------------------------------------------ internals

    def _summary(self) -> Text:
        if self.exit_code is None:
            return Text("tests: not run yet", style="dim")
        text = Text()
        ok = self.failed == 0 and self.errors == 0 and self.exit_code == 0
        text.append("✓ PASS " if ok else "✗ FAIL ", style="bold green" if ok else "bold red")
        text.append(f"{self.passed} passed", style="green")
        text.append(f", {self.failed} failed", style="bold red" if self.failed else "")
        # zero errors / skipped are left out: the pane is narrow and the counts matter
        if self.errors:
            text.append(f", {self.errors} errors", style="bold red")
        if self.skipped:
            text.append(f", {self.skipped} skipped", style="yellow")
        text.append(f"  ({self.duration_s:.1f}s, exit {self.exit_code})", style="dim")
        return text

    def _update_summary(self) -> None:
        # The failing list above the log shows/hides and changes the log's height: the
        # log follows its output (auto_scroll), so it must still end on its last line.
        was_at_end = self.log_widget.auto_scroll
        summary = self.query_one("#test-summary", Static)
        summary.update(self._summary())
        ok = (
            self.exit_code is not None
            and self.failed == 0
            and self.errors == 0
            and self.exit_code == 0
        )
        summary.set_class(self.exit_code is not None and not ok, "-failed")
        summary.set_class(ok, "-passed")
        failing = self.query_one("#test-failing", FailingTests)
        failing.set_ids(self.failing)
        failing.set_class(bool(self.failing), "-shown")
        self._keep_at_end(was_at_end)
