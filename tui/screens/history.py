"""History: past runs from the store; open read-only, resume, fork."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from engine.readmodels import RunSummary

# Rows added before the first frame (a tall terminal's worth); the rest follow in batches.
FIRST_PAGE = 40
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

    def compose(self) -> ComposeResult:
        yield Static(TITLE, id="history-title")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key in [
            ("Goal", "goal"),
            ("Flow", "flow"),
            ("Status", "status"),
            ("Steps", "steps"),
            ("Cost", "cost"),
            ("Duration", "duration"),
            ("Tests", "tests"),
        ]:
            table.add_column(label, key=key)
        table.focus()
        self.action_refresh()

    @work(group="history", exclusive=True)
    async def action_refresh(self) -> None:
        try:
            self.rows = await self.app.api.run_summaries()
        except Exception as e:
            self.notify(f"could not read history: {e}", severity="error")
            return
        table = self.query_one(DataTable)
        table.clear()
        # the goal gets what the other columns leave (about 60 cells)
        goal_width = max(30, self.app.size.width - 64)
        for n, r in enumerate(self.rows):
            if n == FIRST_PAGE:
                # The first page goes on screen at once; a long history fills in behind it.
                frame = asyncio.get_running_loop().create_future()
                self.call_after_refresh(frame.set_result, None)
                await frame
            elif n > FIRST_PAGE and n % FIRST_PAGE == 0:
                await asyncio.sleep(0)
            goal = " ".join(r.goal.split())
            if r.worktree:  # a run --worktree run: listed here, opened from its checkout
                goal = f"[{Path(r.worktree).name}] {goal}"
            table.add_row(
                goal if len(goal) <= goal_width else goal[: goal_width - 1] + "…",
                r.flow,
                str(r.status),
                str(r.steps),
                f"${r.cost_usd:.4f}",
                _duration(r),
                format_tests(r),
                key=r.id,
            )
        if not self.rows:
            self.query_one("#history-title", Static).update(
                "No runs yet in this repository — escape goes back to start one."
            )

    def selected(self) -> RunSummary | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def _elsewhere(self, row: RunSummary | None) -> bool:
        if row is not None and row.worktree:
            self.notify(f"this run is in its worktree: llmflows-tui -C {row.worktree}")
            return True
        return False

    def action_open(self) -> None:
        row = self.selected()
        if row is not None and not self._elsewhere(row):
            self.app.open_read_only(row.id)

    def action_resume(self) -> None:
        row = self.selected()
        if row is None or self._elsewhere(row):
            return
        if not row.resumable:
            self.notify(f"run is {row.status}: nothing to resume (fork it instead)")
            return
        self.app.resume_run(row.id)

    def action_fork(self) -> None:
        row = self.selected()
        if row is not None and row.head_checkpoint_id and not self._elsewhere(row):
            self.app.fork_run(row.head_checkpoint_id)

    def action_back(self) -> None:
        self.app.pop_screen()
