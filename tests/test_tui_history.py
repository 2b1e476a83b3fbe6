"""History: every run in one LineTable that formats and paints only the rows on screen."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from engine.store import RunStore
from tests.support.tui import wait_for
from tests.test_history_summary import _add_runs
from tests.test_tui_app import make_repo
from tui.app import LlmflowsApp
from tui.screens.history import HistoryScreen
from tui.widgets.line_table import Column, LineTable

COLUMNS = [Column("Goal"), Column("Flow", 6), Column("Status", 9)]


def screen_lines(table: LineTable) -> list[str]:
    return ["".join(s.text for s in table.render_line(y)) for y in range(table.size.height)]


class TableApp(App[None]):
    def __init__(self, rows: list[tuple[str, ...]]) -> None:
        super().__init__()
        self.rows = rows
        self.chosen: list[int] = []
        self.formatted = 0

    def cells(self, row: tuple[str, ...]) -> tuple[str, ...]:
        self.formatted += 1
        return row

    def compose(self) -> ComposeResult:
        yield LineTable(COLUMNS, self.cells)

    def on_mount(self) -> None:
        table = self.query_one(LineTable)
        table.set_rows(self.rows)
        table.focus()

    def on_line_table_row_selected(self, event: LineTable.RowSelected) -> None:
        self.chosen.append(event.index)


async def test_a_thousand_rows_format_and_paint_only_the_visible_ones():
    app = TableApp([(f"goal {i}", "fix", "completed") for i in range(1000)])
    async with app.run_test(size=(60, 12)) as pilot:
        await pilot.pause()
        table = app.query_one(LineTable)
        assert table.row_count == 1000
        lines = screen_lines(table)
        assert lines[0].split() == ["Goal", "Flow", "Status"]
        assert lines[1].split() == ["goal", "0", "fix", "completed"]
        # one frame formatted the 11 rows under the header, not the 1,000
        assert app.formatted == table.rows_built <= 11
        await pilot.press("end")
        assert table.cursor_row == 999
        lines = screen_lines(table)
        assert lines[0].startswith(" Goal") and "goal 999" in lines[-1]
        await pilot.press("pageup")
        assert table.cursor_row == 989  # a page is the rows under the header, less one
        await pilot.press("home", "down", "enter")
        assert app.chosen == [1]
        await pilot.click(LineTable, offset=(2, 4))  # the 4th row: index 3
        assert app.chosen == [1, 3] and table.cursor_row == 3
        await pilot.click(LineTable, offset=(2, 0))  # the header selects nothing
        assert app.chosen == [1, 3]


async def test_cells_are_plain_text_fitted_to_their_columns():
    goal = "fix [bold]x[/bold] and [/close] \x1b[31mred " + "y" * 80
    app = TableApp([(goal, "a-long-flow-name", "paused")])
    async with app.run_test(size=(60, 5)) as pilot:
        await pilot.pause()
        row = screen_lines(app.query_one(LineTable))[1]
    # 60 cells: goal 60 - 6 - 9 - 3 * 2 = 39 cells, each cell padded by one space a side
    assert len(row) == 60 and "\x1b" not in row
    assert row[1:40] == "fix [bold]x[/bold] and [/close] [31mre…"  # never markup
    assert row[42:48] == "a-lon…" and row[50:59] == "paused   "


async def open_history(pilot, app: LlmflowsApp) -> HistoryScreen:
    """Push the history screen once the repository is open; return it with its rows in."""
    await wait_for(pilot, lambda: app.repo_root is not None)
    screen = HistoryScreen()
    await app.push_screen(screen)
    await app.workers.wait_for_complete()
    await pilot.pause()
    return screen


async def test_history_screen_lists_every_run_and_acts_on_the_selected_one(tmp_path: Path):
    repo, model = make_repo(tmp_path, [])
    with RunStore.open(repo) as store:
        _add_runs(store, 60)
    app = LlmflowsApp(str(repo), model=model)
    async with app.run_test(size=(140, 20)) as pilot:
        screen = await open_history(pilot, app)
        assert screen.table.row_count == len(screen.rows) == 60
        assert screen.selected() == screen.rows[0]
        lines = screen_lines(screen.table)
        assert lines[1].split()[2:] == ["fix", "completed", "2", "$0.7500", "—", "4✓", "0✗"]
        await pilot.press("end")
        assert screen.selected() == screen.rows[-1]
        assert screen_lines(screen.table)[-1].split()[:2] == ["goal", "0"]  # the oldest
        await pilot.press("up", "g")  # refresh: read again, the cursor stays on its run
        await app.workers.wait_for_complete()
        assert screen.selected() is not None and screen.selected().goal == "goal 1"
        assert screen_lines(screen.table)[-1].split()[:2] == ["goal", "1"]  # scrolled to it
        shown: list[str] = []
        app.notify = lambda message, *a, **k: shown.append(message)  # type: ignore[method-assign]
        await pilot.press("r")  # a completed run: nothing to resume, the screen stays
        assert shown == ["run is completed: nothing to resume (fork it instead)"]
        assert app.screen is screen


async def test_history_screen_on_an_empty_store_says_so(tmp_path: Path):
    repo, model = make_repo(tmp_path, [])
    app = LlmflowsApp(str(repo), model=model)
    async with app.run_test(size=(140, 20)) as pilot:
        screen = await open_history(pilot, app)
        assert screen.table.row_count == 0 and screen.selected() is None
        assert "No runs yet" in str(screen.query_one("#history-title").render())
        await pilot.press("enter", "r", "f", "end")  # nothing selected: nothing happens
        assert app.screen is screen
        await pilot.pause()
        said = [n.message for n in app._notifications]
        assert said.count("No runs yet: escape goes back to start one.") == 2  # r and f say so
