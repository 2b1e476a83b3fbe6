"""FileList: the changed files of a diff, one row each, selectable — virtualized.

Row format: ``M  +12 -3  src/app.py`` (status letter, additions/deletions or a
binary marker, path; renames show ``old → new``). Selecting a row (enter or
click) posts :class:`FileList.FileSelected`; the app then calls
``DiffView.jump_to_file(path)``.

Built on the Line API (``ScrollView.render_line``): ``set_diff`` keeps a list of
files and a path index, nothing is measured up front, and only rows on screen are
turned into text. Changing one file's rejected-hunk count repaints that one row,
so a hunk toggle costs the same with 10 files or 10,000.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.git.diffmodel import Diff, FileDiff
from tui.widgets.diff_view import STATUS_LETTERS, path_index
from tui.widgets.line_table import ROW_CURSOR_BINDINGS

_STATUS_STYLES = {"A": "green", "D": "red", "M": "yellow", "R": "cyan", "C": "cyan", "T": "magenta"}


def file_row(f: FileDiff, rejected_hunks: int = 0) -> Text:
    """The display text for one file (status, counts or binary marker, path)."""
    letter = STATUS_LETTERS.get(f.status, "?")
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(letter, style=f"bold {_STATUS_STYLES.get(letter, '')}".strip())
    text.append(" ")
    if f.binary:
        text.append(" binary ".ljust(12), style="italic dim")
    elif f.too_large:
        text.append(" too large".ljust(12), style="italic dim")
    else:
        text.append(f"+{f.additions}".rjust(6), style="green")
        text.append(f" -{f.deletions}".ljust(6), style="red")
    text.append(" ")
    if f.old_path and f.old_path != f.path:
        text.append(f"{f.old_path} → {f.path}")
    else:
        text.append(f.path)
    if f.mode_changed:
        text.append(f" ({f.old_mode}→{f.new_mode})", style="dim")
    if rejected_hunks:
        text.append(f" ✗{rejected_hunks}", style="bold red")
    return text


class FileList(ScrollView, can_focus=True):
    """List of changed files with status letter, +/- counts and a binary marker.

    Public API: :meth:`set_diff`, :meth:`highlight_path`, :meth:`set_rejected_counts`,
    :meth:`set_rejected_count`, :meth:`row_text`, :attr:`paths`, :attr:`highlighted`,
    :attr:`highlighted_path`.

    Messages: :class:`FileList.FileSelected` (enter / click on a row).
    """

    BINDINGS: ClassVar[list[BindingType]] = ROW_CURSOR_BINDINGS

    COMPONENT_CLASSES: ClassVar[set[str]] = {"file-list--highlight"}

    DEFAULT_CSS = """
    FileList {
        height: auto;
        max-height: 12;
        background: $surface;
        border: tall $border-blurred;
        overflow-x: hidden;
        overflow-y: auto;
        &:focus { border: tall $border; }
        & > .file-list--highlight { background: $block-cursor-blurred-background; }
        &:focus > .file-list--highlight {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
        }
    }
    """

    highlighted: reactive[int | None] = reactive(None, always_update=False)
    """Index of the highlighted row (None when the list is empty)."""

    class FileSelected(Message):
        """The user chose a file; ``path`` is its (new) path."""

        def __init__(self, file_list: FileList, path: str) -> None:
            super().__init__()
            self.file_list = file_list
            self.path = path

        @property
        def control(self) -> FileList:
            return self.file_list

    def __init__(
        self,
        diff: Diff | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._files: list[FileDiff] = []
        self._index: dict[str, int] = {}  # path (and old path) -> row
        self._rejected: dict[str, int] = {}
        self._cache: LRUCache[tuple, Strip] = LRUCache(256)
        self.rows_built = 0  # strips built so far (tests check a toggle builds one)
        if diff is not None:
            self.set_diff(diff)

    # ------------------------------------------------------------------ public API

    @property
    def paths(self) -> list[str]:
        """Paths in display order."""
        return [f.path for f in self._files]

    @property
    def highlighted_path(self) -> str | None:
        """Path of the highlighted row, if any."""
        if self.highlighted is None or not (0 <= self.highlighted < len(self._files)):
            return None
        return self._files[self.highlighted].path

    def set_diff(self, diff: Diff) -> None:
        """Show the files of ``diff`` (replaces the list; highlights the first file)."""
        self._files = list(diff.files)
        self._index = path_index(self._files)
        self._rejected = {}
        self._cache.clear()
        self.virtual_size = Size(0, len(self._files))
        self.set_reactive(FileList.highlighted, 0 if self._files else None)
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh(layout=True)  # height is auto: the row count may have changed

    def row_text(self, index: int) -> Text:
        """The text shown on row ``index`` (rejected-hunk marker included)."""
        f = self._files[index]
        return file_row(f, self._rejected.get(f.path, 0))

    def highlight_path(self, path: str) -> bool:
        """Move the highlight to ``path`` without posting FileSelected (keeps list and viewer in sync)."""
        index = self._index.get(path)
        if index is None:
            return False
        self.highlighted = index
        return True

    def set_rejected_count(self, path: str, count: int) -> None:
        """Show ``count`` rejected hunks on ``path``'s row (0 clears it); repaints that row only."""
        if self._rejected.get(path, 0) == count:
            return
        if count:
            self._rejected[path] = count
        else:
            self._rejected.pop(path, None)
        index = self._index.get(path)
        if index is not None:
            self._refresh_row(index)

    def set_rejected_counts(self, counts: dict[str, int]) -> None:
        """Show a ✗N marker on files with rejected hunks (``path -> count``); others cleared."""
        for path in set(self._rejected) | set(counts):
            self.set_rejected_count(path, counts.get(path, 0))

    # ------------------------------------------------------------------ cursor

    def validate_highlighted(self, value: int | None) -> int | None:
        if value is None or not self._files:
            return None
        return max(0, min(value, len(self._files) - 1))

    def watch_highlighted(self, old: int | None, new: int | None) -> None:
        for index in (old, new):
            if index is not None:
                self._refresh_row(index)
        if new is not None:
            self.scroll_to_region(Region(0, new, 1, 1), animate=False, immediate=True, force=True)

    def _move(self, step: int) -> None:
        if self._files:
            self.highlighted = (self.highlighted or 0) + step

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_first(self) -> None:
        if self._files:
            self.highlighted = 0

    def action_last(self) -> None:
        if self._files:
            self.highlighted = len(self._files) - 1

    def action_page_down(self) -> None:
        self._move(max(1, self.scrollable_content_region.height - 1))

    def action_page_up(self) -> None:
        self._move(-max(1, self.scrollable_content_region.height - 1))

    def action_select(self) -> None:
        path = self.highlighted_path
        if path is not None:
            self.post_message(self.FileSelected(self, path))

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return  # on the border or a scrollbar
        row = int(self.scroll_y) + offset.y
        if 0 <= row < len(self._files):
            event.stop()
            self.highlighted = row
            self.action_select()

    # ------------------------------------------------------------------ rendering

    def _refresh_row(self, index: int) -> None:
        y = index - int(self.scroll_y)
        if 0 <= y < self.scrollable_content_region.height:
            self.refresh(Region(0, y, self.scrollable_content_region.width, 1))

    def render_line(self, y: int) -> Strip:
        """Line API: one visible row (cached by file, width, state)."""
        index = int(self.scroll_y) + y
        width = self.scrollable_content_region.width
        if index >= len(self._files) or width <= 0:
            return Strip.blank(width, self.rich_style)
        f = self._files[index]
        highlighted = index == self.highlighted
        focus = highlighted and self.has_focus  # only the cursor row looks different
        key = (index, width, highlighted, focus, self._rejected.get(f.path, 0))
        strip = self._cache.get(key)
        if strip is None:
            strip = self._build(index, width, highlighted)
            self._cache.set(key, strip)
        return strip

    def _build(self, index: int, width: int, highlighted: bool) -> Strip:
        self.rows_built += 1
        base = self.rich_style
        if highlighted:
            base += self.get_component_rich_style("file-list--highlight")
        text = self.row_text(index)
        text.truncate(width, overflow="ellipsis")
        segments = [
            Segment(s.text, base + s.style if isinstance(s.style, Style) else base)
            for s in text.render(self.app.console)
        ]
        return Strip(Segment.adjust_line_length(segments, width, base, pad=True), width)

    def _on_focus(self, event: events.Focus) -> None:
        if self.highlighted is not None:
            self._refresh_row(self.highlighted)

    def _on_blur(self, event: events.Blur) -> None:
        if self.highlighted is not None:
            self._refresh_row(self.highlighted)
