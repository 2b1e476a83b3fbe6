"""Structured diffs as data: files -> hunks -> lines.

Produced by ``engine.git.diffs`` from git, consumed by the diff viewer, per-hunk
review and the CLI ``diff --json``. Pure data; no git here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

LineKind = Literal[" ", "+", "-", "\\"]  # "\\" is "\ No newline at end of file"
FileStatus = Literal["added", "deleted", "modified", "renamed", "copied", "type_changed"]


@dataclass
class DiffLine:
    kind: LineKind
    text: str  # without the leading marker and without the trailing newline
    old_no: int | None = None
    new_no: int | None = None


@dataclass
class Hunk:
    index: int  # position within its file, 0-based
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    section: str = ""  # text after the second @@ (function context)
    lines: list[DiffLine] = field(default_factory=list)

    @property
    def header(self) -> str:
        tail = f" {self.section}" if self.section else ""
        return f"@@ -{self.old_start},{self.old_len} +{self.new_start},{self.new_len} @@{tail}"

    @property
    def additions(self) -> int:
        return sum(1 for ln in self.lines if ln.kind == "+")

    def key(self, path: str) -> str:
        """Content identity of this hunk: the same change has the same key in any diff
        from the same base (the step's own diff and the live diff with the person's
        edits elsewhere), whatever its position among the file's hunks."""
        h = hashlib.sha1(f"{path}\0{self.old_start},{self.old_len}\0".encode())
        for ln in self.lines:
            h.update(f"{ln.kind}{ln.text}\n".encode("utf-8", "surrogateescape"))
        return h.hexdigest()[:16]

    @property
    def deletions(self) -> int:
        return sum(1 for ln in self.lines if ln.kind == "-")


#: How much a hunk loader is asked to read: the one file being accessed (a loader may
#: read more when it sees a walk coming), exactly the files given, or every waiting file.
LoadScope = Literal["one", "some", "all"]
HunkLoader = Callable[[list["FileDiff"], LoadScope], None]


class _LazyHunks:
    """A file's hunks, read from git on first access when the diff was listed without them.

    ``engine.git.diffs`` lists a change set from ``--raw``/``--numstat`` (paths, modes,
    counts) and hands each file a loader with :meth:`FileDiff.defer_hunks`; callers that
    only need the file list never pay for the hunk text.
    """

    def __get__(self, obj: FileDiff | None, owner: type | None = None) -> list[Hunk]:
        if obj is None:
            # Class access: dataclasses reads the field's default here (None -> []).
            return None  # type: ignore[return-value]
        state = obj.__dict__
        loader = state.get("_load_hunks")
        if loader is not None:
            loader([obj], "one")  # sets ``obj.hunks`` (and so clears the loader)
            state["_load_hunks"] = None
        return state["_hunks"]

    def __set__(self, obj: FileDiff, value: list[Hunk] | None) -> None:
        state = obj.__dict__
        if state.get("_load_hunks") is None:
            state.pop("_counts", None)  # new hunks from the caller: count them
        state["_hunks"] = [] if value is None else value
        state["_load_hunks"] = None


