"""DiffView: a virtualized, syntax-highlighted viewer for ``engine.git.diffmodel.Diff``.

Built on Textual's Line API (``ScrollView.render_line`` → ``Strip``) so cost is
proportional to the visible rows, not the diff size:

* ``set_diff`` only builds a flat index of small tuples (one per row: file
  header, summary, hunk header, diff line). No Rich renderables up front.
* Each visible row is highlighted on demand with pygments (one lexer per file
  extension, cached) and the resulting strip is kept in an LRU cache keyed by
  (row, width, mode, scroll_x, row state). Row state folds in "is the current
  hunk" and "is rejected", so toggling a hunk re-renders only its rows.
* Split (side-by-side) rows are indexed lazily the first time split mode is used.
* Hunks are read lazily too when the diff came listed without them (a 10,000-file
  review): with a :attr:`DiffView.loader`, a file whose hunks are not read yet shows its
  header and one "reading" row; rows on screen ask the loader for their files (and the
  next few) in one batch, and j/k/n/p into such a file wait for it. Hunk numbers stay
  those of the file (``HunkRef(path, index)``), so choices made are exact whatever was
  read when.
* Cost is bounded per line too: a line longer than ``LEX_LIMIT`` is shown plain and
  only the slice on screen is ever cut out of it, so a 5 MB line opens and scrolls
  like a short one.
* Wrap mode (``DiffView.wrap``; by default on when the terminal is narrower than
  120 columns) folds long lines onto continuation rows; the row index then maps to
  screen rows through prefix sums built once per width.
* Paired removed/added lines get word-level (intra-line) highlighting.

Keys: ``j``/``k`` next/previous hunk, ``space`` accept/reject the current hunk,
``n``/``p`` next/previous file, ``v`` unified/split, ``w`` wrap on/off. Without
wrap, ``←``/``→`` (or shift+wheel) scroll the code horizontally in both modes; a
``›`` at the right edge (``‹`` at the left) marks a line that continues off screen.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Iterable
from difflib import SequenceMatcher
from pathlib import PurePosixPath
from typing import ClassVar, Literal

from pygments.lexer import Lexer
from pygments.token import _TokenType
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.syntax import PygmentsSyntaxTheme
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.git.diffmodel import Diff, DiffLine, FileDiff, Hunk, HunkRef

DiffMode = Literal["unified", "split"]

# Row kinds in the flat index. A row is a plain tuple (kind, file, hunk, a, b):
#   file  - index into diff.files
#   hunk  - global hunk number (across files) or -1
#   a, b  - line indexes within the hunk (unified: a; split: a = old side, b = new side; -1 = empty)
ROW_FILE, ROW_SUMMARY, ROW_HUNK, ROW_LINE, ROW_EMPTY, ROW_WAITING = range(6)
Row = tuple[int, int, int, int, int]

#: Reads the hunks of the given files (awaited; e.g. ``EngineAPI.load_hunks``).
HunkLoader = Callable[[list[FileDiff]], Awaitable[None]]
#: Moves that may enter a file whose hunks are not read yet.
Move = Literal["next_hunk", "prev_hunk", "next_file", "prev_file", "file"]

STATUS_LETTERS = {
    "added": "A",
    "deleted": "D",
    "modified": "M",
    "renamed": "R",
    "copied": "C",
    "type_changed": "T",
}

# Control characters would corrupt the terminal; tabs are expanded separately.
_CONTROL = {i: "\ufffd" for i in range(32) if i != 9}
_CONTROL[13] = "␍"
_CONTROL[127] = "\ufffd"
TAB_SIZE = 4
# Lines longer than this are shown plain (no lexer) and sliced to what is visible.
LEX_LIMIT = 2000
# Word-level highlighting only between paired lines up to this length.
INTRALINE_LIMIT = 500
# ``wrap=None`` means: wrap when the terminal is narrower than this.
WRAP_AUTO_BELOW = 120
# Continuation marks at the edges of a line that is cut off horizontally.
MORE_LEFT, MORE_RIGHT = "‹", "›"

# Component classes that only set colour/attributes (no background of their own).
_FG_ONLY = {"gutter", "added-marker", "removed-marker", "rejected", "summary", "separator", "more"}
# Component classes that only add a background (over syntax colours).
_BG_ONLY = {"added-word", "removed-word"}
_WORD_RE = re.compile(r"\w+|\s+|[^\w\s]")


def clean_text(text: str) -> str:
    """Expand tabs and replace control characters so one char is one cell (mostly)."""
    if "\t" in text:
        text = text.expandtabs(TAB_SIZE)
    return text.translate(_CONTROL)


# ---------------------------------------------------------------------------
# Lexer lookup
#
# pygments.lexers.get_lexer_for_filename scans setuptools entry points for
# plugin lexers on *every* call (10-30 ms each) - too slow for the first
# screen of a diff. We match against pygments' built-in filename table
# (compiled once, thread-safe, can be warmed from a thread) and cache one
# lexer per extension.

_lexer_lock = threading.Lock()
_lexer_table: list[tuple[re.Pattern[str], str]] | None = None
_lexer_by_key: dict[str, Lexer | None] = {}


def warm_lexers() -> None:
    """Compile the filename→lexer table (~20 ms). Safe to call from a worker thread."""
    global _lexer_table
    if _lexer_table is not None:
        return
    with _lexer_lock:
        if _lexer_table is not None:
            return
        from pygments.lexers import _mapping

        table = []
        for _module, name, _aliases, filenames, _mimes in _mapping.LEXERS.values():
            for pattern in filenames:
                table.append((re.compile(fnmatch.translate(pattern)), name))
        _lexer_table = table


def lexer_for_path(path: str) -> Lexer | None:
    """Return a cached pygments lexer for ``path``, or None for plain text."""
    name = PurePosixPath(path).name
    suffix = PurePosixPath(name).suffix
    key = f"*{suffix}" if suffix else name
    if key in _lexer_by_key:
        return _lexer_by_key[key]
    warm_lexers()
    assert _lexer_table is not None
    candidates = dict.fromkeys(lname for rx, lname in _lexer_table if rx.match(name))
    lexer: Lexer | None = None
    if candidates:
        try:
            from pygments.lexers import find_lexer_class

            classes = [c for c in map(find_lexer_class, candidates) if c is not None]
            # Same tie-break as pygments without text analysis: priority, then name.
            classes.sort(key=lambda c: (-getattr(c, "priority", 0), c.__name__))
            if classes:
                lexer = classes[0](stripnl=False, ensurenl=True)
        except Exception:  # a broken lexer must never break the viewer
            lexer = None
    _lexer_by_key[key] = lexer
    return lexer


def human_size(n: int | None) -> str:
    """Format a byte count compactly (``1.2 KB``); ``?`` when unknown."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def file_summary(f: FileDiff) -> str | None:
    """One-line summary for files whose content is not shown (binary, too large, no hunks)."""
    if f.binary:
        if f.status == "added":
            return f"Binary file added ({human_size(f.new_size)})"
        if f.status == "deleted":
            return f"Binary file deleted ({human_size(f.old_size)})"
        return f"Binary file changed: {human_size(f.old_size)} → {human_size(f.new_size)}"
    if f.too_large:
        sizes = ""
        if f.old_size is not None or f.new_size is not None:
            sizes = f": {human_size(f.old_size)} → {human_size(f.new_size)}"
        return f"Diff too large to display{sizes}"
    if not f.hunks:
        if f.mode_changed:
            return f"Mode changed {f.old_mode} → {f.new_mode} (content unchanged)"
        if f.status in ("renamed", "copied"):
            return f"{'Renamed' if f.status == 'renamed' else 'Copied'} without changes"
        if f.status == "added":
            return "Empty file added"
        if f.status == "deleted":
            return "Empty file deleted"
        return "No content changes"
    return None


