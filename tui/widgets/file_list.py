"""FileList: the changed files of a diff, one row each, selectable.

Row format: ``M  +12 -3  src/app.py`` (status letter, additions/deletions or a
binary marker, path; renames show ``old → new``). Selecting a row (enter or
click) posts :class:`FileList.FileSelected`; the app then calls
``DiffView.jump_to_file(path)``.
"""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from engine.git.diffmodel import Diff, FileDiff
from tui.widgets.diff_view import STATUS_LETTERS

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


class FileList(OptionList):
    """List of changed files with status letter, +/- counts and a binary marker.

    Public API: :meth:`set_diff`, :meth:`highlight_path`, :meth:`set_rejected_counts`,
    :attr:`paths`, :attr:`highlighted_path`.

    Messages: :class:`FileList.FileSelected` (enter / click on a row).
    """

    DEFAULT_CSS = """
    FileList {
        height: auto;
        max-height: 12;
    }
    """

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
        self._rejected: dict[str, int] = {}
        if diff is not None:
            self.set_diff(diff)

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
        self._rejected = {}
        self.set_options(Option(file_row(f), id=f"f{i}") for i, f in enumerate(self._files))
        if self._files:
            self.highlighted = 0

    def highlight_path(self, path: str) -> bool:
        """Move the highlight to ``path`` without posting FileSelected (keeps list and viewer in sync)."""
        for i, f in enumerate(self._files):
            if path in (f.path, f.old_path):
                if self.highlighted != i:
                    self.highlighted = i
                return True
        return False

    def set_rejected_counts(self, counts: dict[str, int]) -> None:
        """Show a ✗N marker on files with rejected hunks (``path -> count``)."""
        if counts == self._rejected:
            return
        self._rejected = dict(counts)
        for i, f in enumerate(self._files):
            self.replace_option_prompt_at_index(i, file_row(f, self._rejected.get(f.path, 0)))

    def _on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        # Re-post as a domain message: callers should not depend on option ids.
        event.stop()
        index = event.option_index
        if 0 <= index < len(self._files):
            self.post_message(self.FileSelected(self, self._files[index].path))
