"""Checkpoints: a working-tree snapshot (git objects) plus a row in the run store.

Ordering (DESIGN "Run store"): the git commit and its ref are written first,
then one SQLite transaction inserts the row (and the state blob). A crash in
between leaves an unreferenced ref/commit, never a row pointing at a missing
object.

Refs: run checkpoints live at ``refs/llmflows/<run_id>/<seq>``, manual ones
(run_id NULL, e.g. the CLI ``checkpoint`` verb) at ``refs/llmflows/manual/<seq>``.
``seq`` comes from a durable per-namespace counter in the store; the ref is
created with ``update-ref`` expecting it not to exist, and a seq whose ref is
already taken (a deleted store, another linked worktree sharing ``refs/``) is
skipped for the next one. No listing of the namespace: the cost of a
checkpoint does not grow with the number of refs a run already has.

Rewind = take a ``pre-restore`` checkpoint of the live tree, then restore the
target. When nothing changed since the last snapshot taken or restored (the
step's own checkpoint, or the tree a previous rewind put back), the pre-restore
checkpoint points at that same commit: one ``git status`` proves it instead of
hashing the tree again. Rewinding to that pre-restore checkpoint undoes the rewind (and is
itself undoable the same way).

**Index rule.** The user's staged state (the real ``.git/index``) is restored
only when rewinding to a checkpoint that captured *the user's own state*:
sources ``start`` (checkpoint 0: the uncommitted work present when a run
began), ``manual`` (the user asked for it) and ``pre-restore`` (the state just
before a rewind, so undo is exact). Rewinds to engine-made checkpoints
(``step``, ``review``, ``edit``, ``retry``, ...) change only the working tree:
the engine never staged anything, so the user's index is left alone.
``rewind(..., restore_index=True/False)`` overrides the rule.

Parents: a checkpoint's parent defaults to the current head of its line -
the run's ``head_checkpoint_id`` for run checkpoints, the last manual
checkpoint (or rewind target) for manual ones. ``files_changed`` counts files
differing from the parent's tree (from ``HEAD``'s tree for a root checkpoint).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import CheckpointNotFoundError, GitCommandError
from engine.git.diffmodel import Diff
from engine.git.repo import open_repo, run_git
from engine.run.crashpoints import crash_point

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
MANUAL_NAMESPACE = "manual"
REF_PREFIX = "refs/llmflows"
# Sources whose rewind also restores the user's index (see module docstring).
INDEX_RESTORING_SOURCES = frozenset({"start", "manual", "pre-restore"})
# Our own store directory is excluded from snapshots on purpose; it is not user work.
_OWN_DIR = ".llmflows"
_MANUAL_HEAD_KEY = "head:manual"


def _is_own_path(path: str) -> bool:
    p = path.rstrip("/")
    return p == _OWN_DIR or p.startswith(_OWN_DIR + "/")


def _skipped_dicts(skipped: list[Any]) -> list[dict[str, str]]:
    out = []
    for s in skipped:
        d = s if isinstance(s, dict) else {"path": s.path, "reason": s.reason}
        if not _is_own_path(d["path"]):
            out.append({"path": d["path"], "reason": d["reason"]})
    return out


class CheckpointService:
    """Creates, lists, diffs and rewinds checkpoints of one repository.

    ``store`` is a writable :class:`engine.store.RunStore` (for create/rewind);
    ``snapshotter`` an :class:`engine.git.snapshots.Snapshotter` of the same repo.
    Calls are serialized (the snapshotter is not thread-safe).
    """

    def __init__(self, repo_root: str | Path, store: Any, snapshotter: Any) -> None:
        self.repo_root = Path(repo_root)
        self.store = store
        self.snapshotter = snapshotter
        self._lock = threading.RLock()
        try:  # snapshotter may be None for read-only use (list/diff)
            params: Mapping[str, inspect.Parameter] = inspect.signature(
                snapshotter.restore
            ).parameters
        except (AttributeError, TypeError, ValueError):
            params = {}
        # Passing the pre-restore snapshot lets restore() reuse its temp index.
        self._restore_takes_current = "current" in params

    # ------------------------------------------------------------------ queries

    def get(self, checkpoint_id: int) -> dict[str, Any]:
        """The checkpoint row (CheckpointNotFoundError if unknown)."""
        return self.store.get_checkpoint(int(checkpoint_id))

    def list(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """All checkpoints (or those of one run), oldest first."""
        return self.store.list_checkpoints(run_id)

    def diff(self, a_id: int, b_id: int | None = None, **kwargs: Any) -> Diff:
        """Diff checkpoint ``a_id`` against ``b_id``, or against the live tree if None."""
        from engine.git import diffs  # imported lazily: only diff users pay for it

        a = self.get(a_id)
        if b_id is None:
            return diffs.diff_to_worktree(self.repo_root, a["commit_sha"])
        b = self.get(b_id)
        return diffs.diff_commits(self.repo_root, a["commit_sha"], b["commit_sha"], **kwargs)

    def head(self, run_id: str | None) -> int | None:
        """Id of the current head checkpoint of a run (None: of the manual line)."""
        if run_id is not None:
            return self.store.get_run(run_id)["head_checkpoint_id"]
        value = self._meta_get(_MANUAL_HEAD_KEY)
        if value is not None:
            return int(value)
        latest = self.store.latest_checkpoint(None)
        return latest["id"] if latest else None

    # ------------------------------------------------------------------ create

    def create(
        self,
        run_id: str | None,
        step_id: int | None,
        source: str,
        message: str,
        state: dict | None,
        parent_id: int | None = None,
        *,
        git_parent: bool = True,
    ) -> dict[str, Any]:
        """Snapshot the live tree and record it; return the new checkpoint row.

        ``state`` (engine state JSON) is stored content-addressed; ``parent_id``
        defaults to the head of the line (see module docstring). ``git_parent=False``
        keeps the parent link in the store only: the commit starts a history of its
        own, so collecting the parent's run can free its objects (a follow-up run).
        """
        row, _snap = self._create(
            run_id, step_id, source, message, state, parent_id, git_parent=git_parent
        )
        return row

    def _create(
        self,
        run_id: str | None,
        step_id: int | None,
        source: str,
        message: str,
        state: dict | None,
        parent_id: int | None,
        *,
        state_hash: str | None = None,
        reuse: bool = False,
        restoring: str | None = None,
        git_parent: bool = True,
    ) -> tuple[dict[str, Any], Any]:
        with self._lock:
            if parent_id is None:
                parent_id = self.head(run_id)
            parent = self.get(parent_id) if parent_id is not None else None
            namespace = run_id or MANUAL_NAMESPACE
            with open_repo(self.repo_root) as repo:

                def next_ref() -> str:
                    return f"{REF_PREFIX}/{namespace}/{self.store.next_ref_seq(namespace)}"

                # 1. git objects + ref (created only if free; else the next seq).
                ref = next_ref()
                snap = None
                if reuse and hasattr(self.snapshotter, "snapshot_if_unchanged"):
                    # Nothing changed since the last snapshot (usually the step's own
                    # checkpoint): point a new ref at it instead of hashing the tree again.
                    snap = self.snapshotter.snapshot_if_unchanged(
                        ref, next_ref=next_ref, restoring=restoring
                    )
                if snap is None:
                    snap = self.snapshotter.snapshot(
                        ref,
                        message or source,
                        parent_commit=parent["commit_sha"] if parent and git_parent else None,
                        next_ref=next_ref,
                    )
                ref = snap.ref
                base_tree = parent["tree_sha"] if parent else self._head_tree(repo)
                files_changed = self._count_changes(repo, base_tree, snap.tree)
            crash_point("checkpoint.after_git")
            skipped = _skipped_dicts(list(snap.skipped))
            # 2. one transaction: blob + row (+ the manual line's head).
            with self.store.transaction():
                if state is not None:
                    state_hash = self.store.put_blob(state)
                cid = self.store.add_checkpoint(
                    run_id,
                    step_id,
                    parent_id,
                    source,
                    message,
                    snap.commit,
                    snap.tree,
                    ref,
                    state_hash,
                    files_changed,
                    bool(skipped),
                    skipped,
                    seq=int(ref.rsplit("/", 1)[1]),
                )
                if run_id is None:
                    self._meta_set(_MANUAL_HEAD_KEY, str(cid))
                crash_point("checkpoint.in_transaction")
            return self.get(cid), snap

    @staticmethod
    def _head_tree(repo: Any) -> str:
        try:
            return str(run_git(repo, "rev-parse", "-q", "--verify", "HEAD^{tree}"))
        except GitCommandError:
            return EMPTY_TREE  # unborn branch: everything is new

    @staticmethod
    def _count_changes(repo: Any, a_tree: str, b_tree: str) -> int:
        if a_tree == b_tree:
            return 0
        out = run_git(repo, "diff-tree", "-r", "--name-only", "-z", a_tree, b_tree, binary=True)
        return sum(1 for p in bytes(out).split(b"\0") if p)

    # ------------------------------------------------------------------ rewind

    def rewind(self, checkpoint_id: int, restore_index: bool | None = None) -> dict[str, Any]:
        """Restore the working tree to a checkpoint, after saving the live tree.

        Returns ``{"restored": id, "undo_checkpoint": id of the pre-restore
        checkpoint (rewind to it to undo), "written": [...], "removed": [...],
        "kept": [...], "uncaptured": [{"path", "reason"}...], "restore_index": bool,
        "partial": bool}``. The line's
        head (run head or manual head) becomes the restored checkpoint, so
        the next checkpoint forks from it.
        """
        with self._lock:
            target = self.get(checkpoint_id)
            try:
                if hasattr(self.snapshotter, "load"):
                    # Parses it once for the restore too (one git process, not two).
                    self.snapshotter.load(target["commit_sha"])
                else:
                    with open_repo(self.repo_root) as repo:
                        run_git(repo, "cat-file", "-e", f"{target['commit_sha']}^{{commit}}")
            except GitCommandError:
                raise CheckpointNotFoundError(
                    f"checkpoint {target['id']}: its snapshot {target['commit_sha'][:12]} "
                    "is missing from the git object store; it cannot be restored"
                ) from None
            if restore_index is None:
                restore_index = target["source"] in INDEX_RESTORING_SOURCES
            run_id = target["run_id"]
            head_id = self.head(run_id)
            # Keep the engine state with the saved tree, so undoing a run's
            # rewind also resumes from a checkpoint that has state.
            head_state = self.get(head_id)["state_hash"] if head_id is not None else None
            pre, snap = self._create(
                run_id,
                None,
                "pre-restore",
                f"before rewind to checkpoint {target['id']}",
                None,
                head_id,
                state_hash=head_state,
                reuse=True,
                restoring=target["commit_sha"],
            )
            kwargs: dict[str, Any] = {"restore_index": restore_index}
            if self._restore_takes_current:
                kwargs["current"] = snap

                def corrected(fixed: Any) -> None:
                    # Bits changed since the reused snapshot: the row follows its commit.
                    self.store.set_checkpoint_commit(pre["id"], fixed.commit)

                kwargs["corrected"] = corrected
            try:
                result = self.snapshotter.restore(target["commit_sha"], **kwargs)
            except Exception as e:
                e.add_note(f"the working tree before the rewind is saved as checkpoint {pre['id']}")
                raise
            with self.store.transaction():
                if run_id is not None:
                    self.store.update_run(run_id, head_checkpoint_id=target["id"])
                else:
                    self._meta_set(_MANUAL_HEAD_KEY, str(target["id"]))
            return {
                "restored": target["id"],
                "undo_checkpoint": pre["id"],
                "written": list(result.written),
                "removed": list(result.removed),
                "kept": list(getattr(result, "kept", []) or []),
                # In the tree now but in no snapshot (too large, nested repos): a rewind
                # cannot bring back what they held, so say so instead of "no changes".
                "uncaptured": [sp.to_dict() for sp in getattr(snap, "skipped", None) or []],
                "restore_index": bool(restore_index),
                "partial": bool(target["partial"]),
            }

    # ------------------------------------------------------------------ meta

    def _meta_get(self, key: str) -> str | None:
        return self.store.get_meta(key)

    def _meta_set(self, key: str, value: str) -> None:
        self.store.set_meta(key, value)