@dataclass
class FileDiff:
    path: str  # new path (old path for deletions)
    status: FileStatus
    old_path: str | None = None  # set for renames/copies
    old_mode: str | None = None  # e.g. "100644", "100755", "120000" (symlink)
    new_mode: str | None = None
    binary: bool = False
    too_large: bool = False  # hunks omitted because the file diff exceeds the size cap
    hunks: _LazyHunks = _LazyHunks()
    old_size: int | None = None  # bytes, for binary summaries
    new_size: int | None = None

    def defer_hunks(self, load: HunkLoader, counts: tuple[int, int]) -> None:
        """Read the hunks only when first asked for: ``load(files, scope)`` must set the
        ``hunks`` of every file in ``files`` (see :data:`LoadScope`); one loader serves
        many files, so a batch of them is read in one go.

        ``counts`` (added, deleted lines, e.g. from ``git diff --numstat``) answer
        :attr:`additions`/:attr:`deletions` without loading.
        """
        self.__dict__["_load_hunks"] = load
        self.__dict__["_counts"] = counts

    @property
    def hunks_loaded(self) -> bool:
        """False while the hunks are still to be read from git."""
        return self.__dict__.get("_load_hunks") is None

    @property
    def additions(self) -> int:
        counts = self.__dict__.get("_counts")
        return counts[0] if counts is not None else sum(h.additions for h in self.hunks)

    @property
    def deletions(self) -> int:
        counts = self.__dict__.get("_counts")
        return counts[1] if counts is not None else sum(h.deletions for h in self.hunks)

    @property
    def mode_changed(self) -> bool:
        return bool(self.old_mode and self.new_mode and self.old_mode != self.new_mode)

    def refs(self) -> list[HunkRef]:
        """A keyed ref per hunk; a whole-file change (no hunks) is ``HunkRef(path, 0)``."""
        if not self.hunks:
            whole = f"{self.status}\0{self.old_path}\0{self.old_mode}\0{self.new_mode}"
            key = hashlib.sha1(f"{self.path}\0{whole}".encode()).hexdigest()[:16]
            return [HunkRef(self.path, 0, key)]
        return [HunkRef(self.path, h.index, h.key(self.path)) for h in self.hunks]


@dataclass
class Diff:
    files: list[FileDiff] = field(default_factory=list)
    from_ref: str | None = None  # commit/tree ids the diff was computed between
    to_ref: str | None = None  # None means the live working tree

    @property
    def additions(self) -> int:
        return sum(f.additions for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deletions for f in self.files)

    def load_hunks(self, files: Iterable[FileDiff] | None = None) -> Diff:
        """Read the hunks now, e.g. on a worker thread before a UI walks them; returns self.

        ``files`` None: every file's (one ``git diff``). Otherwise only those files' (one
        ``git diff`` limited to their paths), for a viewer that shows a few at a time.
        """
        chosen = self.files if files is None else files
        by_loader: dict[HunkLoader, list[FileDiff]] = {}
        for f in chosen:
            loader = f.__dict__.get("_load_hunks")
            if loader is not None:
                by_loader.setdefault(loader, []).append(f)
        for loader, waiting in by_loader.items():
            loader(waiting, "all" if files is None else "some")
            for f in waiting:
                f.hunks  # noqa: B018 - the access is the load (a loader that left one)
        return self

    def refs(self) -> list[HunkRef]:
        """Keyed refs of every hunk (and whole-file change), in file order."""
        return [r for f in self.files for r in f.refs()]

    def keyed(self, refs: set[HunkRef] | list[HunkRef]) -> set[HunkRef]:
        """``refs`` (path + index into this diff) with their content keys filled in.

        Only the files named in ``refs`` are read (a review of 10,000 files with two
        rejected hunks reads two files' hunks)."""
        wanted = set(refs)
        paths = {r.path for r in wanted}
        return {r for f in self.files if f.path in paths for r in f.refs() if r in wanted}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for fd, f in zip(d["files"], self.files, strict=True):
            fd["additions"], fd["deletions"] = f.additions, f.deletions
            for hd, h in zip(fd["hunks"], f.hunks, strict=True):
                hd["header"] = h.header
        d["additions"], d["deletions"] = self.additions, self.deletions
        return d


@dataclass(frozen=True)
class HunkRef:
    """Names one hunk of one file, for per-hunk accept/reject.

    ``index`` is the hunk's position in the diff it was taken from; ``key`` (from
    :meth:`Hunk.key`) names its content, so the engine finds the same change in
    another diff from the same base. Equality is by path and index (the viewer's
    bookkeeping); the engine matches by key when one is given.
    """

    path: str
    index: int
    key: str = field(default="", compare=False)
