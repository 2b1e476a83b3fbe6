"""Diffs between snapshots and the live tree, as :mod:`engine.git.diffmodel` data.

Git output is always produced with explicit options (``--no-color --no-ext-diff
--no-textconv -M``, fixed ``a/``/``b/`` prefixes, ``core.quotepath=false``) so user
configuration cannot change its shape. ``parse_unified_diff`` is a pure parser.
A diff is listed from ``--raw --numstat`` (no patch text); each file's hunks are
read and parsed on first access, so a 10,000-file change costs one listing until
someone looks at the lines.

Per-hunk review: ``apply_hunks`` rebuilds each file from the exact bytes of the two
blobs, taking the new side only for accepted hunks (no fuzzy patching). Changes that
cannot be split — added, deleted, binary, symlink, type-changed, too-large files and
pure renames/mode changes — are a single hunk with index 0.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from engine.errors import GitCommandError
from engine.git.diffmodel import (
    Diff,
    DiffLine,
    FileDiff,
    FileStatus,
    Hunk,
    HunkRef,
    LoadScope,
)
from engine.git.repo import open_repo, run_git
from engine.git.snapshots import apply_modes, parse_modes

_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
_DIFF_OPTS = (
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-relative",
    "-M",
    "--full-index",
    "--inter-hunk-context=0",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--ignore-submodules=none",
    "--submodule=short",
)


# --------------------------------------------------------------------------- git diffs


def diff_commits(
    repo_root: str | os.PathLike[str],
    a: str,
    b: str,
    *,
    context: int = 3,
    max_file_lines: int = 20000,
) -> Diff:
    """Structured diff from commit/tree ``a`` to ``b`` (renames detected).

    The file list (paths, status, modes, renames, binary, line counts) comes from one
    ``git diff --raw --numstat``; each file's hunks are read from git only when first
    asked for (see :class:`_HunkSource`), so callers that need the list pay about one
    ``git diff`` and never parse patch text. Files with more than ``max_file_lines``
    changed lines keep their entry but are marked ``too_large`` with no hunks. Binary
    files get their sizes.
    """
    root = Path(repo_root)
    with open_repo(root) as repo:
        out = run_git(
            repo,
            "-c",
            "core.quotepath=false",
            "diff",
            *_DIFF_OPTS,
            "--raw",
            "--numstat",
            "--no-abbrev",
            "-z",
            a,
            b,
            binary=True,
        )
        source = _HunkSource(root, a, b, context)
        load, pending = source.load, source.pending
        with _no_gc():
            files, shas = _list_files(bytes(out))
            for f, counts in files:
                if f.binary:
                    continue
                if counts[0] + counts[1] > max_file_lines:
                    f.too_large = True
                    f.defer_hunks(_no_hunks, counts)
                elif counts[0] + counts[1]:
                    pending[f.path] = f
                    f.defer_hunks(load, counts)
        diff = Diff(files=[f for f, _ in files])
        _binary_sizes(repo, diff, shas)
    diff.from_ref, diff.to_ref = a, b
    return diff


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a big diff's records are built: they hold
    no cycles, and in a large process each full collection costs more than the parse."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _no_hunks(files: list[FileDiff], scope: LoadScope) -> None:
    for f in files:
        f.hunks = []


_NO_MODE = "000000"  # --raw's mode of the missing side (added/deleted)
_RAW_STATUS: dict[str, FileStatus] = {
    "A": "added",
    "D": "deleted",
    "M": "modified",
    "R": "renamed",
    "C": "copied",
    "T": "type_changed",
}


def _list_files(
    out: bytes,
) -> tuple[list[tuple[FileDiff, tuple[int, int]]], dict[int, tuple[str, str]]]:
    """Files of ``git diff --raw --numstat -z`` output, each with its (added, deleted) count.

    git prints every raw record, then every numstat record, in the same order.
    """
    parts = out.split(b"\0")
    files: list[tuple[FileDiff, tuple[int, int]]] = []
    shas: dict[int, tuple[str, str]] = {}  # id(FileDiff) -> (old blob, new blob)
    i, n = 0, len(parts)
    while i < n and parts[i][:1] == b":":
        old_mode, new_mode, old_sha, new_sha, code = parts[i][1:].decode("ascii").split(" ")
        if code[0] in "RC":
            old_path = parts[i + 1].decode("utf-8", "surrogateescape")
            i += 1
        else:
            old_path = None
        fd = FileDiff(
            parts[i + 1].decode("utf-8", "surrogateescape"),
            _RAW_STATUS.get(code[0], "modified"),
            old_path,
            None if old_mode == _NO_MODE else old_mode,
            None if new_mode == _NO_MODE else new_mode,
        )
        i += 2
        shas[id(fd)] = (old_sha, new_sha)
        files.append((fd, (0, 0)))
    for k, (fd, _) in enumerate(files):
        added, deleted, name = parts[i].split(b"\t", 2)
        i += 1 if name else 3  # a rename's numstat names old and new in two more fields
        if added == b"-":
            fd.binary = True
        else:
            files[k] = (fd, (int(added), int(deleted)))
    return files, shas


class _HunkSource:
    """Reads the hunks of a listed diff's files from git, on first access or on request.

    The first file accessed is read alone (``git diff -- PATH``); a second access means
    the caller walks the diff (``refs()``, ``--json``), so every file still waiting is
    read with one ``git diff`` of the trees, as for :meth:`Diff.load_hunks` of all. A
    viewer asks for the few files it shows (``scope`` "some"): one ``git diff`` limited to
    their paths. Either way the hunks are those of the whole diff: renames are read with
    both their paths and ``-M``, any other file with ``--no-renames``, which pairs exactly
    what the listing paired. Thread-safe: a viewer's reads on the engine thread and an
    access from another thread never read a file twice or half.
    """

    #: Paths per limited ``git diff`` (a command line stays short; git matches each
    #: listed path against the tree's entries).
    BATCH = 256

    def __init__(self, root: Path, a: str, b: str, context: int):
        self.root, self.a, self.b, self.context = root, a, b, context
        self.pending: dict[str, FileDiff] = {}
        self._accessed = 0
        self._lock = threading.RLock()  # a hunks access inside a read must not deadlock

    def load(self, files: list[FileDiff], scope: LoadScope) -> None:
        """Set the hunks of ``files`` (of every waiting file when reading the whole diff)."""
        with self._lock:
            if scope == "one":
                self._accessed += 1
                if self._accessed > 1:
                    scope = "all"  # a walk: one read of everything left beats one per file
            waiting = [f for f in files if self.pending.get(f.path) is f]
            if not waiting:
                return
            if scope == "all":
                self._read([], [])
            else:
                renamed: list[FileDiff] = []
                plain: list[FileDiff] = []
                for f in waiting:  # (never ``f in list``: FileDiff equality reads hunks)
                    paired = f.status in ("renamed", "copied") and f.old_path
                    (renamed if paired else plain).append(f)
                for k in range(0, len(plain), self.BATCH):
                    self._read(["--no-renames"], [f.path for f in plain[k : k + self.BATCH]])
                for k in range(0, len(renamed), self.BATCH // 2):
                    chunk = renamed[k : k + self.BATCH // 2]
                    self._read([], [p for f in chunk for p in (f.path, f.old_path or f.path)])
            for f in waiting:
                if self.pending.pop(f.path, None) is not None:
                    f.hunks = []  # git printed no hunks for it (cannot happen for a listed change)

    def _read(self, opts: list[str], paths: list[str]) -> None:
        """One ``git diff`` (limited to ``paths`` if any); hands out the hunks it holds."""
        with open_repo(self.root) as repo:
            raw = run_git(
                repo,
                "--literal-pathspecs",
                "-c",
                "core.quotepath=false",
                "diff",
                *_DIFF_OPTS,
                *opts,
                f"-U{self.context}",
                self.a,
                self.b,
                *(["--", *paths] if paths else []),
                binary=True,
            )
        text = _decode(raw)
        with _no_gc():
            parsed = _parse(text)[0]
        if _has_surrogates(text):  # only text with undecodable bytes has lines to clean
            _clean(parsed)
        for got in parsed.files:
            want = self.pending.pop(got.path, None)
            if want is not None:
                want.hunks = got.hunks


def diff_to_worktree(
    repo_root: str | os.PathLike[str],
    a: str,
    *,
    context: int = 3,
    max_file_lines: int = 20000,
    max_file_bytes: int = 50 * 1024 * 1024,
) -> Diff:
    """Diff from checkpoint ``a`` to the live working tree, untracked files included.

    The live tree is written to the object store through a temp index (like a
    snapshot, no ref, user's index untouched). Files too large to snapshot are listed
    with ``too_large=True`` and no hunks rather than shown as deleted.
    """
    from engine.git.snapshots import Snapshotter  # local: snapshots is the heavier module

    with Snapshotter(Path(repo_root), max_file_bytes=max_file_bytes) as snap:
        tree, skipped = snap.worktree_tree()
    large = [s.path for s in skipped if s.reason == "too_large"]
    diff = diff_commits(repo_root, a, tree, context=context, max_file_lines=max_file_lines)
    if large:
        diff.files = [f for f in diff.files if f.path not in large]
        with open_repo(repo_root) as repo:
            listing = run_git(repo, "ls-tree", "-z", "--full-tree", a, "--", *large, binary=True)
        in_a = {os.fsdecode(e.split(b"\t", 1)[1]) for e in bytes(listing).split(b"\0") if e}
        for p in large:
            size = os.lstat(Path(repo_root) / p).st_size
            status: FileStatus = "modified" if p in in_a else "added"
            diff.files.append(FileDiff(path=p, status=status, too_large=True, new_size=size))
        diff.files.sort(key=lambda f: f.path)
    diff.from_ref, diff.to_ref = a, None
    return diff


# --------------------------------------------------------------------------- parser


def parse_unified_diff(text: str) -> Diff:
    """Parse ``git diff`` output (unified, with git's extended headers) into a Diff.

    Handles new/deleted files, mode changes, renames/copies, binary files,
    ``\\ No newline at end of file`` and C-quoted paths. A type change (git prints a
    deletion and an addition of the same path) becomes one ``type_changed`` file.
    """
    return _parse(text)[0]


def _parse(text: str) -> tuple[Diff, dict[int, tuple[str, str]]]:
    files: list[FileDiff] = []
    shas: dict[int, tuple[str, str]] = {}  # id(FileDiff) -> (old blob, new blob)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    fd: FileDiff | None = None
    hunk: Hunk | None = None
    old_left = new_left = 0
    old_no = new_no = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if hunk is not None and (old_left > 0 or new_left > 0):
            kind = line[:1] if line else " "  # some tools strip a context line's space
            if kind in (" ", "+", "-"):
                body = line[1:]
                if kind == " ":
                    hunk.lines.append(DiffLine(" ", body, old_no, new_no))
                    old_no, new_no, old_left, new_left = (
                        old_no + 1,
                        new_no + 1,
                        old_left - 1,
                        new_left - 1,
                    )
                elif kind == "-":
                    hunk.lines.append(DiffLine("-", body, old_no, None))
                    old_no, old_left = old_no + 1, old_left - 1
                else:
                    hunk.lines.append(DiffLine("+", body, None, new_no))
                    new_no, new_left = new_no + 1, new_left - 1
                continue
            if kind == "\\":
                hunk.lines.append(DiffLine("\\", line[2:] if line.startswith("\\ ") else line[1:]))
                continue
            # Malformed/truncated hunk: fall through and treat as a header line.
        if line.startswith("\\") and hunk is not None:
            hunk.lines.append(DiffLine("\\", line[2:] if line.startswith("\\ ") else line[1:]))
            continue
        if line.startswith("diff --git "):
            old, new = _split_git_header(line[len("diff --git ") :])
            fd = FileDiff(path=new, status="modified")
            if old != new:
                fd.old_path = old
            files.append(fd)
            hunk = None
            continue
        if fd is None:
            continue  # preamble (e.g. commit message) before the first file
        m = _HUNK_RE.match(line)
        if m:
            o_start, o_len, n_start, n_len, section = m.groups()
            hunk = Hunk(
                index=len(fd.hunks),
                old_start=int(o_start),
                old_len=1 if o_len is None else int(o_len),
                new_start=int(n_start),
                new_len=1 if n_len is None else int(n_len),
                section=section,
            )
            fd.hunks.append(hunk)
            old_left, new_left = hunk.old_len, hunk.new_len
            old_no, new_no = hunk.old_start, hunk.new_start
            continue
        hunk = None
        _header_line(fd, line, shas)
    files = _merge_type_changes(files)
    for f in files:
        if f.status == "renamed" and f.old_path == f.path:
            f.old_path = None
        if f.old_path is None and f.status in ("renamed", "copied"):
            f.status = "modified"
    return Diff(files=files), shas


def _header_line(fd: FileDiff, line: str, shas: dict[int, tuple[str, str]]) -> None:
    if line.startswith("new file mode "):
        fd.status, fd.new_mode = "added", line[14:].strip()
    elif line.startswith("deleted file mode "):
        fd.status, fd.old_mode = "deleted", line[18:].strip()
        fd.old_path = None
    elif line.startswith("old mode "):
        fd.old_mode = line[9:].strip()
    elif line.startswith("new mode "):
        fd.new_mode = line[9:].strip()
    elif line.startswith("rename from "):
        fd.status, fd.old_path = "renamed", _unquote(line[12:])
    elif line.startswith("rename to "):
        fd.status, fd.path = "renamed", _unquote(line[10:])
    elif line.startswith("copy from "):
        fd.status, fd.old_path = "copied", _unquote(line[10:])
    elif line.startswith("copy to "):
        fd.status, fd.path = "copied", _unquote(line[8:])
    elif line.startswith("index "):
        parts = line[6:].split()
        if parts and ".." in parts[0]:
            old_sha, new_sha = parts[0].split("..", 1)
            shas[id(fd)] = (old_sha, new_sha)
        if len(parts) > 1:
            fd.old_mode = fd.old_mode or parts[1]
            fd.new_mode = fd.new_mode or parts[1]
    elif line.startswith("Binary files ") or line == "GIT binary patch":
        fd.binary = True
    elif line.startswith("--- "):
        name = _strip_prefix(_unquote(_strip_tab(line[4:])), "a/")
        if name is not None and fd.status not in ("added",):
            fd.old_path = name if name != fd.path else fd.old_path
    elif line.startswith("+++ "):
        name = _strip_prefix(_unquote(_strip_tab(line[4:])), "b/")
        if name is not None:
            if fd.status == "deleted":
                return
            fd.path = name
    # similarity/dissimilarity index and unknown lines carry nothing we keep


def _merge_type_changes(files: list[FileDiff]) -> list[FileDiff]:
    out: list[FileDiff] = []
    for f in files:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.status == "deleted"
            and f.status == "added"
            and prev.path == f.path
        ):
            merged = FileDiff(
                path=f.path,
                status="type_changed",
                old_mode=prev.old_mode,
                new_mode=f.new_mode,
                binary=prev.binary or f.binary,
                hunks=[*prev.hunks, *f.hunks],
            )
            for n, h in enumerate(merged.hunks):
                h.index = n
            out[-1] = merged
            continue
        out.append(f)
    return out


def _strip_tab(s: str) -> str:
    # git appends a TAB to ---/+++ names containing spaces (GNU diff compatibility)
    return s[:-1] if s.endswith("\t") else s


def _strip_prefix(name: str, prefix: str) -> str | None:
    if name == "/dev/null":
        return None
    return name[len(prefix) :] if name.startswith(prefix) else name


def _split_git_header(rest: str) -> tuple[str, str]:
    """Split ``a/OLD b/NEW`` of a ``diff --git`` line (either side may be C-quoted)."""
    if rest.startswith('"'):
        old, end = _read_quoted(rest, 0)
        new_part = rest[end:].lstrip(" ")
        new = _read_quoted(new_part, 0)[0] if new_part.startswith('"') else new_part
        return _strip_prefix(old, "a/") or old, _strip_prefix(new, "b/") or new
    if rest.endswith('"'):
        q = rest.rfind(' "')
        old, new = rest[:q], _read_quoted(rest[q + 1 :], 0)[0]
        return _strip_prefix(old, "a/") or old, _strip_prefix(new, "b/") or new
    # Unquoted: names may contain spaces. Same name on both sides is the common case.
    if len(rest) % 2 == 1:
        half = len(rest) // 2
        old, new = rest[:half], rest[half + 1 :]
        if rest[half] == " " and old[2:] == new[2:]:
            return old[2:], new[2:]
    k = rest.find(" b/")
    if k < 0:
        k = rest.find(" ")
    old, new = rest[:k], rest[k + 1 :]
    return _strip_prefix(old, "a/") or old, _strip_prefix(new, "b/") or new


_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _read_quoted(s: str, start: int) -> tuple[str, int]:
    """Decode a C-quoted string starting at ``s[start] == '"'``; return (text, end)."""
    out = bytearray()
    i = start + 1
    while i < len(s):
        c = s[i]
        if c == '"':
            return out.decode("utf-8", "surrogateescape"), i + 1
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n in "01234567":
                j = i + 1
                while j < len(s) and j < i + 4 and s[j] in "01234567":
                    j += 1
                out.append(int(s[i + 1 : j], 8) & 0xFF)
                i = j
                continue
            out.append(_ESCAPES.get(n, ord(n) if ord(n) < 128 else 63))
            i += 2
            continue
        out += c.encode("utf-8", "surrogateescape")
        i += 1
    return out.decode("utf-8", "surrogateescape"), i


def _unquote(s: str) -> str:
    s = s.rstrip("\n")
    if s.startswith('"') and s.endswith('"') and len(s) >= 2:
        return _read_quoted(s, 0)[0]
    return s


# --------------------------------------------------------------------------- helpers


def _decode(raw: str | bytes) -> str:
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
    # surrogateescape keeps non-UTF-8 path bytes exact; line texts are cleaned in _clean.
    return data.decode("utf-8", "surrogateescape")


def _clean(diff: Diff) -> None:
    """Replace undecodable bytes in line texts (paths keep them, surrogate-escaped)."""
    for f in diff.files:
        for h in f.hunks:
            for ln in h.lines:
                if _has_surrogates(ln.text):
                    ln.text = ln.text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _has_surrogates(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _binary_sizes(repo, diff: Diff, shas: dict[int, tuple[str, str]]) -> None:
    wanted: list[tuple[FileDiff, str, str]] = []
    for f in diff.files:
        if f.binary and id(f) in shas:
            old, new = shas[id(f)]
            wanted.append((f, old, new))
    if not wanted:
        return
    ids = [s for _, o, n in wanted for s in (o, n)]
    out = str(
        run_git(
            repo, "cat-file", "--batch-check=%(objectsize)", input="\n".join(ids).encode() + b"\n"
        )
    )
    sizes = out.splitlines()
    for k, (f, o, n) in enumerate(wanted):
        f.old_size = None if set(o) == {"0"} else _int(sizes[2 * k])
        f.new_size = None if set(n) == {"0"} else _int(sizes[2 * k + 1])


def _int(s: str) -> int | None:
    try:
        return int(s)
    except ValueError:
        return None  # "<sha> missing"


# --------------------------------------------------------------------------- apply


def apply_hunks(
    repo_root: str | os.PathLike[str],
    base_commit: str,
    target_commit: str,
    accepted: set[HunkRef],
    *,
    context: int = 3,
    max_file_lines: int = 20000,
    paths: set[str] | None = None,
) -> list[str]:
    """Set the working tree to ``base`` plus only the ``accepted`` hunks of diff(base, target).

    With ``paths``, only files whose (new) path is in it are written; others are left alone.

    Only files that differ between base and target are written (or removed); the
    index and HEAD are not touched. Hunk indices are those of ``diff_commits`` with the
    same ``context``/``max_file_lines``. Whole-file changes (added, deleted, binary,
    symlink, type change, too large, pure rename or mode change) are HunkRef(path, 0).
    Returns the paths written or removed, sorted.
    """
    root = Path(repo_root)
    diff = diff_commits(
        root, base_commit, target_commit, context=context, max_file_lines=max_file_lines
    )
    # Work out, per file, which side(s) we need, then fetch all blobs in one cat-file.
    plans: list[tuple[FileDiff, str]] = []
    wanted: list[str] = []
    for f in diff.files:
        if paths is not None and f.path not in paths:
            continue
        old_path = f.old_path or f.path
        whole = (
            f.status in ("added", "deleted", "type_changed")
            or f.binary
            or f.too_large
            or not f.hunks
            or "120000" in (f.old_mode, f.new_mode)
            or f.status == "copied"
        )
        if whole:
            plan = "target" if HunkRef(f.path, 0) in accepted else "base"
        else:
            chosen = {h.index for h in f.hunks if HunkRef(f.path, h.index) in accepted}
            plan = "base" if not chosen else ("target" if len(chosen) == len(f.hunks) else "mix")
        plans.append((f, plan))
        if f.status != "added" and plan in ("base", "mix"):
            wanted.append(f"{base_commit}:{old_path}")
        if f.status != "deleted" and plan in ("target", "mix"):
            wanted.append(f"{target_commit}:{f.path}")
    with open_repo(root) as repo:
        blobs = _cat_blobs(repo, wanted)
        base_modes = parse_modes(str(run_git(repo, "cat-file", "commit", base_commit)))
        target_modes = parse_modes(str(run_git(repo, "cat-file", "commit", target_commit)))
    touched: set[str] = set()
    # Permission bits git cannot store come back from the side each file was taken from.
    restored_modes: dict[str, int] = {}
    mode_paths: set[str] = set()

    def keep_modes(rel: str, modes: dict[str, int]) -> None:
        parts = rel.split("/")
        for key in [rel] + ["/".join(parts[:i]) + "/" for i in range(1, len(parts))]:
            mode_paths.add(key)
            if key in modes:
                restored_modes[key] = modes[key]

    for f, plan in plans:
        old_path = f.old_path or f.path
        if plan == "base":
            if f.status == "added":
                _remove(root, f.path)
                touched.add(f.path)
                continue
            if f.status == "copied":
                _remove(root, f.path)  # copy source is unchanged; drop the copy
                touched.add(f.path)
                continue
            if old_path != f.path:
                _remove(root, f.path)
                touched.add(f.path)
            _write(root, old_path, blobs[f"{base_commit}:{old_path}"], f.old_mode)
            keep_modes(old_path, base_modes)
            touched.add(old_path)
            continue
        if f.status == "deleted":
            _remove(root, f.path)
            touched.add(f.path)
            continue
        new_blob = blobs[f"{target_commit}:{f.path}"]
        if plan == "mix":
            chosen = {h.index for h in f.hunks if HunkRef(f.path, h.index) in accepted}
            new_blob = _splice(blobs[f"{base_commit}:{old_path}"], new_blob, f.hunks, chosen)
        if old_path != f.path and f.status == "renamed":
            _remove(root, old_path)
            touched.add(old_path)
        _write(root, f.path, new_blob, f.new_mode)
        keep_modes(f.path, target_modes)
        touched.add(f.path)
    # Written files get their recorded bits (or git's default); directories only
    # when the manifest records them, so the person's own chmod of a folder stays.
    written = {p for p in mode_paths if not p.endswith("/")}
    apply_modes(root, restored_modes, written | set(restored_modes))
    return sorted(touched)


def _cat_blobs(repo, specs: list[str]) -> dict[str, bytes]:
    if not specs:
        return {}
    data = b"\0".join(os.fsencode(s) for s in specs) + b"\0"
    raw = run_git(repo, "cat-file", "--batch", "-z", input=data, binary=True)
    out = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
    blobs: dict[str, bytes] = {}
    pos = 0
    for spec in specs:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].split(b" ")
        if len(header) != 3:
            raise GitCommandError(["git", "cat-file", "--batch", spec], 128, out[pos:nl].decode())
        size = int(header[2])
        blobs[spec] = out[nl + 1 : nl + 1 + size]
        pos = nl + 1 + size + 1
    return blobs


def _split_lines(data: bytes) -> list[bytes]:
    """Split on LF only (git's notion of a line), keeping the terminators."""
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _splice(base: bytes, target: bytes, hunks: list[Hunk], chosen: set[int]) -> bytes:
    """base with the line ranges of chosen hunks replaced by the target's ranges."""
    old = _split_lines(base)
    new = _split_lines(target)
    out: list[bytes] = []
    pos = 0
    for h in sorted(hunks, key=lambda h: h.old_start):
        o0 = h.old_start - 1 if h.old_len else h.old_start
        n0 = h.new_start - 1 if h.new_len else h.new_start
        out += old[pos:o0]
        out += new[n0 : n0 + h.new_len] if h.index in chosen else old[o0 : o0 + h.old_len]
        pos = o0 + h.old_len
    out += old[pos:]
    return b"".join(out)


def _remove(root: Path, rel: str) -> None:
    p = root / rel
    if p.is_symlink() or p.is_file():
        p.unlink()
    parent = p.parent
    while parent != root and parent.is_dir():
        try:
            parent.rmdir()  # only succeeds when empty, which is what git would do
        except OSError:
            break
        parent = parent.parent


def _write(root: Path, rel: str, data: bytes, mode: str | None) -> None:
    p = root / rel
    if p.is_symlink() or (p.exists() and not p.is_dir()):
        p.unlink()
    p.parent.mkdir(parents=True, exist_ok=True)
    if mode == "120000":
        os.symlink(os.fsdecode(data), p)
        return
    with open(p, "wb") as fh:
        fh.write(data)
    st = os.stat(p)
    perms = stat.S_IMODE(st.st_mode)
    if mode == "100755":
        # like git: executable for whoever can read it
        perms |= (perms & 0o444) >> 2
    else:
        perms &= ~0o111
    os.chmod(p, perms)
