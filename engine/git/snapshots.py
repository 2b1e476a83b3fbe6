"""Working-tree snapshots stored as git objects (no SQLite here).

A snapshot is a commit whose tree is the live working tree (tracked changes
*and* untracked, non-ignored files), built on a temporary copy of the user's
index so the stat cache makes it cheap. The user's HEAD, index file, branches,
stash and config are never modified by :meth:`Snapshotter.snapshot`, nor by
:meth:`Snapshotter.restore` unless ``restore_index=True`` is passed (the only
place we ever write the real index: an explicit rewind to a checkpoint).

Commit layout (``refs/llmflows/<namespace>/<seq>`` keeps it reachable)::

    tree     <working tree>
    parent   <parent_commit>            (only when given)
    parent   <index commit>             (tree = the user's index at that moment)

    <message>

    Llmflows-Index-Tree: <tree of the user's index>
    Llmflows-Skipped: {"path": "big.bin", "reason": "too_large"}
    Llmflows-Ignored: {"count": 2000, "top": [["build", 1990], [".", 10]]}
    Llmflows-Modes: {"secrets.txt": "600", "private/": "700"}

Only user files the snapshot could not take (too large, nested repositories) are
listed and make it *partial*. Git-ignored files (caches, build output) are not
user work: they are summarised (count + busiest top-level directories), never
listed path by path, so a big ``build/`` costs the same few bytes every step.

The ref is created with an expected old value of "none" (``update-ref REF NEW ""``):
if another process (a linked worktree sharing the refs) took that name first, the
snapshot moves on to the next name the caller hands out, never overwriting a ref
and never listing the namespace.

The index is recorded as a (parent) commit rather than only in the trailer so
that ``git gc`` keeps its tree alive.

Git stores only 644/755 for files and nothing for directories, so the
``Llmflows-Modes`` trailer (the *mode manifest*) records the permission bits of
every captured file, and every directory holding one, whose mode differs from
what git would create under the current umask (directories end in ``/``).
Restores put those bits back (see :func:`apply_modes`), so a private ``0600``
file never comes back world-readable. The manifest costs one read of the temp index
per snapshot: a chmod changes a file's ctime, which our ``git status`` (ctime checks
pinned on) refreshes in the index, so only files whose entry changed since our last
``lstat`` of them are stat-ed again. A rewind that reuses the last snapshot as its
pre-restore checkpoint checks the bits of the files it rewrites (and of directories)
first, and reads the others while ``read-tree`` runs; if those changed, the reused
snapshot is replaced by a commit of the same tree with the right bits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import stat
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import GitCommandError, SnapshotError
from engine.git.repo import open_repo, run_git
from engine.store.lock import pid_alive

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_IDENT = {
    "GIT_AUTHOR_NAME": "llmflows",
    "GIT_AUTHOR_EMAIL": "llmflows@localhost",
    "GIT_COMMITTER_NAME": "llmflows",
    "GIT_COMMITTER_EMAIL": "llmflows@localhost",
}
_TRAILER_INDEX = "Llmflows-Index-Tree: "
_TRAILER_SKIPPED = "Llmflows-Skipped: "
_TRAILER_IGNORED = "Llmflows-Ignored: "
# How many top-level directories an ignored-files summary names.
_IGNORED_TOP_DIRS = 5
# Every changed or untracked path, one record each (renames as delete + add). The stat
# checks are pinned so a chmod always refreshes the entry's ctime (the mode manifest
# trusts it) whatever the user's config says.
_STATUS = (
    "-c",
    "core.trustctime=true",
    "-c",
    "core.checkStat=default",
    "-c",
    "core.fsmonitor=false",
    "status",
    "--porcelain=v1",
    "-z",
    "--no-renames",
    "--untracked-files=all",
    "--ignore-submodules=all",
)
# Our status must write back the stat data it refreshes (the manifest trusts those
# ctimes), whatever GIT_OPTIONAL_LOCKS the user's environment sets.
_STATUS_ENV = {"GIT_OPTIONAL_LOCKS": "1"}
# Tree diffs kept by a Snapshotter, and a diff's statuses read the other way.
_KEPT_DIFFS = 8
_REVERSED = {"A": "D", "D": "A"}
# Names tried for one snapshot before giving up (each taken by someone else).
_MAX_REF_ATTEMPTS = 100
_TRAILER_MODES = "Llmflows-Modes: "
# Tracked files this big are hashed before the status scan (see Snapshotter._build_tree).
_LARGE_FILE_BYTES = 1024 * 1024


@dataclass
class SkippedPath:
    """A path the snapshot did not capture, and why."""

    path: str
    reason: str  # "too_large" | "nested_repo"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass
class IgnoredSummary:
    """Git-ignored paths left out of a snapshot: how many, and where most of them are.

    ``top`` holds (top-level directory, count) pairs, busiest first; ``"."`` stands for
    ignored entries at the repository root.
    """

    count: int = 0
    top: list[tuple[str, int]] = field(default_factory=list)

    @classmethod
    def of(cls, paths: list[str]) -> IgnoredSummary:
        """Summarise ignored paths as ``git status`` reports them (``dir/`` for whole dirs)."""
        tops = Counter(p.split("/", 1)[0] if "/" in p else "." for p in paths)
        return cls(len(paths), tops.most_common(_IGNORED_TOP_DIRS))

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "top": [list(t) for t in self.top]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IgnoredSummary:
        return cls(int(d["count"]), [(str(a), int(b)) for a, b in d.get("top", [])])


@dataclass
class Snapshot:
    """One working-tree snapshot (a commit kept reachable by ``ref``)."""

    commit: str
    tree: str
    ref: str
    skipped: list[SkippedPath] = field(default_factory=list)
    index_tree: str | None = None  # the user's index (staged state) at snapshot time
    parents: list[str] = field(default_factory=list)
    message: str = ""
    ignored: IgnoredSummary = field(default_factory=IgnoredSummary)
    #: Permission bits git cannot store: path (directories end in "/") -> mode.
    modes: dict[str, int] = field(default_factory=dict)

    @property
    def partial(self) -> bool:
        """True when user files were left out (too large, nested repos); ignored files never count."""
        return bool(self.skipped)


@dataclass
class RestoreResult:
    """What a restore changed in the working tree (paths relative to the repo root)."""

    written: list[str]
    removed: list[str]
    from_tree: str
    to_tree: str
    # Protected paths left as they were (too large / nested repo on either side).
    kept: list[str] = field(default_factory=list)
    index_restored: bool = False


@dataclass
class _PendingModes:
    """A reused snapshot whose files' bits are checked while the restore it precedes runs.

    The restore leaves every file outside ``changes`` alone, so their bits can be read
    while ``read-tree`` works; the touched files and all directories were checked
    before (``early``). See :meth:`Snapshotter.snapshot_if_unchanged`.
    """

    snap: Snapshot
    target_tree: str
    changes: list[tuple[str, str]]  # diff-tree of snap.tree -> target_tree
    rest: list[bytes]  # the tree's files the restore does not touch
    early: dict[str, int]  # manifest entries of the touched files and of every directory


@dataclass
class _TreeBuild:
    tree: str
    skipped: list[SkippedPath]
    index_path: str  # temp index whose entries equal ``tree`` (with fresh stat data)
    ignored: IgnoredSummary = field(default_factory=IgnoredSummary)


#: Files larger than this are left out of snapshots (listed as skipped, "too_large").
DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024


class Snapshotter:
    """Takes and restores working-tree snapshots of one repository.

    Not thread-safe: use one Snapshotter per thread (or serialise calls).
    Call :meth:`close` (or use it as a context manager) to release git helpers.
    """

    def __init__(self, repo_root: Path | str, max_file_bytes: int | None = None):
        self.max_file_bytes = DEFAULT_MAX_FILE_BYTES if max_file_bytes is None else max_file_bytes
        self._stack = contextlib.ExitStack()
        self._repo = self._stack.enter_context(open_repo(repo_root))
        out = run_git(
            self._repo,
            "rev-parse",
            "--show-toplevel",
            "--absolute-git-dir",
            "--git-common-dir",
            "--git-path",
            "index",
        )
        top, gitdir, common, index = str(out).splitlines()
        self.root = Path(top)
        self.git_dir = Path(gitdir)
        # rev-parse prints these relative to the cwd (the work tree top).
        self.common_dir = (self.root / common).resolve()
        self.index_path = self.root / index
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="llmflows-snap")
        # Permission bits seen by lstat, by index path: (ctime as the index stores it, bits).
        self._seen_modes: dict[bytes, tuple[int, int]] = {}
        # Tracked files of at least _LARGE_FILE_BYTES in the last index read.
        self._large: list[str] = []
        # Files (and symlinks) of the last trees whose modes were read from an index, so
        # an unchanged-tree check can stat them while git status runs (see _live_modes).
        self._tree_files: dict[str, list[bytes]] = {}
        remove_stale_temp_dirs()
        # The pid in the name lets a later process see that this one is gone (kill -9).
        self._tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-"))
        # The temp index of the last snapshot, reused by restore(current=that snapshot).
        self._cached: _TreeBuild | None = None
        # The snapshot whose tree ``_cached`` holds (the last one taken or restored).
        self._last: Snapshot | None = None
        self._loaded: dict[str, Snapshot] = {}  # commit id -> parsed (commits never change)
        self._pending: _PendingModes | None = None
        # (tree, tree) -> their diff (see _tree_changes).
        self._diffs: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._index_memo: tuple[tuple[int, ...], tuple[str, str]] | None = None

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Release the git process handles and temporary files."""
        self._pool.shutdown(wait=True)
        self._stack.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Snapshotter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ public API

    def snapshot(
        self,
        ref: str,
        message: str,
        parent_commit: str | None = None,
        *,
        next_ref: Callable[[], str] | None = None,
    ) -> Snapshot:
        """Record the live working tree (plus the user's index) as a commit at ``ref``.

        Untracked files are included; files over ``max_file_bytes`` and nested
        repositories/submodule contents are left out and listed in ``skipped``; ignored
        files are left out and only summarised (``Snapshot.ignored``).

        ``ref`` must not exist yet: it is created atomically with an expected old value
        of "none". If it exists (another worktree or process took it), ``next_ref`` is
        asked for another name (SnapshotError without it); the ref used is
        ``Snapshot.ref``. Raises GitCommandError if any git command fails.
        """
        if not ref.startswith("refs/"):
            raise SnapshotError(f"snapshot ref must be a full ref name (refs/...), got {ref!r}")
        key = self._index_key()
        memo = self._index_memo
        if key is not None and memo is not None and memo[0] == key:
            # The user's index rarely changes during a run: same file (inode, size,
            # mtime/ctime in ns) -> same tree; skip the copy and write-tree.
            index_tree, index_commit = memo[1]
            build = self._build_tree(with_ignored=True)
        else:
            user_copy = self._copy_index()
            # Runs in parallel with the working-tree scan: two cores, independent work.
            index_job = self._pool.submit(self._index_commit, user_copy)
            try:
                build = self._build_tree(with_ignored=True)
            except BaseException:
                with contextlib.suppress(Exception):
                    index_job.result()
                _unlink(user_copy)
                raise
            try:
                index_tree, index_commit = index_job.result()
            finally:
                _unlink(user_copy)
            self._index_memo = (key, (index_tree, index_commit)) if key is not None else None
        parents = ([parent_commit] if parent_commit else []) + [index_commit]
        try:
            modes = self._modes(build.index_path, build.tree)
        except BaseException:
            _unlink(build.index_path)
            raise
        full_message = _compose_message(message, index_tree, build.skipped, build.ignored, modes)
        commit = self._commit_tree(build.tree, parents, full_message)
        ref = self._claim_ref(ref, commit, next_ref)
        self._set_cache(build)
        snap = Snapshot(
            commit=commit,
            tree=build.tree,
            ref=ref,
            skipped=build.skipped,
            index_tree=index_tree,
            parents=parents,
            message=full_message,
            ignored=build.ignored,
            modes=modes,
        )
        self._last = snap
        return snap

    def snapshot_if_unchanged(
        self,
        ref: str,
        *,
        next_ref: Callable[[], str] | None = None,
        restoring: str | None = None,
    ) -> Snapshot | None:
        """The last snapshot taken or restored, under a new ``ref``, if nothing changed since.

        "Nothing" means: the user's index is the one it recorded, no file differs from
        its tree (one ``git status`` against the temp index that holds it, with fresh
        stat data) and no permission bits differ. Then no new tree or commit is made:
        ``ref`` is pointed at the same commit (same rules as :meth:`snapshot`). Returns
        None when anything changed (the caller takes a real snapshot).

        ``restoring`` (a snapshot commit) says the caller restores it next, passing the
        returned snapshot as ``current``: only the bits of the files that restore
        touches (and of directories) are checked here; the others are read while the
        restore runs, which corrects the snapshot if they changed (see :meth:`restore`).
        """
        self._pending = None
        last, cached = self._last, self._cached
        if last is None or cached is None or cached.tree != last.tree:
            return None
        key, memo = self._index_key(), self._index_memo
        if key is None or memo is None or memo[0] != key or memo[1][0] != last.index_tree:
            return None
        if not os.path.exists(cached.index_path):
            return None
        if self._large and self._large_changed(read_index(cached.index_path, len(last.tree) // 2)):
            return None  # known without status hashing a big file the snapshot will hash
        names = self._tree_files.get(cached.tree)
        target = self.load(restoring) if restoring is not None and names is not None else None
        # All at once: the ref (first name only; most checks find nothing changed) and
        # the bits on the helper threads, git status here.
        claim = self._pool.submit(self._try_ref, ref, last.commit)
        live = split = None
        if target is not None and names is not None:
            split = self._pool.submit(self._split_modes, names, last.tree, target.tree)
        elif names is not None:
            live = self._pool.submit(self._live_modes, names)
        try:
            matches = self._worktree_matches(cached, last)
        finally:
            claimed = claim.result()
            modes_large = live.result() if live is not None else None
            early = split.result() if split is not None else None
        if matches and early is not None:
            changes, rest, early_modes = early
            touched = {p for _, p in changes}
            expected = {p: m for p, m in last.modes.items() if p.endswith("/") or p in touched}
            matches = early_modes == expected
        elif matches:
            if modes_large is None:
                modes = self._modes(cached.index_path, cached.tree)
            else:
                modes, self._large = modes_large
            matches = modes == last.modes
        if not matches:
            if claimed:  # the caller's real snapshot takes the name
                self._git("update-ref", "-d", ref, last.commit)
            return None
        if not claimed:  # taken by someone else: the next free name
            ref = self._claim_ref(ref, last.commit, next_ref)
        snap = dataclasses.replace(last, ref=ref)
        self._last = snap
        if early is not None and target is not None:
            self._pending = _PendingModes(snap, target.tree, early[0], early[1], early[2])
        return snap

    def _split_modes(
        self, names: list[bytes], tree: str, target_tree: str
    ) -> tuple[list[tuple[str, str]], list[bytes], dict[str, int]]:
        """(changes tree -> target, files they leave alone, bits of the others and dirs).

        Runs before a restore to ``target_tree``: the bits of every file it will write
        or delete, and of every directory, must be read before it does.
        """
        changes = self._tree_changes(tree, target_tree)
        touched = {os.fsencode(p) for st, p in changes if st != "A"}
        rest = [n for n in names if n not in touched]
        modes, _large = _manifest(
            self.root, names, self._file_bits([n for n in names if n in touched])
        )
        return changes, rest, modes

    def _files_manifest(self, names: list[bytes]) -> dict[str, int]:
        """Manifest entries of these files alone (their directories left out)."""
        return _manifest(self.root, [], self._file_bits(names))[0]

    def _file_bits(self, names: Iterable[bytes]) -> Iterator[tuple[bytes, int, int]]:
        """(path, permission bits, size) of each of ``names`` that is a regular file."""
        base = os.fsencode(self.root) + b"/"
        lstat, s_isreg, s_imode = os.lstat, stat.S_ISREG, stat.S_IMODE
        for name in names:
            try:
                st = lstat(base + name)
            except OSError:
                continue
            if s_isreg(st.st_mode):
                yield name, s_imode(st.st_mode), st.st_size

    def _check_modes(
        self,
        snap: Snapshot,
        pending: _PendingModes | None,
        corrected: Callable[[Snapshot], None] | None,
        rest_job: Future[dict[str, int]] | None = None,
    ) -> Snapshot:
        """``snap``, or a commit of its tree with the live bits if its bits are stale.

        With ``pending``, the touched files' and directories' bits were read before the
        restore and ``rest_job`` reads the others; without it every file is read now.
        """
        if pending is not None and rest_job is not None:
            modes = {**pending.early, **rest_job.result()}
        else:
            names = self._tree_files.get(snap.tree)
            if names is None:
                return snap  # cannot happen: a pending check is only made with the names
            modes, _large = self._live_modes(names)
        if modes == snap.modes:
            return snap
        lines = [ln for ln in snap.message.splitlines() if not ln.startswith(_TRAILER_MODES)]
        if modes:
            lines.append(_modes_trailer(modes))
        message = "\n".join(lines) + "\n"
        commit = self._commit_tree(snap.tree, snap.parents, message)
        self._git("update-ref", "-m", "llmflows snapshot", snap.ref, commit, snap.commit)
        fixed = dataclasses.replace(snap, commit=commit, message=message, modes=modes)
        if corrected is not None:
            corrected(fixed)
        return fixed

    def _try_ref(self, ref: str, commit: str) -> bool:
        """Create ``ref`` -> ``commit`` if it does not exist (False if it does or fails)."""
        try:
            self._git("update-ref", "-m", "llmflows snapshot", ref, commit, "")
        except GitCommandError:
            return False
        return True

    def _worktree_matches(self, build: _TreeBuild, snap: Snapshot) -> bool:
        """Whether the work tree still equals ``build``'s index (skipped paths aside)."""
        out = self._gitb(*_STATUS, env={**_STATUS_ENV, "GIT_INDEX_FILE": build.index_path})
        skipped = [s.path.rstrip("/") for s in snap.skipped]
        for rec in out.split(b"\0"):
            if len(rec) < 4:
                continue
            xy, path = rec[:2], os.fsdecode(rec[3:]).rstrip("/")
            # X (index vs HEAD) is the snapshot's own content; Y and ?? are live changes.
            if (xy == b"??" or xy[1:2] != b" ") and not _is_under_any(path, skipped):
                return False
        return True

    def _claim_ref(self, ref: str, commit: str, next_ref: Callable[[], str] | None) -> str:
        """Create ``ref`` -> ``commit`` only if ``ref`` does not exist; try further names.

        One ``update-ref`` per attempt (compare-and-swap against "no ref"), so the cost
        stays flat however many refs the namespace holds and two linked worktrees
        sharing ``refs/`` can never overwrite each other's checkpoints.
        """
        for _ in range(_MAX_REF_ATTEMPTS):
            try:
                self._git("update-ref", "-m", "llmflows snapshot", ref, commit, "")
                return ref
            except GitCommandError:
                if not self._ref_exists(ref):
                    raise  # a real failure (bad name, locked, disk): not a taken name
            if next_ref is None:
                raise SnapshotError(f"{ref} already exists; a snapshot never overwrites a ref")
            ref = next_ref()
        raise SnapshotError(f"no free ref after {_MAX_REF_ATTEMPTS} attempts (last: {ref})")

    def _ref_exists(self, ref: str) -> bool:
        try:
            self._git("rev-parse", "-q", "--verify", ref)
        except GitCommandError:
            return False
        return True

    def worktree_tree(self) -> tuple[str, list[SkippedPath]]:
        """Tree id of the live working tree (as a snapshot would record it), no ref/commit."""
        build = self._build_tree(with_ignored=False)
        _unlink(build.index_path)
        return build.tree, build.skipped

    def load(self, commit: str) -> Snapshot:
        """Read back a snapshot commit (tree, index tree, skipped paths) by id or ref.

        Parsed commits are remembered by id (a commit never changes); names are resolved
        every time.
        """
        known = self._loaded.get(commit)
        if known is not None:
            return known
        snap = self._load(commit)
        self._loaded[snap.commit] = snap
        return snap

    def _load(self, commit: str) -> Snapshot:
        # One cat-file resolves the name and returns the object (rev-parse + cat-file
        # would be two processes on the restore path).
        out = self._gitb("cat-file", "--batch", input=f"{commit}^{{commit}}\n".encode())
        first, _, rest = out.partition(b"\n")
        fields = first.split()
        if len(fields) != 3 or fields[1] != b"commit":
            raise GitCommandError(
                ["git", "cat-file", "--batch", commit], 128, f"not a commit: {commit}"
            )
        sha = fields[0].decode("ascii")
        raw = rest[: int(fields[2])].decode("utf-8", "surrogateescape")
        head, _, body = raw.partition("\n\n")
        tree = ""
        parents: list[str] = []
        for line in head.splitlines():
            if line.startswith("tree "):
                tree = line[5:]
            elif line.startswith("parent "):
                parents.append(line[7:])
        index_tree = None
        skipped: list[SkippedPath] = []
        ignored = IgnoredSummary()
        old_ignored: list[str] = []  # snapshots from before the summary listed paths
        modes = parse_modes(body)
        for line in body.splitlines():
            if line.startswith(_TRAILER_INDEX):
                index_tree = line[len(_TRAILER_INDEX) :].strip()
            elif line.startswith(_TRAILER_SKIPPED):
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    d = json.loads(line[len(_TRAILER_SKIPPED) :])
                    if d["reason"] == "ignored":
                        old_ignored.append(str(d["path"]))
                    else:
                        skipped.append(SkippedPath(str(d["path"]), str(d["reason"])))
            elif line.startswith(_TRAILER_IGNORED):
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    ignored = IgnoredSummary.from_dict(json.loads(line[len(_TRAILER_IGNORED) :]))
        if old_ignored and not ignored.count:
            ignored = IgnoredSummary.of(old_ignored)
        return Snapshot(
            commit=sha,
            tree=tree,
            ref="",
            skipped=skipped,
            index_tree=index_tree,
            parents=parents,
            message=body,
            ignored=ignored,
            modes=modes,
        )

    def restore(
        self,
        target_commit: str,
        restore_index: bool = False,
        *,
        current: Snapshot | None = None,
        corrected: Callable[[Snapshot], None] | None = None,
    ) -> RestoreResult:
        """Make the working tree equal to the snapshot ``target_commit``.

        Two-way ``read-tree -m -u <current> <target>`` on a temp index: only differing
        files are written, files created since are removed, ignored files are left alone.
        ``current`` must be a snapshot of the live tree taken just before (the caller's
        pre-restore checkpoint); without it a fresh tree is taken internally. If the
        live tree changed after ``current``, git refuses to overwrite and GitCommandError
        is raised (nothing is lost). Paths skipped as too large or nested repos in either
        snapshot are never written or deleted (listed in ``kept``).

        With ``restore_index=True`` the user's real index is also set to the index tree
        recorded in the target (exact staged state, e.g. rewinding to checkpoint 0). That
        is the only operation that ever writes the user's index; HEAD is never touched.

        When ``current`` came from ``snapshot_if_unchanged(restoring=target_commit)``,
        the bits of the files this restore leaves alone are read while it runs; if any
        changed since that snapshot, ``current`` is replaced by a commit of the same
        tree with the right bits (its ref moved to it) and ``corrected`` is called with
        it, even when the restore fails.
        """
        target = self.load(target_commit)
        if restore_index and not target.index_tree:
            raise SnapshotError(f"{target_commit} records no index tree; cannot restore the index")
        pending, self._pending = self._pending, None
        if pending is None or current is None or pending.snap != current:
            pending = None
        elif pending.target_tree != target.tree:
            pending = None
            current = self._check_modes(current, None, corrected)
        stale_index = False  # index built by read-tree: no stat data to trust
        if current is not None:
            cur_tree, cur_skipped, cur_modes = current.tree, current.skipped, current.modes
            cached = self._take_cache(cur_tree)
            if cached is not None:
                index = cached.index_path
            else:
                index = self._new_tmp("restore-index")
                self._git("read-tree", cur_tree, env={"GIT_INDEX_FILE": index})
                stale_index = True
        else:
            build = self._build_tree(with_ignored=False)
            cur_tree, cur_skipped, index = build.tree, build.skipped, build.index_path
            try:
                cur_modes = self._modes(index, cur_tree)
            except BaseException:
                _unlink(index)
                raise
        try:
            env = {"GIT_INDEX_FILE": index}
            protected = sorted(
                {
                    s.path.rstrip("/")
                    for s in [*cur_skipped, *target.skipped]
                    if s.reason in ("too_large", "nested_repo")
                }
            )
            # The change list is only needed up front to re-hash a stale index; otherwise
            # compute it on a helper thread while read-tree does the real work.
            if pending is not None:
                changes_job: Future[list[tuple[str, str]]] = Future()
                changes_job.set_result(pending.changes)
                # Files the restore leaves alone: their bits can be read while it runs.
                rest_job: Future[dict[str, int]] | None = self._pool.submit(
                    self._files_manifest, pending.rest
                )
            else:
                changes_job = self._pool.submit(self._tree_changes, cur_tree, target.tree)
                rest_job = None
            merge_from = cur_tree
            if protected:
                # Merge from a "current" tree whose protected entries equal the target's:
                # the merge then sees nothing to do there and leaves those files alone.
                self._protect(index, target.tree, protected)
                merge_from = self._git("write-tree", env=env)
            if stale_index:
                changes = changes_job.result()
                # read-tree -m -u only trusts stat data; re-hash just the paths it will
                # replace or delete. If the live file no longer matches ``current`` the
                # entry differs from it and the merge refuses (nothing is overwritten).
                touch = [p for st, p in changes if st != "A" and not _is_under_any(p, protected)]
                if touch:
                    data = b"\0".join(os.fsencode(p) for p in touch) + b"\0"
                    self._git("update-index", "--remove", "-z", "--stdin", env=env, input=data)
            self._git(
                "read-tree",
                "-m",
                "-u",
                "--no-recurse-submodules",
                merge_from,
                target.tree,
                env=env,
            )
            changes = changes_job.result()
        except BaseException:
            with contextlib.suppress(Exception):
                changes_job.result()  # never leave it running past the temp index
            _unlink(index)
            if pending is not None and rest_job is not None:
                with contextlib.suppress(Exception):
                    self._last = self._check_modes(pending.snap, pending, corrected, rest_job)
            raise
        if pending is not None and rest_job is not None:
            cur_modes = self._check_modes(pending.snap, pending, corrected, rest_job).modes
        # The temp index now holds the target tree with fresh stat data: it is what
        # the next pre-restore check (snapshot_if_unchanged) compares the work tree to.
        self._set_cache(_TreeBuild(target.tree, target.skipped, index, target.ignored))
        self._last = target
        written = [p for st, p in changes if st != "D"]
        removed = [p for st, p in changes if st == "D"]
        kept = [p for p in protected if _touches(p, written, removed)]
        # Modes: the target's recorded bits, and git's default for paths whose
        # bits were special before the restore but not in the target.
        # Folders of written files too: one emptied and chmod-ed since is in no manifest.
        written_dirs = {p[: i + 1] for p in written for i, c in enumerate(p) if c == "/"}
        apply_modes(self.root, target.modes, set(target.modes) | set(cur_modes) | written_dirs)
        if restore_index:
            assert target.index_tree is not None
            # --reset: one-tree read that keeps stat data of identical entries and does
            # not refuse over dirty files (the work tree was just set on purpose). git
            # writes the index through index.lock + rename, so it is replaced atomically;
            # the refresh only re-stats so the next `git status` stays cheap.
            real = {"GIT_INDEX_FILE": str(self.index_path)}
            self._git("read-tree", "--reset", target.index_tree, env=real)
            self._git("update-index", "-q", "--refresh", env=real)
        return RestoreResult(
            written=[p for p in written if not _is_under_any(p, protected)],
            removed=[p for p in removed if not _is_under_any(p, protected)],
            from_tree=cur_tree,
            to_tree=target.tree,
            kept=kept,
            index_restored=restore_index,
        )

    def capture_user_state(self) -> dict[str, Any]:
        """What the user's git state looks like now (HEAD, index, branches, stash).

        Read-only; lets the caller record checkpoint 0 and later check whether the
        user committed or switched branches since (we never change those ourselves).
        """
        head_path = self.git_dir / "HEAD"
        head_raw = head_path.read_text(encoding="utf-8", errors="replace").strip()
        head_commit = None
        with contextlib.suppress(GitCommandError):
            head_commit = self._git("rev-parse", "--verify", "-q", "HEAD^{commit}")
        index_bytes = self.index_path.read_bytes() if self.index_path.exists() else None
        user_copy = self._copy_index()
        try:
            index_tree = self._git("write-tree", env={"GIT_INDEX_FILE": user_copy})
        finally:
            _unlink(user_copy)
        refs = self._git(
            "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"
        )
        stash = self._git("for-each-ref", "--format=%(objectname)", "refs/stash")

        return {
            "head": head_raw[5:].strip() if head_raw.startswith("ref:") else None,
            "head_commit": head_commit or None,
            "detached": not head_raw.startswith("ref:"),
            "index_tree": index_tree,
            "index_sha256": hashlib.sha256(index_bytes).hexdigest() if index_bytes else None,
            "branches": dict(line.split(" ", 1) for line in refs.splitlines() if line),
            "stash": stash or None,
        }

    # ------------------------------------------------------------------ internals

    def _git(
        self, *args: str, env: dict[str, str] | None = None, input: bytes | None = None
    ) -> str:
        return str(run_git(self._repo, *args, env=env, input=input))

    def _gitb(
        self, *args: str, env: dict[str, str] | None = None, input: bytes | None = None
    ) -> bytes:
        out = run_git(self._repo, *args, env=env, input=input, binary=True)
        return out if isinstance(out, bytes) else str(out).encode()

    def _new_tmp(self, stem: str) -> str:
        fd, path = tempfile.mkstemp(prefix=stem + "-", dir=self._tmp)
        os.close(fd)
        # A missing index is an empty index for git; an empty *file* is corrupt.
        os.unlink(path)
        return path

    def _copy_index(self) -> str:
        path = self._new_tmp("index")
        try:
            shutil.copyfile(self.index_path, path)
        except FileNotFoundError:
            pass  # fresh repo: no index yet == empty index
        return path

    def _commit_tree(self, tree: str, parents: list[str], message: str) -> str:
        """A snapshot commit of ``tree`` (our identity, ``message`` through stdin)."""
        args = ["commit-tree", tree]
        for p in parents:
            args += ["-p", p]
        return self._git(*args, "-F", "-", env=_IDENT, input=message.encode("utf-8"))

    def _index_commit(self, user_copy: str) -> tuple[str, str]:
        env = {"GIT_INDEX_FILE": user_copy}
        tree = self._git("write-tree", env=env)
        return tree, self._git("commit-tree", tree, "-m", "llmflows: index", env=_IDENT)

    def _index_key(self) -> tuple[int, ...] | None:
        try:
            st = os.stat(self.index_path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def _build_tree(self, with_ignored: bool) -> _TreeBuild:
        """Tree of the live work tree, built on a temp copy of the user's index.

        One ``git status`` (a single directory walk with a threaded, stat-cached
        refresh) names every changed or untracked path; only those are re-hashed with
        ``update-index`` -- cheaper than ``add -A``, which would walk the tree again.
        """
        index = self._copy_index()
        env = {"GIT_INDEX_FILE": index}
        try:
            large = [p for p in self._large if not self._too_large(p)]
            if large:
                # Hash big tracked files once, here: update-index skips unchanged ones by
                # stat, and status then finds them fresh instead of hashing them to compare.
                data = b"\0".join(os.fsencode(p) for p in large) + b"\0"
                self._git("update-index", "--add", "--remove", "-z", "--stdin", env=env, input=data)
            args = list(_STATUS)
            if with_ignored:
                args.append("--ignored=matching")
            out = self._gitb(*args, env={**_STATUS_ENV, **env})
            skipped, ignored, update, drop = self._classify(out)
            if update:
                data = b"\0".join(os.fsencode(p) for p in update) + b"\0"
                self._git("update-index", "--add", "--remove", "-z", "--stdin", env=env, input=data)
            if drop:
                # Tracked files now too large: drop them so the tree never holds a stale copy.
                data = b"\0".join(os.fsencode(p) for p in drop) + b"\0"
                self._git("update-index", "--force-remove", "-z", "--stdin", env=env, input=data)
            tree = self._git("write-tree", env=env)
        except BaseException:
            _unlink(index)
            raise
        return _TreeBuild(tree=tree, skipped=skipped, index_path=index, ignored=ignored)

    def _modes(
        self,
        index: str,
        tree: str,
        entries: dict[bytes, tuple[int, int, int, int]] | None = None,
    ) -> dict[str, int]:
        """Mode manifest of the files in ``index`` (and their directories), see module doc.

        ``index`` must have just been refreshed by our ``git status`` (ctime checks on),
        so each entry's ctime is its file's. A chmod changes the ctime, so a file whose
        entry still has the ctime we saw at our last lstat keeps the bits seen then: only
        new or changed entries are stat-ed. ``tree`` (its id) gives the hash length.
        """
        if entries is None:
            entries = read_index(index, len(tree) // 2)
            if entries is not None:
                if len(self._tree_files) >= 2:
                    self._tree_files.pop(next(iter(self._tree_files)))
                self._tree_files[tree] = list(entries)
        if entries is None:  # split index or an unknown format: ask git, trust no stat data
            listing = self._gitb("ls-files", "-s", "-z", env={"GIT_INDEX_FILE": index})
            entries = {
                os.fsencode(p): (0, 0, 0, _F_ASSUME_VALID)
                for p in _regular_paths(listing, links=True)
            }
        # git may compare ctimes to the second only: a file whose ctime is in this second
        # (or the last) could still change unseen, so it is stat-ed again next time.
        trusted_before = int(time.time()) - 1
        base = os.fsencode(self.root) + b"/"
        seen = self._seen_modes
        for gone in seen.keys() - entries.keys():
            del seen[gone]
        lstat, s_isreg, s_imode = os.lstat, stat.S_ISREG, stat.S_IMODE

        def files() -> Iterator[tuple[bytes, int, int]]:
            for name, (ctime, _ino, size, flags) in entries.items():
                hit = seen.get(name)
                if hit is not None and hit[0] == ctime and not flags & _F_ASSUME_VALID:
                    yield name, hit[1], size
                    continue
                try:
                    st = lstat(base + name)
                except OSError:
                    continue
                if not s_isreg(st.st_mode):
                    continue
                bits = s_imode(st.st_mode)
                if st.st_ctime < trusted_before:
                    seen[name] = (ctime_key(st), bits)
                else:
                    seen.pop(name, None)
                yield name, bits, size

        modes, self._large = _manifest(self.root, entries, files())
        return modes

    def _live_modes(self, names: list[bytes]) -> tuple[dict[str, int], list[str]]:
        """What :meth:`_modes` gives for a tree of these files, from lstat alone.

        Needs no refreshed index, so it runs while ``git status`` checks the same tree;
        only meaningful when that status finds no change (same files as ``names``).
        """
        return _manifest(self.root, names, self._file_bits(names))

    def _large_changed(self, entries: dict[bytes, tuple[int, int, int, int]] | None) -> bool:
        """Whether a big tracked file's stat differs from its index entry (no hashing)."""
        base = os.fsencode(self.root) + b"/"
        for path in self._large:
            name = os.fsencode(path)
            e = entries.get(name) if entries is not None else None
            try:
                st = os.lstat(base + name)
            except OSError:
                return True
            if e is None or e[:3] != (ctime_key(st), st.st_ino & 0xFFFFFFFF, st.st_size):
                return True
        return False

    def _classify(
        self, status_z: bytes
    ) -> tuple[list[SkippedPath], IgnoredSummary, list[str], list[str]]:
        """Split ``status -z`` records into (skipped, ignored, paths to re-hash, to drop)."""
        skipped: list[SkippedPath] = []
        update: list[str] = []  # re-hash from the work tree (or remove when missing)
        drop: list[str] = []  # tracked but too large now: leave the temp index
        ignored: list[str] = []
        for rec in status_z.split(b"\0"):
            if len(rec) < 4:
                continue
            xy, path = rec[:2], os.fsdecode(rec[3:])
            if xy == b"!!":
                ignored.append(path)
                continue
            if xy == b"??":
                if path.endswith("/"):
                    # -uall lists single files; a directory here is a nested repository.
                    skipped.append(SkippedPath(path.rstrip("/"), "nested_repo"))
                elif self._too_large(path):
                    skipped.append(SkippedPath(path, "too_large"))
                else:
                    update.append(path)
                continue
            unmerged = b"U" in xy or xy in (b"DD", b"AA")
            if xy[1:2] == b" " and not unmerged:
                continue  # staged only: the index copy already has it
            if self._too_large(path):
                skipped.append(SkippedPath(path, "too_large"))
                drop.append(path)
            else:
                update.append(path)
        for sub in self._submodule_paths():
            skipped.append(SkippedPath(sub, "nested_repo"))
        return skipped, IgnoredSummary.of(ignored), update, drop

    def _too_large(self, path: str) -> bool:
        try:
            st = os.lstat(self.root / path)
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_size > self.max_file_bytes

    def _submodule_paths(self) -> list[str]:
        gm = self.root / ".gitmodules"
        if not gm.exists():
            return []
        paths = []
        for line in gm.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and key.strip() == "path":
                paths.append(value.strip())
        return paths

    def _protect(self, index: str, target_tree: str, paths: list[str]) -> None:
        """Make the merge leave ``paths`` alone: index entry := target's entry (or none).

        Two-way merge rules: an index entry equal to the target is kept without touching
        the file; a path missing from the index is only dropped from the index.
        """
        env = {"GIT_INDEX_FILE": index}
        data = b"\0".join(os.fsencode(p) for p in paths) + b"\0"
        self._git("update-index", "--force-remove", "-z", "--stdin", env=env, input=data)
        listing = self._gitb("ls-tree", "-r", "-z", "--full-tree", target_tree, "--", *paths)
        entries = [e for e in listing.split(b"\0") if e]
        if entries:
            info = b"\0".join(entries) + b"\0"
            self._git("update-index", "-z", "--index-info", env=env, input=info)

    def _tree_changes(self, a: str, b: str) -> list[tuple[str, str]]:
        """(status, path) for every path that differs between trees a and b.

        Trees never change, so neither does their diff: the last few are kept, and the
        way back (an undo, or rewinding to and fro) is the same list with adds and
        deletes swapped.
        """
        known = self._diffs.get((a, b))
        if known is not None:
            return known
        back = self._diffs.get((b, a))
        if back is not None:
            return [(_REVERSED.get(st, st), p) for st, p in back]
        out = self._gitb("diff-tree", "-r", "-z", "--no-renames", "--name-status", a, b)
        parts = out.split(b"\0")
        changes = [
            (parts[i].decode("ascii"), os.fsdecode(parts[i + 1]))
            for i in range(0, len(parts) - 1, 2)
        ]
        if len(self._diffs) >= _KEPT_DIFFS:
            self._diffs.pop(next(iter(self._diffs)))
        self._diffs[(a, b)] = changes
        return changes

    def _set_cache(self, build: _TreeBuild) -> None:
        if self._cached is not None:
            _unlink(self._cached.index_path)
        self._cached = build

    def _take_cache(self, tree: str) -> _TreeBuild | None:
        cached, self._cached = self._cached, None
        if cached is not None and cached.tree == tree and os.path.exists(cached.index_path):
            return cached
        if cached is not None:
            _unlink(cached.index_path)
        return None


def _compose_message(
    message: str,
    index_tree: str,
    skipped: list[SkippedPath],
    ignored: IgnoredSummary,
    modes: dict[str, int],
) -> str:
    lines = [message.rstrip("\n"), "", _TRAILER_INDEX + index_tree]
    for s in skipped:
        lines.append(_TRAILER_SKIPPED + json.dumps(s.to_dict(), ensure_ascii=True))
    if ignored.count:
        lines.append(_TRAILER_IGNORED + json.dumps(ignored.to_dict(), ensure_ascii=True))
    if modes:
        lines.append(_modes_trailer(modes))
    return "\n".join(lines) + "\n"


def _modes_trailer(modes: dict[str, int]) -> str:
    """The ``Llmflows-Modes`` line of a mode manifest (see :func:`parse_modes`)."""
    recorded = {p: format(m, "o") for p, m in sorted(modes.items())}
    return _TRAILER_MODES + json.dumps(recorded, ensure_ascii=True)


# --------------------------------------------------------------------------- modes


def current_umask() -> int:
    """The process umask, read without changing it (Linux), else set-and-restore."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def _git_default(is_dir: bool, executable: bool, umask: int) -> int:
    """The permission bits git gives a file (or directory) it creates."""
    return (0o777 if is_dir or executable else 0o666) & ~umask


def _regular_paths(ls_files_z: bytes, links: bool = False) -> list[str]:
    """Regular-file paths of ``ls-files -s -z`` output (gitlinks, and symlinks unless
    ``links``, left out)."""
    # Records are "<mode> <sha> <stage>\t<path>"; only 100644/100755 are regular files.
    kinds = (b"100644", b"100755", b"120000") if links else (b"100644", b"100755")
    return [
        os.fsdecode(rec[rec.index(b"\t") + 1 :])
        for rec in ls_files_z.split(b"\0")
        if rec[:6] in kinds
    ]


def ctime_key(st: os.stat_result) -> int:
    """``st``'s ctime as a git index entry stores it: seconds (32 bits) << 32 | nanoseconds."""
    sec, nsec = divmod(st.st_ctime_ns, 1_000_000_000)
    return ((sec & 0xFFFFFFFF) << 32) | nsec


#: One index entry's fixed part, by object-id length: ctime, ino, mode, size, flags.
_ENTRY = {n: struct.Struct(f">Q12xII8xI{n}xH") for n in (20, 32)}
_F_ASSUME_VALID, _F_EXTENDED, _F_STAGE = 0x8000, 0x4000, 0x3000


def read_index(
    path: str | os.PathLike[str], hash_len: int
) -> dict[bytes, tuple[int, int, int, int]] | None:
    """Stage-0 regular files and symlinks of a git index file (versions 2-4): path -> (ctime as
    :func:`ctime_key` gives it, inode, size, flags).

    None when the file is not a plain index this reader knows (missing, split index,
    another version or hash): callers then ask git and stat files instead.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if data[:4] != b"DIRC" or len(data) < 12 or hash_len not in _ENTRY:
        return None
    version, count = struct.unpack_from(">II", data, 4)
    if version not in (2, 3, 4):
        return None
    entry = _ENTRY[hash_len]
    unpack, fixed, find = entry.unpack_from, entry.size, data.index
    out: dict[bytes, tuple[int, int, int, int]] = {}
    prev = b""
    off = 12
    try:
        for _ in range(count):
            ctime, ino, mode, size, flags = unpack(data, off)
            at = off + fixed + (2 if version >= 3 and flags & _F_EXTENDED else 0)
            if version == 4:  # name = previous name minus N bytes, plus this suffix
                b = data[at]
                at += 1
                strip = b & 0x7F
                while b & 0x80:
                    b = data[at]
                    at += 1
                    strip = ((strip + 1) << 7) | (b & 0x7F)
                end = find(b"\0", at)
                name = prev[: len(prev) - strip] + data[at:end]
                prev, off = name, end + 1
            else:
                n = flags & 0xFFF
                end = at + n if n != 0xFFF else find(b"\0", at)
                name = data[at:end]
                off += (end - off + 8) & ~7
            # a regular file or a symlink (its folder's bits count), stage 0
            if mode >> 12 in (0o10, 0o12) and not flags & _F_STAGE:
                out[name] = (ctime, ino, size, flags)
        while off + 8 <= len(data) - hash_len:  # extensions
            if data[off : off + 4] == b"link":
                return None  # split index: these entries are only part of it
            off += 8 + int.from_bytes(data[off + 4 : off + 8], "big")
    except (struct.error, ValueError, IndexError):
        return None
    return out


def _manifest(
    root: Path, names: Iterable[bytes], files: Iterable[tuple[bytes, int, int]]
) -> tuple[dict[str, int], list[str]]:
    """(mode manifest, big files) from the (path, bits, size) of regular ``files``.

    ``names`` are all the tree's paths, symlinks included: a folder's bits count
    whatever it holds (it may hold only a symlink).
    """
    umask = current_umask()
    plain, executable = 0o666 & ~umask, 0o777 & ~umask
    dirs = {name[:cut] for name in names if (cut := name.rfind(b"/")) > 0}
    modes: dict[str, int] = {}
    large: list[str] = []
    for name, bits, size in files:
        if bits != (executable if bits & 0o100 else plain):
            modes[os.fsdecode(name)] = bits
        if size >= _LARGE_FILE_BYTES:
            large.append(os.fsdecode(name))
    modes.update(_dir_modes(root, {os.fsdecode(d) for d in dirs}, executable))
    return modes, large


def _dir_modes(root: Path, dirs: set[str], default: int) -> dict[str, int]:
    """Bits of ``dirs`` (and their ancestors) that differ from ``default``, as "dir/" keys."""
    for d in list(dirs):
        cut = d.rfind("/")
        while cut > 0 and d[:cut] not in dirs:
            d = d[:cut]
            dirs.add(d)
            cut = d.rfind("/")
    base = os.fspath(root) + os.sep
    modes: dict[str, int] = {}
    for d in dirs:
        try:
            st = os.lstat(base + d)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) != default:
            modes[d + "/"] = stat.S_IMODE(st.st_mode)
    return modes


def parse_modes(message: str) -> dict[str, int]:
    """The mode manifest recorded in a snapshot commit message ({} when none)."""
    for line in message.splitlines():
        if line.startswith(_TRAILER_MODES):
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                raw = json.loads(line[len(_TRAILER_MODES) :])
                return {str(p): int(str(m), 8) & 0o7777 for p, m in raw.items()}
    return {}


def apply_modes(root: Path, modes: dict[str, int], paths: set[str] | list[str]) -> None:
    """Give each of ``paths`` its recorded mode, or git's default when none is recorded.

    Paths are manifest keys (directories end in "/"); missing paths and
    symlinks are skipped. Directories are done last, deepest first, so a
    ``0500`` directory does not block fixing the files inside it.
    """
    umask = current_umask()
    files = sorted(p for p in paths if not p.endswith("/"))
    dirs = sorted((p for p in paths if p.endswith("/")), key=len, reverse=True)
    for rel in [*files, *dirs]:
        full = root / rel.rstrip("/")
        try:
            st = os.lstat(full)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if is_dir != rel.endswith("/"):
            continue
        current = stat.S_IMODE(st.st_mode)
        want = modes.get(rel)
        if want is None:
            want = _git_default(is_dir, bool(current & stat.S_IXUSR), umask)
        if want != current:
            with contextlib.suppress(OSError):
                os.chmod(full, want)


_TMP_PREFIX = "llmflows-snap-"


def remove_stale_temp_dirs(tmp_root: str | None = None) -> list[str]:
    """Delete ``llmflows-snap-<pid>-*`` temp dirs whose process is gone; returns their names.

    A Snapshotter removes its own dir on close, but a SIGKILLed process never
    closes; the next one cleans up after it.
    """
    root = Path(tmp_root or tempfile.gettempdir())
    removed: list[str] = []
    with contextlib.suppress(OSError):
        for entry in root.iterdir():
            pid_text = entry.name[len(_TMP_PREFIX) :].split("-", 1)[0]
            if not entry.name.startswith(_TMP_PREFIX) or not pid_text.isdigit():
                continue
            if pid_alive(int(pid_text)):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _is_under_any(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def _touches(p: str, written: list[str], removed: list[str]) -> bool:
    return any(x == p or x.startswith(p + "/") for x in (*written, *removed))
