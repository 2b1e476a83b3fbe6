"""LineTable: a read-only table of text rows on the Line API — virtualized.

Built on ``ScrollView.render_line``: :meth:`LineTable.set_rows` keeps the list of
items and sets the virtual height; nothing is measured or formatted per row up
front, and a frame turns only the items on screen into cells and strips. So 1,000
rows open as fast as 40, and a long list needs no loading in batches. Columns have fixed widths; one column (``width=None``)
takes what the others leave. Cells are plain text (never parsed as markup), cut
with ``…`` when too long.

A header line stays on top; a row cursor (up/down/page/home/end) with zebra
stripes; enter or a click on a row posts :class:`LineTable.RowSelected`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

PADDING = 1  # blank cells each side of a cell's text
MIN_FLEX = 12  # the flexible column never gets narrower than this

T = TypeVar("T")

# C0/C1 control characters and DEL: a cell's text never reaches the terminal as codes.
_CONTROLS = dict.fromkeys([*range(32), 127, *range(0x80, 0xA0)])


@dataclass(frozen=True)
class Column:
    """A column: header label and width in cells (None: the rest of the width)."""

    label: str
    width: int | None = None


def fit(text: str, width: int) -> str:
    """``text`` as exactly ``width`` cells: control characters dropped, padded, or cut with ``…``."""
    text = text.translate(_CONTROLS)
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…" if width > 0 else ""
    return set_cell_size(text, width)


#: The keys of a Line-API list with a row cursor (this table, the review's FileList).
ROW_CURSOR_BINDINGS: list[BindingType] = [
    Binding("down", "cursor_down", "Down", show=False),
    Binding("up", "cursor_up", "Up", show=False),
    Binding("home", "first", "First", show=False),
    Binding("end", "last", "Last", show=False),
    Binding("pagedown", "page_down", "Page down", show=False),
    Binding("pageup", "page_up", "Page up", show=False),
    Binding("enter", "select", "Select", show=False),
]


class LineTable(ScrollView, Generic[T], can_focus=True):
    """A virtualized table of items (``cells`` turns one into its strings), a row cursor.

    Public API: :meth:`set_rows`, :attr:`row_count`, :attr:`cursor_row`,
    :meth:`column_widths`. Messages: :class:`LineTable.RowSelected`.
    """

    BINDINGS: ClassVar[list[BindingType]] = ROW_CURSOR_BINDINGS

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "line-table--header",
        "line-table--cursor",
        "line-table--even-row",
    }

    # The look of Textual's DataTable with a row cursor and zebra stripes.
    DEFAULT_CSS = """
    LineTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        overflow-x: hidden;
        overflow-y: auto;
        & > .line-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .line-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .line-table--even-row { background: $surface-lighten-1 50%; }
        &:dark > .line-table--even-row { background: $surface-darken-1 40%; }
        & > .line-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .line-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .line-table--header { background-tint: $foreground 5%; }
        }
    }
    """

    cursor_row: reactive[int] = reactive(0, always_update=False)
    """Index of the row under the cursor (0 when there are no rows)."""

    class RowSelected(Message):
        """The user chose a row (enter, or a click on it)."""

        def __init__(self, table: LineTable[Any], index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

        @property
        def control(self) -> LineTable[Any]:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        cells: Callable[[T], Sequence[str]],
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = list(columns)
        self._cells = cells
        self._rows: Sequence[T] = ()
        self._cache: LRUCache[tuple, Strip] = LRUCache(256)
        self.rows_built = 0  # row strips built so far (tests check only visible rows are)
        self.virtual_size = Size(0, 1)

    # ------------------------------------------------------------------ public API

    @property
    def row_count(self) -> int:
        """Number of rows (the header not counted)."""
        return len(self._rows)

    def set_rows(self, rows: Sequence[T], cursor: int = 0) -> None:
        """Show ``rows`` (kept, not copied), replacing any, the cursor on row ``cursor``."""
        self._rows = rows
        self._cache.clear()
        self.virtual_size = Size(0, len(self._rows) + 1)
        self.set_reactive(LineTable.cursor_row, 0)
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.cursor_row = cursor
        self.refresh(layout=True)  # height may be auto: the row count matters

    def column_widths(self, width: int) -> list[int]:
        """Cell widths (padding excluded) of the columns in a table ``width`` cells wide."""
        fixed = sum(c.width for c in self.columns if c.width is not None)
        rest = width - fixed - 2 * PADDING * len(self.columns)
        return [c.width if c.width is not None else max(MIN_FLEX, rest) for c in self.columns]

    # ------------------------------------------------------------------ cursor

    def validate_cursor_row(self, value: int) -> int:
        return max(0, min(value, len(self._rows) - 1))

    def watch_cursor_row(self, old: int, new: int) -> None:
        for index in (old, new):
            self._refresh_row(index)
        # the header covers the top line: keep the cursor row below it
        self.scroll_to_region(
            Region(0, new + 1, 1, 1),
            spacing=Spacing(top=1),
            animate=False,
            immediate=True,
            force=True,
        )

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 2)

    def action_cursor_down(self) -> None:
        self.cursor_row += 1

    def action_cursor_up(self) -> None:
        self.cursor_row -= 1

    def action_first(self) -> None:
        self.cursor_row = 0

    def action_last(self) -> None:
        self.cursor_row = len(self._rows) - 1

    def action_page_down(self) -> None:
        self.cursor_row += self._page()

    def action_page_up(self) -> None:
        self.cursor_row -= self._page()

    def action_select(self) -> None:
        if self._rows:
            self.post_message(self.RowSelected(self, self.cursor_row))

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return  # a border, a scrollbar or the header
        index = int(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self._rows):
            event.stop()
            self.cursor_row = index
            self.action_select()

    def _on_focus(self, event: events.Focus) -> None:
        self.refresh()  # the focused look tints every line

    def _on_blur(self, event: events.Blur) -> None:
        self.refresh()

    # ------------------------------------------------------------------ rendering

    def _refresh_row(self, index: int) -> None:
        y = index + 1 - int(self.scroll_y)
        if 1 <= y < self.scrollable_content_region.height:
            self.refresh(Region(0, y, self.scrollable_content_region.width, 1))

    def render_line(self, y: int) -> Strip:
        """Line API: the header on line 0, then the visible rows (cached per row and look)."""
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            key: tuple = ("header", width, base)
        else:
            index = int(self.scroll_y) + y - 1
            if index >= len(self._rows) or width <= 0:
                return Strip.blank(width, base)
            key = (index, width, base, index == self.cursor_row, self.has_focus)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._build(key, width, base)
            self._cache.set(key, strip)
        return strip

    def _build(self, key: tuple, width: int, base: Style) -> Strip:
        if key[0] == "header":
            cells: Sequence[str] = [c.label for c in self.columns]
            style = base + self.get_component_rich_style("line-table--header")
        else:
            index, cursor = key[0], key[3]
            self.rows_built += 1
            cells = self._cells(self._rows[index])
            style = base
            if index % 2 == 0:
                style += self.get_component_rich_style("line-table--even-row")
            if cursor:
                style += self.get_component_rich_style("line-table--cursor")
        pad = " " * PADDING
        text = "".join(
            pad + fit(cell, w) + pad
            for cell, w in zip(cells, self.column_widths(width), strict=False)
        )
        return Strip([Segment(text, style)]).adjust_cell_length(width, style)
