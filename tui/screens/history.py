"""History: past runs from the store; open read-only, resume, fork."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static

from engine.readmodels import RunSummary
from engine.records import RunStatus
from tui.widgets.footer import Footer
from tui.widgets.line_table import Column, LineTable

TITLE = "Runs in this repository — enter opens one read-only (diffs, tests, cost)"

if TYPE_CHECKING:
    from textual import getters

    from tui.app import LlmflowsApp


def format_tests(row: RunSummary) -> str:
    """The Tests column: the run's last result, ``4✓ 1✗`` (``—``: no test ran)."""
    t = row.tests
    return "—" if t is None else f"{t.passed}✓ {t.failed}✗"


def _duration(row: RunSummary) -> str:
    a, b = row.created_at, row.finished_at
    if not a or not b:
        return "—"
    s = max(0, int(float(b) - float(a)))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


# Fixed widths (the goal takes the rest): filling the table measures nothing.
COLUMNS = [
    Column("Goal"),
    Column("Flow", 12),
    Column("Status", max(len(s) for s in RunStatus)),
    Column("Steps", 5),
    Column("Cost", 9),  # $123.4567
    Column("Duration", 8),
    Column("Tests", 9),
]


def history_cells(row: RunSummary) -> tuple[str, ...]:
    """A run's line in the table, one string per column of :data:`COLUMNS`."""
    goal = " ".join(row.goal.split())
    if row.worktree:  # a run --worktree run: listed here, opened from its checkout
        goal = f"[{Path(row.worktree).name}] {goal}"
    return (
        goal,
        row.flow,
        str(row.status),
        str(row.steps),
        f"${row.cost_usd:.4f}",
        _duration(row),
        format_tests(row),
    )


class HistoryScreen(Screen):
    """Past runs in a table. enter opens read-only, r resumes, f forks from head."""

    if TYPE_CHECKING:
        app = getters.app(LlmflowsApp)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open"),
        Binding("r", "resume", "Resume"),
        Binding("f", "fork", "Fork"),
        Binding("g", "refresh", "Refresh"),
        Binding("escape", "back", "Back"),
    ]
    KEY_HELP: ClassVar[list[tuple[str, str]]] = [
        ("enter", "open the run read-only (plan, diffs, tests, cost)"),
        ("r", "resume a paused, stopped or crashed run"),
        ("f", "fork a new run from the run's head (in the read-only view: from any checkpoint)"),
        ("g", "refresh"),
        ("escape", "back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[RunSummary] = []

    @property
    def table(self) -> LineTable[RunSummary]:
        """The runs table."""
        return self.query_one("#runs", LineTable)

    def compose(self) -> ComposeResult:
        yield Static(TITLE, id="history-title")
        yield LineTable(COLUMNS, history_cells, id="runs")
        yield Footer()

    def on_mount(self) -> None:
        self.table.focus()
        self.action_refresh()

    @work(group="history", exclusive=True)
    async def action_refresh(self) -> None:
        kept = self.selected()
        try:
            self.rows = await self.app.api.run_summaries()
        except Exception as e:
            self.notify(f"could not read history: {e}", severity="error")
            return
        # All rows at once: the table formats and renders only those on screen.
        # A refresh keeps the cursor on the run it was on.
        at = next((n for n, r in enumerate(self.rows) if kept and r.id == kept.id), 0)
        self.table.set_rows(self.rows, cursor=at)
        if not self.rows:
            self.query_one("#history-title", Static).update(
                "No runs yet in this repository — escape goes back to start one."
            )

    def selected(self) -> RunSummary | None:
        index = self.table.cursor_row
        return self.rows[index] if index < len(self.rows) else None

    def on_line_table_row_selected(self, event: LineTable.RowSelected) -> None:
        self.action_open()

    def _target(self) -> RunSummary | None:
        """The run under the cursor to act on; None, said on screen, when there are no
        runs or the run lives in another worktree."""
        row = self.selected()
        if row is None:
            self.notify("No runs yet: escape goes back to start one.")
            return None
        if row.worktree:
            self.notify(f"this run is in its worktree: llmflows-tui -C {row.worktree}")
            return None
        return row

    def action_open(self) -> None:
        row = self._target()
        if row is not None:
            self.app.open_read_only(row.id)

    def action_resume(self) -> None:
        row = self._target()
        if row is None:
            return
        if not row.resumable:
            self.notify(f"run is {row.status}: nothing to resume (fork it instead)")
            return
        self.app.resume_run(row.id)

    def action_fork(self) -> None:
        row = self._target()
        if row is not None and row.head_checkpoint_id:
            self.app.fork_run(row.head_checkpoint_id)

    def action_back(self) -> None:
        self.app.pop_screen()