def path_index(files: list[FileDiff]) -> dict[str, int]:
    """Position of each file by its path (and by its old path, for renames)."""
    index: dict[str, int] = {}
    for i, f in enumerate(files):
        if f.old_path:
            index.setdefault(f.old_path, i)
        index[f.path] = i
    return index


def shows_hunks(f: FileDiff) -> bool:
    """Whether the file's hunks are displayed (and navigable / reviewable); never reads
    them (a listed text file with changed lines has at least one)."""
    return not (f.binary or f.too_large) and (not f.hunks_loaded or bool(f.hunks))


class DiffView(ScrollView, can_focus=True):
    """Virtualized diff viewer with per-hunk accept/reject.

    Public API: :meth:`set_diff`, :meth:`accepted_hunks`, :meth:`rejected_hunks`,
    :meth:`current_hunk`, :meth:`jump_to_file`, :meth:`toggle_current_hunk`,
    :meth:`set_hunk_accepted`, :meth:`set_mode`, :meth:`toggle_mode`,
    :meth:`next_hunk` / :meth:`prev_hunk`, :meth:`next_file` / :meth:`prev_file`.

    Messages: :class:`DiffView.HunkToggled`, :class:`DiffView.CurrentHunkChanged`,
    :class:`DiffView.HunksRead`.
    """

    #: Files whose hunks a front end reads together with the listing: a tall screen's
    #: worth, so the first frame shows hunks and a small review is read whole.
    FIRST_FILES = 48

    #: Files beyond those on screen whose hunks are read in the same batch (a page or
    #: two of scrolling, j or n into the next file, without waiting).
    PREFETCH_FILES = 32

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "next_hunk", "Next hunk", show=False),
        Binding("k", "prev_hunk", "Prev hunk", show=False),
        # The app shows its own "space" key only while a review is open.
        Binding("space", "toggle_hunk", "Accept/reject hunk", show=False),
        # In the help screen and the palette; kept out of the footer (it is full at 120 columns).
        Binding("n", "next_file", "Next file", show=False),
        Binding("p", "prev_file", "Prev file", show=False),
        Binding("v", "toggle_mode", "Unified/split", show=False),
        Binding("w", "toggle_wrap", "Wrap lines", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "diff-view--file-header",
        "diff-view--hunk-header",
        "diff-view--gutter",
        "diff-view--added",
        "diff-view--removed",
        "diff-view--added-marker",
        "diff-view--removed-marker",
        "diff-view--current",
        "diff-view--rejected",
        "diff-view--summary",
        "diff-view--separator",
        "diff-view--empty-side",
        "diff-view--added-word",
        "diff-view--removed-word",
        "diff-view--more",
    }

    DEFAULT_CSS = """
    DiffView {
        background: $surface;
        color: $foreground;
        overflow: auto auto;
        & > .diff-view--file-header { background: $primary 30%; text-style: bold; }
        & > .diff-view--hunk-header { background: $boost; color: $text-accent; }
        & > .diff-view--gutter { color: $text-muted; }
        & > .diff-view--added { background: $success 18%; }
        & > .diff-view--removed { background: $error 18%; }
        & > .diff-view--added-marker { color: $text-success; text-style: bold; }
        & > .diff-view--removed-marker { color: $text-error; text-style: bold; }
        & > .diff-view--current { color: $accent; background: $accent 15%; }
        & > .diff-view--rejected { color: $text-muted; text-style: strike dim; }
        & > .diff-view--summary { color: $text-muted; text-style: italic; }
        & > .diff-view--separator { color: $panel-lighten-2; }
        & > .diff-view--empty-side { background: $panel 40%; }
        & > .diff-view--added-word { background: $success 45%; }
        & > .diff-view--removed-word { background: $error 45%; }
        & > .diff-view--more { color: $text-warning; text-style: bold; }
        &:focus { background-tint: $foreground 3%; }
    }
    """

    wrap: reactive[bool | None] = reactive(None)
    """Fold long lines onto continuation rows: True/False, or None (the default) for
    "on when the terminal is narrower than ``WRAP_AUTO_BELOW`` columns"."""

    class HunkToggled(Message):
        """A hunk was accepted or rejected (by key, click or API)."""

        def __init__(self, diff_view: DiffView, ref: HunkRef, accepted: bool) -> None:
            super().__init__()
            self.diff_view = diff_view
            self.ref = ref
            self.accepted = accepted

        @property
        def control(self) -> DiffView:
            return self.diff_view

    class CurrentHunkChanged(Message):
        """The current (highlighted) hunk changed; ``ref`` is None for an empty diff."""

        def __init__(self, diff_view: DiffView, ref: HunkRef | None) -> None:
            super().__init__()
            self.diff_view = diff_view
            self.ref = ref

        @property
        def control(self) -> DiffView:
            return self.diff_view

    class HunksRead(Message):
        """Hunks of ``paths`` were read and are shown (hunks rejected by key among them)."""

        def __init__(self, diff_view: DiffView, paths: list[str]) -> None:
            super().__init__()
            self.diff_view = diff_view
            self.paths = paths

        @property
        def control(self) -> DiffView:
            return self.diff_view

    def __init__(
        self,
        diff: Diff | None = None,
        *,
        mode: DiffMode = "unified",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._mode: DiffMode = mode
        self._diff = Diff()
        self._hunks: list[tuple[int, int]] = []  # global hunk -> (file idx, hunk idx)
        self._accepted: list[bool] = []
        self._file_rejected: list[int] = []  # rejected hunk count per file (header state)
        self._file_first_hunk: list[int] = []  # global index of each file's first hunk, or -1
        self._file_index: dict[str, int] = {}  # path (and old path) -> file index
        self._vstarts: list[int] | None = None  # wrap: first screen row of each row (+ total)
        self._vkey: tuple | None = None  # (mode, width) the screen rows were built for
        self._word_cache: LRUCache[tuple[int, int], dict[int, list[tuple[int, int]]]] = LRUCache(
            256
        )
        self._rows: dict[str, list[Row]] = {}
        self._hunk_rows: dict[str, list[int]] = {}
        self._file_rows: dict[str, list[int]] = {}
        self._current = -1
        self._file_cursor = 0
        self._gutter_digits = 1
        self._max_no = 1
        self._max_text = 0
        self._line_cache: LRUCache[tuple, Strip] = LRUCache(512)
        self._token_cache: LRUCache[tuple[int, int, int], list[tuple[str, Style]]] = LRUCache(1024)
        self.loader: HunkLoader | None = None
        """Reads hunks of files listed without them; None: they are read when first shown
        (on this thread)."""
        self._waiting: set[int] = set()  # files shown without their hunks yet
        self._wanted: set[int] = set()  # waiting files on screen, to read in the next batch
        self._reading: set[int] = set()  # waiting files a batch is reading now
        self._failed: set[int] = set()  # files whose read failed (not asked again)
        self._rejected_keys: dict[str, set[str]] = {}  # path -> keys to reject on arrival
        self._styles: dict[str, Style] = {}
        self._token_styles: dict[_TokenType, Style] = {}
        if diff is not None:
            self.set_diff(diff)

    # ------------------------------------------------------------------ public API

    @property
    def diff(self) -> Diff:
        """The diff being shown."""
        return self._diff

    @property
    def mode(self) -> DiffMode:
        """``"unified"`` or ``"split"``."""
        return self._mode

    @property
    def row_count(self) -> int:
        """Number of rows in the current mode (virtual height)."""
        return len(self._current_rows())

    def set_diff(
        self,
        diff: Diff,
        accepted: set[HunkRef] | None = None,
        *,
        rejected: Iterable[HunkRef] = (),
    ) -> None:
        """Show ``diff``. ``accepted`` = hunks to mark accepted (None: all accepted);
        ``rejected`` = hunks to mark rejected by content key (``HunkRef.key``), in files
        shown now or when their hunks are read.

        Cheap: builds a flat index of rows; highlighting happens per visible row, and
        with a :attr:`loader` hunks are read only for the files shown.
        """
        self._diff = diff
        self._rejected_keys = {}
        for ref in rejected:
            self._rejected_keys.setdefault(ref.path, set()).add(ref.key)
        self._waiting = set()
        self._wanted.clear()
        self._reading.clear()
        self._failed.clear()
        self._max_no = 1
        self._max_text = 0
        off: set[tuple[int, int]] = set()
        if accepted is not None:
            for fi, f in enumerate(diff.files):
                if self._waits(f) or not shows_hunks(f):
                    continue
                off.update(
                    (fi, hi)
                    for hi, h in enumerate(f.hunks)
                    if HunkRef(f.path, h.index) not in accepted
                )
        self._index(off, None)
        self._file_index = path_index(diff.files)
        self._word_cache.clear()
        self._vstarts = self._vkey = None
        self._rows.clear()
        self._hunk_rows.clear()
        self._file_rows.clear()
        self._line_cache.clear()
        self._token_cache.clear()
        self._build_rows(self._mode)
        self._current = 0 if self._hunks else -1
        self._file_cursor = 0  # file that n/p step from (may have no hunks)
        self._update_virtual_size()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()
        self._preload_lexers()
        self.post_message(self.CurrentHunkChanged(self, self.current_hunk()))
        # Files holding hunks rejected by key are read now: their counts show at once.
        for fi in self._waiting:
            if diff.files[fi].path in self._rejected_keys:
                self._want(fi)

    def _waits(self, f: FileDiff) -> bool:
        """``f`` is shown without its hunks until the loader reads them."""
        return self.loader is not None and not f.hunks_loaded and not (f.binary or f.too_large)

    def _index(self, off: set[tuple[int, int]], fresh: Iterable[int] | None) -> None:
        """Number the hunks of the files whose hunks are read, in display order.

        ``off``: (file, hunk) pairs shown rejected. ``fresh``: files read since the last
        index (None: all) — their lines size the gutter and text, and their hunks meet
        the keys rejected before they were read.
        """
        files = self._diff.files
        keys = self._rejected_keys
        lazy = self.loader is not None
        sized = None if fresh is None else set(fresh)
        max_no, max_text = self._max_no, self._max_text
        hunks: list[tuple[int, int]] = []
        first: list[int] = []
        waiting: set[int] = set()
        for fi, f in enumerate(files):
            if f.binary or f.too_large:
                first.append(-1)
                continue
            if lazy and not f.hunks_loaded:
                waiting.add(fi)
                first.append(-1)
                continue
            file_hunks = f.hunks
            first.append(len(hunks) if file_hunks else -1)
            hunks.extend([(fi, hi) for hi in range(len(file_hunks))])
            if sized is not None and fi not in sized:
                continue
            gone = keys.pop(f.path, None) if keys else None
            for hi, h in enumerate(file_hunks):
                max_no = max(max_no, h.old_start + h.old_len, h.new_start + h.new_len)
                for ln in h.lines:
                    # Upper bound for tabs; cheap enough for 20k lines.
                    n = len(ln.text)
                    if n > max_text:
                        max_text = n + 3 * ln.text.count("\t")
                if gone and h.key(f.path) in gone:
                    off.add((fi, hi))
        self._hunks = hunks
        self._file_first_hunk = first
        self._waiting = waiting
        self._file_rejected = [0] * len(files)
        if off:
            self._accepted = [pair not in off for pair in hunks]
            for g, ok in enumerate(self._accepted):
                if not ok:
                    self._file_rejected[hunks[g][0]] += 1
        else:
            self._accepted = [True] * len(hunks)
        self._max_no, self._max_text = max_no, max_text
        self._gutter_digits = len(str(max_no))

    # ------------------------------------------------------------------ reading hunks

    def _want(self, fi: int) -> None:
        """A waiting file is on screen: read it with the others of this refresh."""
        if fi not in self._waiting or fi in self._reading or fi in self._failed:
            return
        if not self._wanted:
            self.call_later(self._read_wanted)
        self._wanted.add(fi)

    def _read_wanted(self) -> None:
        wanted = self._wanted - self._reading
        self._wanted = set()
        if wanted and self.is_attached:
            self.run_worker(self._read(self._batch(wanted)), group="diffview-hunks")

    def _batch(self, files: set[int]) -> list[int]:
        """``files`` plus the waiting files next to them (up to PREFETCH_FILES after, a
        quarter of that before, up to the next file already read): what scrolling on,
        j or n reach next."""
        out = set(files)
        ahead, behind = self.PREFETCH_FILES, self.PREFETCH_FILES // 4
        for fi, step, room in ((max(files) + 1, 1, ahead), (min(files) - 1, -1, behind)):
            while room and fi in self._waiting:
                if fi not in self._reading and fi not in self._failed:
                    out.add(fi)
                room -= 1
                fi += step
        return sorted(out)

    async def _read(self, fis: list[int]) -> None:
        """Have the loader read the hunks of files ``fis``, then show them."""
        diff, loader = self._diff, self.loader
        if loader is None or not fis:
            return
        self._reading.update(fis)
        try:
            await loader([diff.files[fi] for fi in fis])
        except Exception as e:  # the rows say so; the rest of the review goes on
            if diff is self._diff:
                self._failed.update(fis)
                self._line_cache.clear()
                self.refresh()
                self.notify(f"could not read the diff's hunks: {e}", severity="error")
            return
        finally:
            if diff is self._diff:
                self._reading.difference_update(fis)
        if diff is self._diff:
            self._hunks_arrived()

    def _hunks_arrived(self) -> None:
        """Show the hunks of waiting files that have been read, keeping the row on top,
        the current hunk and every choice."""
        files = self._diff.files
        came = sorted(fi for fi in self._waiting if files[fi].hunks_loaded)
        if not came:
            return
        rows = self._current_rows()
        top, sub = self._locate(int(self.scroll_y))
        anchor = self._by_file(rows[top]) if 0 <= top < len(rows) else None
        current = self._hunks[self._current] if self._current >= 0 else None
        off = {self._hunks[g] for g, ok in enumerate(self._accepted) if not ok}
        self._index(off, came)
        self._rows.clear()
        self._hunk_rows.clear()
        self._file_rows.clear()
        self._line_cache.clear()
        self._vstarts = self._vkey = None
        if current is not None:
            self._current = self._file_first_hunk[current[0]] + current[1]
        elif self._hunks:
            self._current = 0
            self.post_message(self.CurrentHunkChanged(self, self.current_hunk()))
        self._update_virtual_size()
        if anchor is not None:
            kind, fi, hi, a, b = anchor
            g = self._file_first_hunk[fi] + hi if hi >= 0 else -1
            y = self._y_of(self._find_row((kind, fi, g, a, b)))
            self.scroll_to(y=y + (sub if kind == ROW_LINE else 0), animate=False, immediate=True)
        self.refresh()
        self.post_message(self.HunksRead(self, [files[fi].path for fi in came]))

    def _by_file(self, row: Row) -> Row:
        """``row`` with its hunk numbered within its file (stays valid as files are read)."""
        kind, fi, g, a, b = row
        return (kind, fi, self._hunks[g][1] if g >= 0 else -1, a, b)

    def _waiting_target(self, move: Move, path: str | None) -> int | None:
        """The file whose hunks are not read yet that ``move`` would enter, if any."""
        files = self._diff.files
        if not self._waiting or not files:
            return None
        if move == "file":
            fi = self._file_index.get(path or "", -1)
        elif move in ("next_file", "prev_file"):
            step = 1 if move == "next_file" else -1
            fi = min(max(self._file_cursor + step, 0), len(files) - 1)
        else:
            step = 1 if move == "next_hunk" else -1
            if self._current >= 0:
                cf, hi = self._hunks[self._current]
                if 0 <= hi + step < len(files[cf].hunks):
                    return None  # a move within the file
                fi = cf + step
            else:
                fi = 0 if step > 0 else -1
            while (
                0 <= fi < len(files) and fi not in self._waiting and self._file_first_hunk[fi] < 0
            ):
                fi += step  # files without hunks are passed over
        return fi if fi in self._waiting and fi not in self._failed else None

    async def ready_for(self, move: Move, path: str | None = None) -> None:
        """Read the hunks ``move`` needs first (j into a file not read yet), so it lands
        where it would if every hunk had been read; ``path`` for ``"file"``."""
        fi = self._waiting_target(move, path)
        if fi is not None:
            await self._read(self._batch({fi}))

    async def read_rejected(self) -> list[str]:
        """Read the files holding hunks rejected by key before they were read (so the
        choices are all counted before an answer); returns the paths still unread."""
        files = self._diff.files
        fis = sorted(fi for fi in self._waiting if files[fi].path in self._rejected_keys)
        if fis:
            await self._read([fi for fi in fis if fi not in self._failed])
        return [files[fi].path for fi in self._waiting if files[fi].path in self._rejected_keys]

    async def show_file(self, path: str) -> bool:
        """:meth:`jump_to_file`, its hunks read first (its first hunk becomes current)."""
        await self.ready_for("file", path)
        return self.jump_to_file(path)

    def accepted_hunks(self) -> set[HunkRef]:
        """Refs of all hunks currently accepted."""
        return {self._ref(g) for g, ok in enumerate(self._accepted) if ok}

    def rejected_hunks(self) -> set[HunkRef]:
        """Refs of all hunks currently rejected."""
        return {self._ref(g) for g, ok in enumerate(self._accepted) if not ok}

    def all_hunks(self) -> list[HunkRef]:
        """Every reviewable hunk read so far (with a :attr:`loader`: of the files shown
        or passed), in display order."""
        return [self._ref(g) for g in range(len(self._hunks))]

    def current_hunk(self) -> HunkRef | None:
        """The current hunk (moved by j/k), or None if the diff has no hunks."""
        return self._ref(self._current) if self._current >= 0 else None

    def current_file(self) -> str | None:
        """Path of the current file (last jumped to with n/p/jump_to_file or of the current hunk)."""
        if not self._diff.files:
            return None
        return self._diff.files[self._file_cursor].path

    def rejected_in_file(self, path: str) -> int:
        """How many of ``path``'s hunks are rejected (0 for an unknown path)."""
        fi = self._file_index.get(path)
        return 0 if fi is None else self._file_rejected[fi]

    @property
    def wrapping(self) -> bool:
        """Whether lines are wrapped now (``wrap``, or the terminal width when it is None)."""
        if self.wrap is not None:
            return self.wrap
        return self.app.size.width < WRAP_AUTO_BELOW if self.is_attached else False

    def is_accepted(self, ref: HunkRef) -> bool:
        """Whether ``ref`` is accepted (KeyError if unknown)."""
        return self._accepted[self._global(ref)]

    def set_hunk_accepted(self, ref: HunkRef, accepted: bool) -> None:
        """Accept or reject one hunk; posts :class:`HunkToggled` if it changed."""
        self._set_accepted(self._global(ref), accepted)

    def set_all_accepted(self, accepted: bool) -> None:
        """Accept (or reject) every hunk; posts :class:`HunkToggled` for each change."""
        for g in range(len(self._hunks)):
            self._set_accepted(g, accepted)

    def toggle_current_hunk(self) -> bool | None:
        """Flip accepted/rejected on the current hunk; returns the new state (None: no hunk)."""
        if self._current < 0:
            return None
        new = not self._accepted[self._current]
        self._set_accepted(self._current, new)
        return new

    def set_current_hunk(self, ref: HunkRef, *, scroll: bool = True) -> None:
        """Make ``ref`` the current hunk (and scroll to it)."""
        self._set_current(self._global(ref), scroll=scroll)

    def next_hunk(self) -> HunkRef | None:
        """Move to the next hunk (stays on the last one)."""
        if self._hunks:
            self._set_current(min(self._current + 1, len(self._hunks) - 1))
        return self.current_hunk()

    def prev_hunk(self) -> HunkRef | None:
        """Move to the previous hunk (stays on the first one)."""
        if self._hunks:
            self._set_current(max(self._current - 1, 0))
        return self.current_hunk()

    def jump_to_file(self, path: str) -> bool:
        """Scroll to a file's header (matching new or old path); its first hunk becomes current.

        Returns False if the path is not in the diff.
        """
        fi = self._file_index.get(path)
        if fi is None:
            return False
        self._goto_file(fi)
        return True

    def next_file(self) -> str | None:
        """Jump to the next file; returns its path."""
        return self._step_file(+1)

    def prev_file(self) -> str | None:
        """Jump to the previous file; returns its path."""
        return self._step_file(-1)

    def set_mode(self, mode: DiffMode) -> None:
        """Switch between ``"unified"`` and ``"split"``, keeping the top row in place."""
        if mode not in ("unified", "split"):
            raise ValueError(f"unknown diff mode {mode!r}")
        if mode == self._mode:
            return
        anchor = self._top_row()

        def switch() -> None:
            self._mode = mode
            self._build_rows(mode)

        self._relayout(anchor, switch)

    def toggle_mode(self) -> DiffMode:
        """Flip unified ⇄ split; returns the new mode."""
        self.set_mode("split" if self._mode == "unified" else "unified")
        return self._mode

    def toggle_wrap(self) -> bool:
        """Flip wrapping (from whatever it is now); returns the new state."""
        self.wrap = not self.wrapping
        return self.wrapping

    def watch_wrap(self, old: bool | None, new: bool | None) -> None:
        self._relayout(self._top_row(), None)

    def _top_row(self) -> Row | None:
        rows = self._current_rows()
        top = self._locate(int(self.scroll_y))[0]
        return rows[top] if 0 <= top < len(rows) else None

    def _relayout(self, anchor: Row | None, change) -> None:
        """Apply ``change`` (mode/wrap), rebuild the screen rows, keep ``anchor`` on top."""
        if change is not None:
            change()
        self._vstarts = self._vkey = None
        self._line_cache.clear()
        self._update_virtual_size()
        new_top = self._y_of(self._find_row(anchor)) if anchor is not None else 0
        self.scroll_to(0, new_top, animate=False, immediate=True)
        self.refresh()

    def rendered_text(self) -> list[str]:
        """Plain text of the visible rows (for tests and debugging)."""
        return [self.render_line(y).text for y in range(self.scrollable_content_region.height)]

    # ------------------------------------------------------------------ actions

    async def action_next_hunk(self) -> None:
        await self.ready_for("next_hunk")
        self.next_hunk()

    async def action_prev_hunk(self) -> None:
        await self.ready_for("prev_hunk")
        self.prev_hunk()

    def action_toggle_hunk(self) -> None:
        self.toggle_current_hunk()

    async def action_next_file(self) -> None:
        await self.ready_for("next_file")
        self.next_file()

    async def action_prev_file(self) -> None:
        await self.ready_for("prev_file")
        self.prev_file()

    def action_toggle_mode(self) -> None:
        self.toggle_mode()

    def action_toggle_wrap(self) -> None:
        self.toggle_wrap()

    # Paging without animation: on a huge diff an animated scroll renders every
    # intermediate frame, and reviewers want the page *now*.
    def action_page_down(self) -> None:
        self.scroll_page_down(animate=False)

    def action_page_up(self) -> None:
        self.scroll_page_up(animate=False)

    def on_click(self, event: events.Click) -> None:
        """Clicking a row of a hunk makes it current; clicking the ✓/✗ mark on its
        header (or double-clicking anywhere in it) accepts / rejects it."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        rows = self._current_rows()
        row = self._locate(int(self.scroll_y) + offset.y)[0]
        if 0 <= row < len(rows) and rows[row][2] >= 0:
            self._set_current(rows[row][2], scroll=False)
            on_mark = rows[row][0] == ROW_HUNK and offset.x <= 3
            if event.chain == 2 or (on_mark and event.chain == 1):
                self.toggle_current_hunk()

    def on_mount(self) -> None:
        super().on_mount()
        # Compile the lexer table off the UI thread, before the first diff arrives.
        if _lexer_table is None:
            self.run_worker(warm_lexers, thread=True, exclusive=False, group="diffview-warm")

    def _preload_lexers(self) -> None:
        """Import the diff's lexers in a thread so paging into a new language doesn't stall."""
        if not self.is_attached:
            return
        first, waiting = self._file_first_hunk, self._waiting
        paths = [f.path for fi, f in enumerate(self._diff.files) if first[fi] >= 0 or fi in waiting]
        if paths:

            def load() -> None:
                for path in paths:
                    lexer_for_path(path)

            self.run_worker(load, thread=True, exclusive=True, group="diffview-lexers")

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._token_styles.clear()
        self._line_cache.clear()
        self._token_cache.clear()

    def on_resize(self, event: events.Resize) -> None:
        anchor = self._top_row() if self._vstarts is not None or self.wrapping else None
        self._vstarts = self._vkey = None
        if anchor is not None:
            self._relayout(anchor, None)
        else:
            self._update_virtual_size()

    # ------------------------------------------------------------------ index building

    def _ref(self, g: int) -> HunkRef:
        fi, hi = self._hunks[g]
        f = self._diff.files[fi]
        return HunkRef(f.path, f.hunks[hi].index)

    def _global(self, ref: HunkRef) -> int:
        fi = self._file_index.get(ref.path)
        if fi is not None and self._file_first_hunk[fi] >= 0:
            f = self._diff.files[fi]
            if f.path == ref.path:
                for hi, h in enumerate(f.hunks):
                    if h.index == ref.index:
                        return self._file_first_hunk[fi] + hi
        raise KeyError(ref)

    def _current_rows(self) -> list[Row]:
        return self._rows.get(self._mode) or self._build_rows(self._mode)

    def _build_rows(self, mode: DiffMode) -> list[Row]:
        if mode in self._rows:
            return self._rows[mode]
        rows: list[Row] = []
        hunk_rows: list[int] = []
        file_rows: list[int] = []
        append = rows.append
        for fi, f in enumerate(self._diff.files):
            file_rows.append(len(rows))
            append((ROW_FILE, fi, -1, -1, -1))
            g = self._file_first_hunk[fi]
            if g < 0:  # no hunks shown: not read yet, or a summary (binary, rename...)
                append((ROW_WAITING if fi in self._waiting else ROW_SUMMARY, fi, -1, -1, -1))
                continue
            for hunk in f.hunks:
                hunk_rows.append(len(rows))
                append((ROW_HUNK, fi, g, -1, -1))
                if mode == "unified":
                    rows.extend([(ROW_LINE, fi, g, li, -1) for li in range(len(hunk.lines))])
                else:
                    rows.extend((ROW_LINE, fi, g, a, b) for a, b in _pair_lines(hunk.lines))
                g += 1
        if not rows:
            append((ROW_EMPTY, -1, -1, -1, -1))
        self._rows[mode] = rows
        self._hunk_rows[mode] = hunk_rows
        self._file_rows[mode] = file_rows
        return rows

    def _find_row(self, anchor: Row) -> int:
        """Row index in the current mode showing the same thing as ``anchor``."""
        kind, fi, g, a, b = anchor
        rows = self._current_rows()
        if kind in (ROW_FILE, ROW_SUMMARY, ROW_EMPTY, ROW_WAITING):
            if fi < 0:
                return 0
            return self._file_rows[self._mode][fi] + (0 if kind == ROW_FILE else 1)
        start = self._hunk_rows[self._mode][g]
        if kind == ROW_HUNK:
            return start
        wanted = {x for x in (a, b) if x >= 0}
        for r in range(start + 1, len(rows)):
            row = rows[r]
            if row[2] != g:
                break
            if row[3] in wanted or row[4] in wanted:
                return r
        return start

    def _update_virtual_size(self) -> None:
        width = self.scrollable_content_region.width
        starts = self._screen_rows()
        height = len(self._current_rows()) if starts is None else starts[-1]
        if starts is not None:
            pass  # wrapped: nothing sticks out to the right
        elif self._mode == "unified":
            width = max(width, self._text_x() + self._max_text + 1)
        else:
            width = max(width, width + self._max_text - self._side_text_width(width) + 1)
        size = Size(width, height)
        if size != self.virtual_size:
            self.virtual_size = size
            if self.is_attached:
                # Scrollbars follow at once (a wrap toggle changes the height without a
                # layout pass, and scroll_to would clamp to the old size).
                self._scroll_update(size)

    def _text_x(self) -> int:
        """Column where unified line text starts (indicator + gutter + marker)."""
        return 2 + 2 * (self._gutter_digits + 1) + 2

    def _text_width(self, width: int) -> int:
        """Cells for code in unified mode."""
        return max(8, width - self._text_x())

    def _side_text_width(self, width: int) -> int:
        """Cells for code on each side of split mode (the narrower, right side)."""
        return max(4, (width - 2) - (width - 2) // 2 - (self._gutter_digits + 1) - 2)

    # ------------------------------------------------------------------ wrapped screen rows

    def _screen_rows(self) -> list[int] | None:
        """When wrapping: first screen row of every row, plus the total (else None)."""
        if not self.wrapping:
            return None
        width = self.scrollable_content_region.width
        key = (self._mode, width)
        if self._vstarts is not None and self._vkey == key:
            return self._vstarts
        rows = self._current_rows()
        files = self._diff.files
        hunks = self._hunks
        wide = self._text_width(width) if self._mode == "unified" else self._side_text_width(width)
        starts = [0] * (len(rows) + 1)
        y = 0
        for r, (kind, fi, g, a, b) in enumerate(rows):
            starts[r] = y
            if kind != ROW_LINE:
                y += 1
                continue
            lines = files[fi].hunks[hunks[g][1]].lines
            n = _cells(lines[a].text) if a >= 0 else 0
            if b >= 0 and b != a:
                n = max(n, _cells(lines[b].text))
            y += max(1, -(-n // wide))
        starts[-1] = y
        stale = self._vkey is not None
        self._vstarts, self._vkey = starts, key
        if stale:  # the width changed under us (e.g. a scrollbar came or went)
            self.call_later(self._update_virtual_size)
        return starts

    def _locate(self, y: int) -> tuple[int, int]:
        """Screen row ``y`` (virtual) -> (row index, continuation number)."""
        starts = self._screen_rows()
        if starts is None:
            return y, 0
        if y >= starts[-1]:
            return len(starts) - 1 + (y - starts[-1]), 0
        r = bisect_right(starts, y) - 1
        return r, y - starts[r]

    def _y_of(self, row: int) -> int:
        """First screen row (virtual) of row index ``row``."""
        starts = self._screen_rows()
        if starts is None:
            return row
        return starts[min(row, len(starts) - 1)]

    # ------------------------------------------------------------------ navigation internals

    def _set_current(self, g: int, *, scroll: bool = True) -> None:
        if not self._hunks:
            return
        changed = g != self._current
        self._current = g
        self._file_cursor = self._hunks[g][0]
        if scroll:
            self._scroll_to_hunk(g)
        if changed:
            self.refresh()
            self.post_message(self.CurrentHunkChanged(self, self.current_hunk()))

    def _scroll_to_hunk(self, g: int) -> None:
        row = self._hunk_rows[self._mode][g]
        fi, hi = self._hunks[g]
        # One row above the header: the file header for a file's first hunk,
        # a line of the previous hunk otherwise.
        top = self._y_of(max(0, row - 1))
        height = self.scrollable_content_region.height
        last = self._y_of(row + len(self._diff.files[fi].hunks[hi].lines) + 1) - 1
        if int(self.scroll_y) <= top and last < int(self.scroll_y) + height:
            return  # whole hunk already visible: do not jump around
        self.scroll_to(y=max(0, top), animate=False, immediate=True)

    def _goto_file(self, fi: int) -> None:
        self._build_rows(self._mode)
        self._file_cursor = fi
        if self._file_first_hunk[fi] >= 0:
            self._set_current(self._file_first_hunk[fi], scroll=False)
        self.scroll_to(y=self._y_of(self._file_rows[self._mode][fi]), animate=False, immediate=True)

    def _step_file(self, step: int) -> str | None:
        files = self._diff.files
        if not files:
            return None
        fi = min(max(self._file_cursor + step, 0), len(files) - 1)
        self._goto_file(fi)
        return files[fi].path

    def _set_accepted(self, g: int, accepted: bool) -> None:
        if self._accepted[g] == accepted:
            return
        self._accepted[g] = accepted
        self._file_rejected[self._hunks[g][0]] += -1 if accepted else 1
        self.refresh()
        self.post_message(self.HunkToggled(self, self._ref(g), accepted))

    # ------------------------------------------------------------------ rendering

    def _base(self) -> Style:
        """The widget's own style (cached: computing it costs more than a cached row)."""
        style = self._styles.get("")
        if style is None:
            style = self._styles[""] = self.rich_style
        return style

    def _style(self, name: str) -> Style:
        try:
            return self._styles[name]
        except KeyError:
            full = self.get_component_rich_style(f"diff-view--{name}")
            if name in _FG_ONLY:
                # Foreground-only components must not paint the widget background
                # over the added/removed row colour. The full style has the
                # alpha-blended colour; the partial one has just the attributes.
                partial = self.get_component_rich_style(f"diff-view--{name}", partial=True)
                style = Style(color=full.color) + partial.without_color
            elif name in _BG_ONLY:
                style = Style(bgcolor=full.bgcolor)  # keeps the syntax colour on top
            else:
                style = full
            self._styles[name] = style
            return style

    def _token_style(self, token: _TokenType) -> Style:
        try:
            return self._token_styles[token]
        except KeyError:
            pass
        if not self._token_styles:
            dark = getattr(self.app.current_theme, "dark", True)
            self._pyg_theme = PygmentsSyntaxTheme("monokai" if dark else "default")
        full = self._pyg_theme.get_style_for_token(token)
        # Keep the foreground only: the row background shows added/removed.
        style = Style(color=full.color, bold=full.bold, italic=full.italic)
        self._token_styles[token] = style
        return style

    def _tokens(self, fi: int, g: int, li: int, line: DiffLine) -> list[tuple[str, Style]]:
        """Highlighted pieces of a short line (see LEX_LIMIT), word changes emphasised."""
        key = (fi, self._hunks[g][1], li)  # by file and hunk: stays right as files are read
        cached = self._token_cache.get(key)
        if cached is not None:
            return cached
        text = clean_text(line.text)
        lexer = lexer_for_path(self._diff.files[fi].path) if line.kind != "\\" else None
        if lexer is None or not text:
            result = [(text, Style.null())]
        else:
            result = []
            token_style = self._token_style
            try:
                for token, value in lexer.get_tokens(text):
                    if value:
                        result.append((value.replace("\n", ""), token_style(token)))
            except Exception:  # lexers can raise on odd input; show plain text
                result = [(text, Style.null())]
        changed = self._word_changes(fi, g).get(li)
        if changed:
            word = self._style("added-word" if line.kind == "+" else "removed-word")
            result = _emphasise(result, changed, word)
        self._token_cache.set(key, result)
        return result

    def _word_changes(self, fi: int, g: int) -> dict[int, list[tuple[int, int]]]:
        """Changed character ranges of paired -/+ lines of hunk ``g`` (cached per hunk)."""
        hi = self._hunks[g][1]
        cached = self._word_cache.get((fi, hi))
        if cached is None:
            cached = _intraline(self._diff.files[fi].hunks[hi].lines)
            self._word_cache.set((fi, hi), cached)
        return cached

    def render_line(self, y: int) -> Strip:
        """Line API: render one visible screen row (cached)."""
        scroll_x, scroll_y = self.scroll_offset
        rows = self._current_rows()
        row_index, sub = self._locate(scroll_y + y)
        width = self.scrollable_content_region.width
        if row_index >= len(rows) or width <= 0:
            blank = self._line_cache.get(("blank", width))
            if blank is None:
                blank = Strip.blank(width, self._base())
                self._line_cache.set(("blank", width), blank)
            return blank
        row = rows[row_index]
        kind, fi, g = row[0], row[1], row[2]
        if kind == ROW_WAITING:
            self._want(fi)
        if kind == ROW_FILE:
            state: object = self._file_rejected[fi]
        elif g >= 0:
            state = (g == self._current, self._accepted[g])
        else:
            state = None
        wrapping = self._screen_rows() is not None
        x = 0 if wrapping else scroll_x
        key = (row_index, sub, width, self._mode, x, state, wrapping)
        strip = self._line_cache.get(key)
        if strip is None:
            # One Strip per row, built from a flat segment list: intermediate
            # Strips carry their own caches and would multiply the objects the
            # garbage collector has to walk (visible as page-down stalls).
            strip = Strip(self._render_row(row, width, x, sub if wrapping else None), width)
            self._line_cache.set(key, strip)
        return strip

    def _render_row(self, row: Row, width: int, scroll_x: int, sub: int | None) -> list[Segment]:
        """Segments of one screen row; ``sub`` is the continuation number when wrapping."""
        kind, fi, g, a, b = row
        base = self._base()
        if kind == ROW_EMPTY:
            return _fit([Segment(" No changes", base + self._style("summary"))], width, base)
        f = self._diff.files[fi]
        if kind == ROW_FILE:
            return self._render_file_header(f, fi, width)
        if kind == ROW_SUMMARY:
            style = base + self._style("summary")
            return _fit([Segment("   " + (file_summary(f) or ""), style)], width, base)
        if kind == ROW_WAITING:
            style = base + self._style("summary")
            said = "hunks could not be read" if fi in self._failed else "reading hunks…"
            return _fit([Segment(f"   {said}", style)], width, base)
        current = g == self._current
        rejected = not self._accepted[g]
        hunk = f.hunks[self._hunks[g][1]]
        indicator = Segment("▌" if current else " ", base + self._style("current"))
        if kind == ROW_HUNK:
            style = base + self._style("hunk-header")
            if current:
                style += self._style("current")
            mark = "✗ rejected  " if rejected else "✓ "
            return _fit([indicator, Segment(f"{mark}{hunk.header}", style)], width, style)
        if self._mode == "unified":
            return self._render_unified(fi, g, hunk, a, width, scroll_x, sub, indicator, rejected)
        left_w = (width - 2) // 2
        right_w = width - 2 - left_w
        sep = Segment("│", base + self._style("separator"))
        side = self._side_text_width(width)
        return [
            indicator,
            *self._split_side(
                fi, g, hunk, a, left_w, side, scroll_x, sub, old_side=True, rejected=rejected
            ),
            sep,
            *self._split_side(
                fi, g, hunk, b, right_w, side, scroll_x, sub, old_side=False, rejected=rejected
            ),
        ]

    def _render_file_header(self, f: FileDiff, fi: int, width: int) -> list[Segment]:
        style = self._base() + self._style("file-header")
        letter = STATUS_LETTERS.get(f.status, "?")
        if f.old_path and f.old_path != f.path:
            name = f"{f.old_path} → {f.path}"
        else:
            name = f.path
        parts = [f" {letter} {name}"]
        if f.binary:
            parts.append("[binary]")
        elif shows_hunks(f):
            parts.append(f"+{f.additions} -{f.deletions}")
        if f.mode_changed:
            parts.append(f"mode {f.old_mode} → {f.new_mode}")
        elif f.status == "added" and f.new_mode and f.new_mode != "100644":
            parts.append(f"mode {f.new_mode}")
        rejected = self._file_rejected[fi]
        if rejected:
            parts.append(f"({rejected}/{len(f.hunks)} hunks rejected)")
        return _fit([Segment("  ".join(parts), style)], width, style)

    def _line_segments(
        self,
        fi: int,
        g: int,
        li: int,
        line: DiffLine,
        bg: Style,
        rejected: bool,
    ) -> list[Segment]:
        if line.kind == "\\":
            return [Segment(clean_text(line.text), bg + self._style("summary"))]
        extra = self._style("rejected") if rejected else None
        segs = []
        for text, tok in self._tokens(fi, g, li, line):
            style = bg + tok
            if extra is not None:
                style += extra
            segs.append(Segment(text, style))
        return segs

    def _code(
        self,
        fi: int,
        g: int,
        li: int,
        line: DiffLine,
        bg: Style,
        rejected: bool,
        start: int,
        width: int,
        marks: bool,
    ) -> list[Segment]:
        """Exactly ``width`` cells of a line's code from cell ``start``.

        Long lines are never lexed or copied whole: only the slice on screen is cut
        out. With ``marks``, a line continuing past either edge shows ‹ / ›.
        """
        if len(line.text) > LEX_LIMIT and line.kind != "\\":
            style = bg + self._style("rejected") if rejected else bg
            # Character offsets stand in for cells here (tabs are expanded per slice).
            body = [Segment(clean_text(line.text[start : start + width]), style)]
            total = len(line.text)
        else:
            body = self._line_segments(fi, g, li, line, bg, rejected)
            total = Segment.get_line_length(body)
            if start or total > width:
                body = _cut(body, start, start + width)
        body = _fit(body, width, bg)
        if marks and width > 2 and (start > 0 or total > start + width):
            more = bg + self._style("more")
            left = [Segment(MORE_LEFT, more)] if start > 0 else _cut(body, 0, 1)
            right = [Segment(MORE_RIGHT, more)] if total > start + width else _cut(body, width - 1)
            body = [*left, *_cut(body, 1, width - 1), *right]
        return body

    def _line_bg(self, kind: str) -> tuple[Style, Style]:
        """(row background, marker style) for a line kind."""
        base = self._base()
        if kind == "+":
            bg = base + self._style("added")
            return bg, bg + self._style("added-marker")
        if kind == "-":
            bg = base + self._style("removed")
            return bg, bg + self._style("removed-marker")
        return base, base

    def _render_unified(
        self,
        fi: int,
        g: int,
        hunk: Hunk,
        li: int,
        width: int,
        scroll_x: int,
        sub: int | None,
        indicator: Segment,
        rejected: bool,
    ) -> list[Segment]:
        line = hunk.lines[li]
        d = self._gutter_digits
        bg, marker_style = self._line_bg(line.kind)
        marker: str = " "
        if sub:  # a continuation row of a wrapped line: no numbers, no marker
            old = new = ""
        else:
            old = "" if line.old_no is None else str(line.old_no)
            new = "" if line.new_no is None else str(line.new_no)
            marker = line.kind if line.kind in "+-" else " "
            if rejected and line.kind in "+-":
                marker = "✗"
        text_x = self._text_x()
        head = [
            indicator,
            Segment(f" {old:>{d}} {new:>{d}} ", bg + self._style("gutter")),
            Segment(f"{marker} ", marker_style),
        ]
        if width <= text_x:
            return _fit(head, width, bg)
        code_w = width - text_x
        start = scroll_x if sub is None else sub * self._text_width(width)
        body = self._code(fi, g, li, line, bg, rejected, start, code_w, marks=sub is None)
        return head + body

    def _split_side(
        self,
        fi: int,
        g: int,
        hunk: Hunk,
        li: int,
        width: int,
        text_w: int,
        scroll_x: int,
        sub: int | None,
        *,
        old_side: bool,
        rejected: bool,
    ) -> list[Segment]:
        if li < 0:
            return [Segment(" " * width, self._base() + self._style("empty-side"))]
        d = self._gutter_digits
        line = hunk.lines[li]
        bg, marker_style = self._line_bg(line.kind)
        start = scroll_x if sub is None else sub * text_w
        if sub and start >= _cells(line.text):
            return [Segment(" " * width, bg)]  # the other side wraps further
        no = line.old_no if old_side else line.new_no
        number = "" if no is None or line.kind == "\\" or sub else str(no)
        marker: str = line.kind if line.kind in "+-" and not sub else " "
        if rejected and line.kind in "+-" and not sub:
            marker = "✗"
        head = [
            Segment(f"{' ' if old_side else ''}{number:>{d}} ", bg + self._style("gutter")),
            Segment(f"{marker} ", marker_style),
        ]
        head_w = Segment.get_line_length(head)
        if width <= head_w:
            return _fit(head, width, bg)
        code = self._code(fi, g, li, line, bg, rejected, start, width - head_w, sub is None)
        return head + code


def _cut(segments: list[Segment], start: int, end: int | None = None) -> list[Segment]:
    """The cells [start, end) of a segment line (fewer if the line is shorter)."""
    if end is None:
        end = Segment.get_line_length(segments)
    if end <= start:
        return []
    pieces = list(Segment.divide(segments, [start, end]))
    return pieces[1] if len(pieces) > 1 else []


def _fit(segments: list[Segment], width: int, style: Style) -> list[Segment]:
    """Crop or pad a segment list to exactly ``width`` cells."""
    return Segment.adjust_line_length(segments, width, style, pad=True)


def _cells(text: str) -> int:
    """Cells a line's code takes (as shown: tabs expanded); long lines count characters."""
    if len(text) > LEX_LIMIT:
        return len(text)
    return cell_len(clean_text(text))


def _intraline(lines: list[DiffLine]) -> dict[int, list[tuple[int, int]]]:
    """Changed character ranges (of the cleaned text) for each paired -/+ line of a hunk."""
    out: dict[int, list[tuple[int, int]]] = {}
    for a, b in _pair_lines(lines):
        if a < 0 or b < 0 or lines[a].kind != "-" or lines[b].kind != "+":
            continue
        old, new = lines[a].text, lines[b].text
        if len(old) > INTRALINE_LIMIT or len(new) > INTRALINE_LIMIT:
            continue
        changed = word_diff(clean_text(old), clean_text(new))
        if changed is not None:
            out[a], out[b] = changed
    return out


def word_diff(old: str, new: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
    """Character ranges that differ word by word between two lines: (old's, new's).

    None when the lines are mostly different (emphasising everything says nothing).
    """
    a, b = _WORD_RE.findall(old), _WORD_RE.findall(new)
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.ratio() < 0.4:
        return None
    a_at = [0]
    for w in a:
        a_at.append(a_at[-1] + len(w))
    b_at = [0]
    for w in b:
        b_at.append(b_at[-1] + len(w))
    old_ranges: list[tuple[int, int]] = []
    new_ranges: list[tuple[int, int]] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if i2 > i1:
            old_ranges.append((a_at[i1], a_at[i2]))
        if j2 > j1:
            new_ranges.append((b_at[j1], b_at[j2]))
    return old_ranges, new_ranges


def _emphasise(
    tokens: list[tuple[str, Style]], ranges: list[tuple[int, int]], extra: Style
) -> list[tuple[str, Style]]:
    """Split highlighted tokens at range edges and add ``extra`` inside the ranges."""
    out: list[tuple[str, Style]] = []
    pos = 0
    k = 0
    for text, style in tokens:
        end = pos + len(text)
        cut = pos
        while k < len(ranges) and ranges[k][0] < end:
            r0, r1 = ranges[k]
            if r0 > cut:
                out.append((text[cut - pos : r0 - pos], style))
                cut = r0
            stop = min(r1, end)
            if stop > cut:
                out.append((text[cut - pos : stop - pos], style + extra))
                cut = stop
            if r1 <= end:
                k += 1
            else:
                break
        if cut < end:
            out.append((text[cut - pos :], style))
        pos = end
    return out


def _pair_lines(lines: list[DiffLine]) -> Iterable[tuple[int, int]]:
    """Pair a hunk's lines for side-by-side display.

    Context lines appear on both sides; a run of removals followed by a run of
    additions is shown row by row (old left, new right). A "\\ No newline"
    marker stays with the side of the line it annotates.
    """
    n = len(lines)
    i = 0
    while i < n:
        kind = lines[i].kind
        if kind == " ":
            yield i, i
            i += 1
            continue
        if kind == "\\":
            yield i, i
            i += 1
            continue
        dels: list[int] = []
        while i < n and (lines[i].kind == "-" or (lines[i].kind == "\\" and dels)):
            if lines[i].kind == "\\" and lines[i - 1].kind != "-":
                break
            dels.append(i)
            i += 1
        adds: list[int] = []
        while i < n and (lines[i].kind == "+" or (lines[i].kind == "\\" and adds)):
            if lines[i].kind == "\\" and lines[i - 1].kind != "+":
                break
            adds.append(i)
            i += 1
        for k in range(max(len(dels), len(adds))):
            yield (dels[k] if k < len(dels) else -1), (adds[k] if k < len(adds) else -1)
