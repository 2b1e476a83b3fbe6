"""RunStore: the durable record of runs, steps, checkpoints, effects, gates, events and cost.

One SQLite file per repository, ``<repo_root>/.llmflows/history.db``, accessed
through sqlite-utils. Every method returns plain dicts / ids (JSON columns are
decoded). Writers hold ``.llmflows/lock`` for their whole lifetime; readers
(``write=False``) take no lock and every write method raises
:class:`StoreReadOnlyError`.

Thread safety: the connection is opened with ``check_same_thread=False`` (the
engine runs in a worker thread) and all access is serialized by one re-entrant
mutex, held for the whole of a :meth:`RunStore.transaction` block so other
threads never interleave statements into it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils
from sqlite_utils.db import NotFoundError

from engine.errors import (
    CheckpointNotFoundError,
    EffectAlreadyDoneError,
    GateAlreadyAnsweredError,
    NotAGitRepoError,
    RecordNotFoundError,
    RunNotFoundError,
    StoreCorruptError,
    StoreError,
    StoreReadOnlyError,
)
from engine.events import Event
from engine.git.repo import plain_git
from engine.store.lock import WriterLock
from engine.store.schema import current_version, migrate

STORE_DIR = ".llmflows"
DB_NAME = "history.db"
LOCK_NAME = "lock"
BUSY_TIMEOUT_MS = 10_000
_EXCLUDE_LINE = "/.llmflows/"
_EXCLUDE_FORMS = {".llmflows", ".llmflows/", "/.llmflows", "/.llmflows/"}

# Known checkpoint sources (documentation; the store accepts any non-empty source).
CHECKPOINT_SOURCES = (
    "start",
    "step",
    "review",
    "edit",
    "pre-restore",
    "manual",
    "retry",
    "stop",
    "failed",
    "message",
)

_STEP_FIELDS = {
    "node",
    "kind",
    "attempt",
    "parent_step_id",
    "task_id",
    "base_checkpoint_id",
    "status",
    "error",
    "started_at",
    "finished_at",
    "checkpoint_id",
    "output_hash",
}

_RUN_FIELDS = {
    "flow",
    "goal",
    "model",
    "autonomy",
    "status",
    "head_checkpoint_id",
    "state_hash",
    "config",
    "error",
    "finished_at",
    "user_git",
    "single_step",
}

F = TypeVar("F", bound=Callable[..., Any])


def _last_pk(table: sqlite_utils.db.Table) -> int:
    """The integer key of the row ``table`` just inserted."""
    if table.last_pk is None:
        raise RuntimeError(f"no row was inserted into {table.name}")
    return int(table.last_pk)


def canonical_json(obj: Any) -> str:
    """The one JSON spelling of ``obj``: sorted keys, compact, UTF-8, no NaN."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def blob_hash(obj: Any) -> str:
    """sha256 hex of :func:`canonical_json` (the blob's content address)."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def store_dir(repo_root: str | Path) -> Path:
    return Path(repo_root) / STORE_DIR


def ensure_excluded(repo_root: str | Path) -> Path:
    """Add ``/.llmflows/`` to the repo's ``info/exclude`` once; return that file's path.

    The path comes from ``git rev-parse --git-path info/exclude`` so linked
    worktrees write to the shared exclude file. Raises NotAGitRepoError.
    """
    root = Path(repo_root)
    rel = plain_git(root, "rev-parse", "--git-path", "info/exclude")
    if rel is None:
        raise NotAGitRepoError(str(root))
    path = root / rel  # absolute output stays absolute
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    if any(line.strip() in _EXCLUDE_FORMS for line in text.splitlines()):
        return path
    sep = "" if not text or text.endswith("\n") else "\n"
    with path.open("a", encoding="utf-8") as f:
        f.write(f"{sep}# llmflows-tui run history (local)\n{_EXCLUDE_LINE}\n")
    return path


def _loads(value: Any) -> Any:
    return None if value is None else json.loads(value)


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


_CORRUPT = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


@contextlib.contextmanager
def _readable(path: Path) -> Iterator[None]:
    """Turn SQLite's 'not a database' / 'malformed' into one clear error with what to do."""
    try:
        yield
    except sqlite3.DatabaseError as e:
        if not str(getattr(e, "sqlite_errorname", "")).startswith(_CORRUPT):
            raise
        raise StoreCorruptError(
            f"{path} is damaged ({e}), so the run history cannot be read. Your files and "
            f"your git history are not affected. To start a fresh history, move it aside: "
            f"mv {path} {path}.damaged (snapshots stay in git under refs/llmflows/)"
        ) from None


def _reads(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(self: RunStore, *args: Any, **kwargs: Any) -> Any:
        with self._mutex, _readable(self.path):
            self._check_open()
            return fn(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _writes(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(self: RunStore, *args: Any, **kwargs: Any) -> Any:
        with self._mutex, _readable(self.path):
            self._check_writable(fn.__name__)
            with self.transaction():
                return fn(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class RunStore:
    """The run store of one repository (see module docstring).

    ``RunStore.open(repo_root)`` (or the constructor) creates
    ``.llmflows/history.db`` if needed, adds ``.llmflows/`` to the repo's
    ``info/exclude``, enables WAL, ``busy_timeout`` and ``foreign_keys``, and
    applies pending migrations. With ``write=True`` it first takes the writer
    lock (:class:`StoreLockedError` naming the holder's pid if another process
    has it). Use as a context manager or call :meth:`close`.
    """

    def __init__(self, repo_root: str | Path, write: bool = True) -> None:
        self.repo_root = Path(repo_root).resolve()
        self.writable = write
        self._mutex = threading.RLock()
        self._savepoints = itertools.count(1)
        self._db: sqlite_utils.Database | None = None
        # A reader of a repository with no history yet (`runs`, `show` in a fresh clone)
        # reads an empty in-memory store: looking creates nothing in the person's repo.
        empty = not write and not self.path.exists()
        if empty:
            if plain_git(self.repo_root, "rev-parse", "--git-dir") is None:
                raise NotAGitRepoError(str(self.repo_root))
        else:
            ensure_excluded(self.repo_root)  # also proves it is a git work tree
            self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = WriterLock(self.dir / LOCK_NAME, self.path) if write else None
        if self._lock:
            self._lock.acquire()
        conn: sqlite3.Connection | None = None
        with _readable(self.path):
            try:
                conn = sqlite3.connect(
                    ":memory:" if empty else str(self.path),
                    timeout=BUSY_TIMEOUT_MS / 1000,
                    check_same_thread=False,
                )
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                db = sqlite_utils.Database(conn, execute_plugins=False)
                db.execute("PRAGMA foreign_keys=ON")
                if not empty and db.journal_mode != "wal":
                    db.enable_wal()
                # WAL + NORMAL is safe against process crashes (kill -9): a
                # committed transaction survives; only an OS crash may lose the last ones.
                db.execute("PRAGMA synchronous=NORMAL")
                migrate(db)
                if not write:
                    db.execute("PRAGMA query_only=ON")
                self._db = db
            except BaseException:
                if conn is not None:
                    conn.close()
                if self._lock:
                    self._lock.release()
                raise

    @classmethod
    def open(cls, repo_root: str | Path, write: bool = True) -> RunStore:
        """Open (creating if needed) the store of the repository at ``repo_root``."""
        return cls(repo_root, write=write)

    # -- lifecycle ------------------------------------------------------------

    @property
    def dir(self) -> Path:
        return self.repo_root / STORE_DIR

    @property
    def path(self) -> Path:
        """Path of the SQLite file."""
        return self.dir / DB_NAME

    @property
    def lock_path(self) -> Path:
        return self.dir / LOCK_NAME

    @property
    def db(self) -> sqlite_utils.Database:
        """The underlying sqlite-utils Database (for ad-hoc queries)."""
        self._check_open()
        assert self._db is not None
        return self._db

    @property
    def closed(self) -> bool:
        return self._db is None

    def close(self) -> None:
        """Close the connection and release the writer lock (idempotent)."""
        with self._mutex:
            db, self._db = self._db, None
            if db is not None:
                db.close()
            if self._lock:
                self._lock.release()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._db is None:
            raise StoreError(f"the run store {self.path} is closed")

    def _check_writable(self, what: str) -> None:
        self._check_open()
        if not self.writable:
            raise StoreReadOnlyError(
                f"the run store {self.path} was opened read-only; {what}() needs a writer "
                "(open it with write=True, which takes the repository's writer lock)"
            )

    @_reads
    def schema_version(self) -> int:
        return current_version(self.db)

    @_reads
    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result ("ok" when healthy)."""
        rows = self.db.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[RunStore]:
        """One SQLite transaction (``BEGIN IMMEDIATE``); nested blocks are savepoints.

        Everything written inside commits together or not at all. Other
        threads wait until the block ends.
        """
        with self._mutex:
            self._check_writable("transaction")
            conn = self.db.conn
            if conn.in_transaction:
                sp = f"llmflows_sp{next(self._savepoints)}"
                conn.execute(f"SAVEPOINT {sp}")
                try:
                    yield self
                except BaseException:
                    if conn.in_transaction:
                        conn.execute(f"ROLLBACK TO SAVEPOINT {sp}")
                        conn.execute(f"RELEASE SAVEPOINT {sp}")
                    raise
                else:
                    conn.execute(f"RELEASE SAVEPOINT {sp}")
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise

    def _one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        cur = self.db.execute(sql, params)
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def _all(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        cur = self.db.execute(sql, params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    # -- meta ------------------------------------------------------------------

    @_reads
    def get_meta(self, key: str) -> str | None:
        """A small store-wide value (None if unset)."""
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else row["value"]

    @_writes
    def set_meta(self, key: str, value: str | None) -> None:
        self.db["meta"].upsert({"key": key, "value": value}, pk="key")

    # -- blobs ---------------------------------------------------------------

    @_writes
    def put_blob(self, obj: Any) -> str:
        """Store ``obj`` as canonical JSON under its sha256; identical content is stored once."""
        data = canonical_json(obj)
        encoded = data.encode("utf-8")
        h = hashlib.sha256(encoded).hexdigest()
        self.db["blobs"].insert(
            {"hash": h, "data": data, "size": len(encoded), "created_at": time.time()},
            ignore=True,
        )
        return h

    @_reads
    def get_blob(self, hash: str) -> Any:
        row = self._one("SELECT data FROM blobs WHERE hash = ?", (hash,))
        if row is None:
            raise RecordNotFoundError(f"no blob {hash}")
        return json.loads(row["data"])

    # -- runs ----------------------------------------------------------------

    @staticmethod
    def _run_row(row: dict[str, Any]) -> dict[str, Any]:
        row["config"] = _loads(row["config"]) or {}
        row["user_git"] = _loads(row.get("user_git")) or {}
        row["single_step"] = bool(row.get("single_step"))
        return row

    @_writes
    def create_run(
        self, flow: str, goal: str, model: str, autonomy: str, config: dict | None = None
    ) -> str:
        """Insert a run with status ``running``; return its id (e.g. ``"r1a2b3c"``)."""
        while True:
            run_id = "r" + secrets.token_hex(3)
            if self._one("SELECT 1 AS x FROM runs WHERE id = ?", (run_id,)) is None:
                break
        now = time.time()
        self.db["runs"].insert(
            {
                "id": run_id,
                "flow": flow,
                "goal": goal,
                "model": model,
                "autonomy": autonomy,
                "status": "running",
                "config": _dumps(config or {}),
                "created_at": now,
                "updated_at": now,
            }
        )
        return run_id

    def runs_branching_from(self, run_ids: list[str]) -> dict[str, list[str]]:
        """For each of ``run_ids``: the other runs with a checkpoint whose parent is one of
        its checkpoints (forks, follow-ups), oldest first."""
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        rows = self._all(
            "SELECT DISTINCT p.run_id AS source, c.run_id AS run FROM checkpoints c "
            "JOIN checkpoints p ON c.parent_id = p.id JOIN runs r ON r.id = c.run_id "
            f"WHERE p.run_id IN ({marks}) AND c.run_id NOT IN ({marks}) "
            "ORDER BY r.created_at, c.run_id",
            (*run_ids, *run_ids),
        )
        out: dict[str, list[str]] = {}
        for row in rows:
            out.setdefault(row["source"], []).append(row["run"])
        return out

    @_writes
    def delete_runs(self, run_ids: list[str]) -> None:
        """Forget runs entirely (``gc``): their events, calls, effects, gates, steps,
        checkpoints and rows, in one transaction. Links into them from kept runs (a
        fork's parent checkpoint, a retry's base) become NULL: the target is gone."""
        if not run_ids:
            return
        marks = ",".join("?" * len(run_ids))
        cps = f"SELECT id FROM checkpoints WHERE run_id IN ({marks})"
        steps = f"SELECT id FROM steps WHERE run_id IN ({marks})"
        keep = f"run_id IS NULL OR run_id NOT IN ({marks})"
        conn = self.db.conn
        # runs <-> checkpoints <-> steps reference each other: checked at commit instead
        conn.execute("PRAGMA defer_foreign_keys = ON")
        for sql in (
            f"UPDATE checkpoints SET parent_id = NULL WHERE ({keep}) AND parent_id IN ({cps})",
            f"UPDATE checkpoints SET step_id = NULL WHERE ({keep}) AND step_id IN ({steps})",
            f"UPDATE steps SET base_checkpoint_id = NULL WHERE ({keep}) "
            f"AND base_checkpoint_id IN ({cps})",
            f"UPDATE steps SET checkpoint_id = NULL WHERE ({keep}) AND checkpoint_id IN ({cps})",
            f"UPDATE steps SET parent_step_id = NULL WHERE ({keep}) "
            f"AND parent_step_id IN ({steps})",
        ):
            conn.execute(sql, (*run_ids, *run_ids))
        for table in (
            "events",
            "llm_calls",
            "effects",
            "gates",
            "run_commands",
            "replay_answers",
            "run_breakpoints",
        ):
            conn.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", run_ids)
        conn.execute(f"DELETE FROM checkpoints WHERE run_id IN ({marks})", run_ids)
        conn.execute(f"DELETE FROM steps WHERE run_id IN ({marks})", run_ids)
        conn.execute(f"DELETE FROM runs WHERE id IN ({marks})", run_ids)
        conn.execute(f"DELETE FROM ref_seqs WHERE namespace IN ({marks})", run_ids)

    @_writes
    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set columns of a run (``config`` is JSON-encoded); ``updated_at`` is set too."""
        unknown = set(fields) - _RUN_FIELDS
        if unknown:
            raise TypeError(f"update_run: unknown run fields {sorted(unknown)}")
        for name in ("config", "user_git"):
            if name in fields:
                fields[name] = _dumps(fields[name])
        fields["updated_at"] = time.time()
        try:
            self.db["runs"].update(run_id, fields)
        except NotFoundError:
            raise RunNotFoundError(f"no run {run_id!r} in {self.path}") from None

    @_reads
    def get_run(self, run_id: str) -> dict[str, Any]:
        row = self._one("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise RunNotFoundError(f"no run {run_id!r} in {self.path}")
        return self._run_row(row)

    @_reads
    def list_runs(self) -> list[dict[str, Any]]:
        """All runs, newest first."""
        rows = self._all("SELECT * FROM runs ORDER BY created_at DESC, rowid DESC")
        return [self._run_row(r) for r in rows]

    @_reads
    def run_summaries(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Every run's history line (or ``run_id``'s), newest first, in one query.

        Besides the run's own columns: ``steps`` (all attempts), ``cost_usd``,
        ``tests_passed`` and ``tests_failed`` (of the last test result; None if no test
        ran), kept on the run row by triggers (schema migration 3) rather than
        recomputed per run. SQLite reads the JSON (not ``json.loads`` once per run).
        """
        return self._all(
            "SELECT id, flow, goal, model, autonomy, status, head_checkpoint_id, "
            "created_at, finished_at, summary_steps AS steps, summary_cost_usd AS cost_usd, "
            "json_extract(summary_tests, '$.passed') AS tests_passed, "
            "json_extract(summary_tests, '$.failed') AS tests_failed "
            "FROM runs WHERE ? IS NULL OR id = ? ORDER BY created_at DESC, rowid DESC",
            (run_id, run_id),
        )

    # -- steps ---------------------------------------------------------------

    @_writes
    def create_step(
        self,
        run_id: str,
        node: str,
        kind: str,
        attempt: int = 1,
        parent_step_id: int | None = None,
        task_id: str | None = None,
        base_checkpoint_id: int | None = None,
    ) -> int:
        """Insert a step (status ``running``) and return its id."""
        table = self.db["steps"].insert(
            {
                "run_id": run_id,
                "node": node,
                "kind": kind,
                "attempt": attempt,
                "parent_step_id": parent_step_id,
                "task_id": task_id,
                "base_checkpoint_id": base_checkpoint_id,
                "status": "running",
                "started_at": time.time(),
            }
        )
        return _last_pk(table)

    @_writes
    def finish_step(
        self,
        step_id: int,
        status: str,
        error: str | None = None,
        checkpoint_id: int | None = None,
        output_hash: str | None = None,
    ) -> None:
        try:
            self.db["steps"].update(
                step_id,
                {
                    "status": status,
                    "error": error,
                    "checkpoint_id": checkpoint_id,
                    "output_hash": output_hash,
                    "finished_at": time.time(),
                },
            )
        except NotFoundError:
            raise RecordNotFoundError(f"no step {step_id}") from None

    @_writes
    def update_step(self, step_id: int, **fields: Any) -> None:
        """Set columns of a step (e.g. ``status="paused"``)."""
        unknown = set(fields) - _STEP_FIELDS
        if unknown:
            raise TypeError(f"update_step: unknown step fields {sorted(unknown)}")
        try:
            self.db["steps"].update(step_id, fields)
        except NotFoundError:
            raise RecordNotFoundError(f"no step {step_id}") from None

    @_reads
    def get_step(self, step_id: int) -> dict[str, Any]:
        row = self._one("SELECT * FROM steps WHERE id = ?", (step_id,))
        if row is None:
            raise RecordNotFoundError(f"no step {step_id}")
        return row

    @_reads
    def steps_for(self, run_id: str) -> list[dict[str, Any]]:
        """The run's steps (all attempts) in creation order."""
        return self._all("SELECT * FROM steps WHERE run_id = ? ORDER BY id", (run_id,))

    @_reads
    def in_flight_step(
        self, run_id: str, base_checkpoint_id: int, statuses: tuple[str, ...]
    ) -> dict[str, Any] | None:
        """The newest step of the run on this base checkpoint with one of ``statuses``."""
        marks = ",".join("?" * len(statuses))
        return self._one(
            f"SELECT * FROM steps WHERE run_id = ? AND base_checkpoint_id = ? "
            f"AND status IN ({marks}) ORDER BY id DESC LIMIT 1",
            (run_id, base_checkpoint_id, *statuses),
        )

    @_reads
    def attempts_of(self, run_id: str, node: str, task_id: str | None) -> tuple[int, int | None]:
        """(number of attempts so far, id of the latest) of one node (and foreach task)."""
        row = self._one(
            "SELECT count(*) AS n, max(id) AS last FROM steps "
            "WHERE run_id = ? AND node = ? AND task_id IS ?",
            (run_id, node, task_id),
        )
        assert row is not None  # an aggregate always yields a row
        return int(row["n"]), row["last"]

    # -- checkpoints -----------------------------------------------------------

    @staticmethod
    def _checkpoint_row(row: dict[str, Any]) -> dict[str, Any]:
        row["partial"] = bool(row["partial"])
        row["skipped"] = _loads(row["skipped"]) or []
        # Short aliases matching add_checkpoint()'s parameter names.
        row["commit"] = row["commit_sha"]
        row["tree"] = row["tree_sha"]
        return row

    @_writes
    def add_checkpoint(
        self,
        run_id: str | None,
        step_id: int | None,
        parent_id: int | None,
        source: str,
        message: str,
        commit: str,
        tree: str,
        ref: str,
        state_hash: str | None,
        files_changed: int,
        partial: bool,
        skipped: list[dict],
        seq: int | None = None,
    ) -> int:
        """Insert a checkpoint row (its git objects must already exist); return its id.

        ``seq`` defaults to the number at the end of ``ref``.
        """
        if not source:
            raise ValueError("a checkpoint needs a source")
        if seq is None:
            tail = ref.rsplit("/", 1)[-1]
            seq = int(tail) if tail.isdigit() else None
        table = self.db["checkpoints"].insert(
            {
                "run_id": run_id,
                "step_id": step_id,
                "parent_id": parent_id,
                "seq": seq,
                "source": source,
                "message": message,
                "commit_sha": commit,
                "tree_sha": tree,
                "ref": ref,
                "state_hash": state_hash,
                "files_changed": int(files_changed),
                "partial": 1 if partial else 0,
                "skipped": json.dumps(list(skipped), ensure_ascii=False),
                "created_at": time.time(),
            }
        )
        return _last_pk(table)

    @_writes
    def set_checkpoint_commit(self, checkpoint_id: int, commit: str) -> None:
        """Point a checkpoint at another commit of the same tree (its bits corrected)."""
        try:
            self.db["checkpoints"].update(checkpoint_id, {"commit_sha": commit})
        except NotFoundError:
            raise CheckpointNotFoundError(f"no checkpoint {checkpoint_id} in {self.path}") from None

    @_reads
    def get_checkpoint(self, checkpoint_id: int) -> dict[str, Any]:
        row = self._one("SELECT * FROM checkpoints WHERE id = ?", (checkpoint_id,))
        if row is None:
            raise CheckpointNotFoundError(f"no checkpoint {checkpoint_id} in {self.path}")
        return self._checkpoint_row(row)

    @_reads
    def list_checkpoints(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Checkpoints in creation order: all of them, or only those of ``run_id``."""
        if run_id is None:
            rows = self._all("SELECT * FROM checkpoints ORDER BY id")
        else:
            rows = self._all("SELECT * FROM checkpoints WHERE run_id = ? ORDER BY id", (run_id,))
        return [self._checkpoint_row(r) for r in rows]

    @_reads
    def first_checkpoint(self, run_id: str) -> dict[str, Any] | None:
        """The run's oldest checkpoint (its checkpoint 0), or None."""
        row = self._one("SELECT * FROM checkpoints WHERE run_id = ? ORDER BY id LIMIT 1", (run_id,))
        return self._checkpoint_row(row) if row else None

    @_reads
    def latest_checkpoint(self, run_id: str | None) -> dict[str, Any] | None:
        """The newest checkpoint of ``run_id`` (``None``: the newest one outside any run)."""
        row = self._one(
            "SELECT * FROM checkpoints WHERE run_id IS ? ORDER BY id DESC LIMIT 1", (run_id,)
        )
        return self._checkpoint_row(row) if row else None

    @_writes
    def next_ref_seq(self, namespace: str) -> int:
        """Reserve the next ref sequence number of ``namespace`` ("manual" or a run id).

        A durable counter: a number handed out is never handed out again, even
        if the checkpoint it was for never reached the database.
        """
        row = self._one("SELECT next_seq FROM ref_seqs WHERE namespace = ?", (namespace,))
        seq = int(row["next_seq"]) if row else 1
        self.db["ref_seqs"].upsert({"namespace": namespace, "next_seq": seq + 1}, pk="namespace")
        return seq

    # -- effects journal -------------------------------------------------------

    @staticmethod
    def _effect_row(row: dict[str, Any]) -> dict[str, Any]:
        row["request"] = _loads(row["request"])
        row["result"] = _loads(row["result"])
        row["idempotent"] = bool(row["idempotent"])
        return row

    @_writes
    def effect_intent(
        self,
        run_id: str,
        step_id: int | None,
        key: str,
        kind: str,
        request: dict,
        idempotent: bool = False,
    ) -> int:
        """Journal that an effect is about to run; return the effect id.

        A key already journaled as ``done`` raises :class:`EffectAlreadyDoneError`
        (replay it instead). An earlier ``intent``/``failed`` try of the same key
        is marked ``discarded`` (kept for history) and a fresh intent is written.
        """
        prev = self._one(
            "SELECT id, status FROM effects WHERE run_id = ? AND key = ? AND status != 'discarded'",
            (run_id, key),
        )
        if prev is not None:
            if prev["status"] == "done":
                raise EffectAlreadyDoneError(
                    f"effect {key!r} of run {run_id} is already done (effect {prev['id']})"
                )
            self.db["effects"].update(prev["id"], {"status": "discarded"})
        table = self.db["effects"].insert(
            {
                "run_id": run_id,
                "step_id": step_id,
                "key": key,
                "kind": kind,
                "request": _dumps(request),
                "status": "intent",
                "idempotent": 1 if idempotent else 0,
                "created_at": time.time(),
            }
        )
        return _last_pk(table)

    def _set_effect(self, effect_id: int, fields: dict[str, Any]) -> None:
        try:
            self.db["effects"].update(effect_id, fields)
        except NotFoundError:
            raise RecordNotFoundError(f"no effect {effect_id}") from None

    @_writes
    def effect_done(self, effect_id: int, result: dict) -> None:
        """Record the effect's result; on resume it is replayed, never re-run."""
        self._set_effect(
            effect_id,
            {"status": "done", "result": _dumps(result), "error": None, "done_at": time.time()},
        )

    @_writes
    def effect_failed(self, effect_id: int, error: str) -> None:
        self._set_effect(
            effect_id, {"status": "failed", "error": str(error), "done_at": time.time()}
        )

    @_writes
    def discard_effect(self, effect_id: int) -> None:
        """Retire an unfinished/failed effect so its key can be journaled again."""
        self._set_effect(effect_id, {"status": "discarded"})

    @_reads
    def get_effect(self, effect_id: int) -> dict[str, Any]:
        row = self._one("SELECT * FROM effects WHERE id = ?", (effect_id,))
        if row is None:
            raise RecordNotFoundError(f"no effect {effect_id}")
        return self._effect_row(row)

    @_reads
    def find_effect(self, run_id: str, key: str) -> dict[str, Any] | None:
        """The live (not discarded) effect journaled under ``key`` in the run, if any."""
        row = self._one(
            "SELECT * FROM effects WHERE run_id = ? AND key = ? AND status != 'discarded'",
            (run_id, key),
        )
        return self._effect_row(row) if row else None

    @_reads
    def open_effects(self, run_id: str) -> list[dict[str, Any]]:
        """Effects with an intent but no outcome: the process died mid-effect."""
        rows = self._all(
            "SELECT * FROM effects WHERE run_id = ? AND status = 'intent' ORDER BY id", (run_id,)
        )
        return [self._effect_row(r) for r in rows]

    @_reads
    def effects_for_step(self, step_id: int) -> list[dict[str, Any]]:
        """Every effect row of a step (all statuses) in journal order."""
        rows = self._all("SELECT * FROM effects WHERE step_id = ? ORDER BY id", (step_id,))
        return [self._effect_row(r) for r in rows]

    @_reads
    def effects_for_run(self, run_id: str) -> list[dict[str, Any]]:
        """Every effect row of a run (all statuses) in journal order."""
        rows = self._all("SELECT * FROM effects WHERE run_id = ? ORDER BY id", (run_id,))
        return [self._effect_row(r) for r in rows]

    # -- control state ---------------------------------------------------------

    @_writes
    def decide_command(self, run_id: str, command: str, approved: bool, reason: str = "") -> None:
        """Record the person's answer about a command outside the allowlist."""
        self.db["run_commands"].upsert(
            {
                "run_id": run_id,
                "command": command,
                "decision": "approved" if approved else "refused",
                "reason": reason or None,
                "created_at": time.time(),
            },
            pk=("run_id", "command"),
        )

    @_reads
    def command_decisions(self, run_id: str) -> tuple[set[str], dict[str, str]]:
        """(approved commands, refused command → reason) of a run."""
        rows = self._all("SELECT * FROM run_commands WHERE run_id = ?", (run_id,))
        approved = {r["command"] for r in rows if r["decision"] == "approved"}
        refused = {r["command"]: r["reason"] or "" for r in rows if r["decision"] == "refused"}
        return approved, refused

    @_writes
    def set_breakpoints(self, run_id: str, nodes: Iterable[str]) -> None:
        """Replace the nodes a run pauses before (its flow's own ``breakpoint:`` aside)."""
        self.db.execute("DELETE FROM run_breakpoints WHERE run_id = ?", (run_id,))
        self.db["run_breakpoints"].insert_all(
            [{"run_id": run_id, "node": node} for node in sorted(set(nodes))]
        )

    @_reads
    def breakpoints(self, run_id: str) -> list[str]:
        """The nodes a person set breakpoints on, sorted."""
        rows = self._all(
            "SELECT node FROM run_breakpoints WHERE run_id = ? ORDER BY node", (run_id,)
        )
        return [r["node"] for r in rows]

    @_writes
    def keep_answers(self, run_id: str, key: str, step_id: int) -> None:
        """The next attempt under ``key`` replays the model answers of ``step_id``."""
        self.db["replay_answers"].upsert(
            {"run_id": run_id, "key": key, "step_id": step_id}, pk=("run_id", "key")
        )

    @_writes
    def take_answers(self, run_id: str, key: str) -> int | None:
        """The step whose answers are kept under ``key`` (removed: they are used once)."""
        row = self._one(
            "SELECT step_id FROM replay_answers WHERE run_id = ? AND key = ?", (run_id, key)
        )
        if row is None:
            return None
        self.db.execute("DELETE FROM replay_answers WHERE run_id = ? AND key = ?", (run_id, key))
        return int(row["step_id"])

    @_writes
    def drop_answers(self, run_id: str) -> None:
        """Forget every kept answer of a run (its line of work was abandoned)."""
        self.db.execute("DELETE FROM replay_answers WHERE run_id = ?", (run_id,))

    # -- gates -----------------------------------------------------------------

    @staticmethod
    def _gate_row(row: dict[str, Any]) -> dict[str, Any]:
        row["payload"] = _loads(row["payload"])
        row["answer"] = _loads(row["answer"])
        return row

    @_writes
    def open_gate(
        self,
        run_id: str,
        step_id: int | None,
        kind: str,
        node: str | None,
        prompt: str,
        checkpoint_id: int | None,
        payload: dict | None = None,
    ) -> int:
        table = self.db["gates"].insert(
            {
                "run_id": run_id,
                "step_id": step_id,
                "kind": kind,
                "node": node,
                "prompt": prompt,
                "checkpoint_id": checkpoint_id,
                "payload": _dumps(payload or {}),
                "status": "open",
                "created_at": time.time(),
            }
        )
        return _last_pk(table)

    @_writes
    def answer_gate(
        self, gate_id: int, decision: str, reason: str = "", payload: dict | None = None
    ) -> None:
        """Record a decision on an open gate (:class:`GateAlreadyAnsweredError` if answered)."""
        row = self._one("SELECT status FROM gates WHERE id = ?", (gate_id,))
        if row is None:
            raise RecordNotFoundError(f"no gate {gate_id}")
        if row["status"] != "open":
            raise GateAlreadyAnsweredError(f"gate {gate_id} was already answered")
        self.db["gates"].update(
            gate_id,
            {
                "status": "answered",
                "decision": decision,
                "reason": reason,
                "answer": _dumps(payload or {}),
                "answered_at": time.time(),
            },
        )

    @_reads
    def get_gate(self, gate_id: int) -> dict[str, Any]:
        row = self._one("SELECT * FROM gates WHERE id = ?", (gate_id,))
        if row is None:
            raise RecordNotFoundError(f"no gate {gate_id}")
        return self._gate_row(row)

    @_reads
    def pending_gate(self, run_id: str) -> dict[str, Any] | None:
        """The newest open gate of the run, or None."""
        row = self._one(
            "SELECT * FROM gates WHERE run_id = ? AND status = 'open' ORDER BY id DESC LIMIT 1",
            (run_id,),
        )
        return self._gate_row(row) if row else None

    @_reads
    def answered_gates(self, run_id: str) -> list[dict[str, Any]]:
        """The run's gates a person answered (not those a rewind superseded), in order."""
        rows = self._all(
            "SELECT * FROM gates WHERE run_id = ? AND status = 'answered' "
            "AND decision != 'superseded' ORDER BY id",
            (run_id,),
        )
        return [self._gate_row(r) for r in rows]

    @_reads
    def superseded_gates(self, run_id: str) -> list[dict[str, Any]]:
        """The run's gates a rewind closed unanswered, in order."""
        rows = self._all(
            "SELECT * FROM gates WHERE run_id = ? AND decision = 'superseded' ORDER BY id",
            (run_id,),
        )
        return [self._gate_row(r) for r in rows]

    @_reads
    def last_gate(self, run_id: str) -> dict[str, Any] | None:
        """The newest gate of the run, open or answered, or None."""
        row = self._one("SELECT * FROM gates WHERE run_id = ? ORDER BY id DESC LIMIT 1", (run_id,))
        return self._gate_row(row) if row else None

    # -- events ----------------------------------------------------------------

    @_writes
    def append_event(self, event: Event | dict[str, Any]) -> int:
        """Store an event; return its ``seq`` (1, 2, ... per run; also set on the Event).

        Accepts an :class:`Event` or its ``to_dict()`` form. Events with no
        run_id get their own sequence.
        """
        d = dict(event.to_dict() if isinstance(event, Event) else event)
        run_id = d.pop("run_id", None)
        etype = d.pop("type")
        ts = d.pop("ts", None) or time.time()
        d.pop("seq", None)
        row = self._one(
            "SELECT coalesce(max(seq), 0) + 1 AS seq FROM events WHERE run_id IS ?", (run_id,)
        )
        assert row is not None
        seq = int(row["seq"])
        self.db["events"].insert(
            {
                "run_id": run_id,
                "seq": seq,
                "type": etype,
                "ts": ts,
                "data": json.dumps(d, ensure_ascii=False, default=str),
            }
        )
        if isinstance(event, Event):
            event.seq = seq
        return seq

    @_reads
    def events_for(self, run_id: str | None, after_seq: int = 0) -> list[dict[str, Any]]:
        """Events of the run with seq > after_seq, as ``Event.to_dict()`` dicts."""
        rows = self._all(
            "SELECT run_id, seq, type, ts, data FROM events "
            "WHERE run_id IS ? AND seq > ? ORDER BY seq",
            (run_id, after_seq),
        )
        out = []
        for r in rows:
            d = json.loads(r["data"])
            d.update(run_id=r["run_id"], seq=r["seq"], type=r["type"], ts=r["ts"])
            out.append(d)
        return out

    # -- cost ledger -----------------------------------------------------------

    @_writes
    def record_llm_call(
        self,
        run_id: str,
        step_id: int | None,
        model: str,
        tokens_in: int,
        tokens_out: int,
        tokens_cached: int = 0,
        cost_usd: float = 0.0,
        latency_s: float | None = None,
    ) -> int:
        table = self.db["llm_calls"].insert(
            {
                "run_id": run_id,
                "step_id": step_id,
                "model": model,
                "tokens_in": int(tokens_in or 0),
                "tokens_out": int(tokens_out or 0),
                "tokens_cached": int(tokens_cached or 0),
                "cost_usd": float(cost_usd or 0.0),
                "latency_s": latency_s,
                "created_at": time.time(),
            }
        )
        return _last_pk(table)

    @_reads
    def run_cost(self, run_id: str, *, until: float | None = None) -> dict[str, Any]:
        """Totals for a run: ``cost_usd``, ``tokens_in/out/cached``, ``calls``, ``by_model``.

        ``until`` (a timestamp) counts only the calls made by then, e.g. what had been
        spent when a checkpoint was made.
        """
        rows = self._all(
            "SELECT model, count(*) AS calls, coalesce(sum(cost_usd), 0.0) AS cost_usd, "
            "coalesce(sum(tokens_in), 0) AS tokens_in, coalesce(sum(tokens_out), 0) AS tokens_out, "
            "coalesce(sum(tokens_cached), 0) AS tokens_cached "
            "FROM llm_calls WHERE run_id = ? AND created_at <= ? GROUP BY model ORDER BY model",
            (run_id, float("inf") if until is None else until),
        )
        total = {"cost_usd": 0.0, "tokens_in": 0, "tokens_out": 0, "tokens_cached": 0, "calls": 0}
        by_model: dict[str, dict[str, Any]] = {}
        for r in rows:
            model = r.pop("model")
            by_model[model] = r
            for k in total:
                total[k] += r[k]
        return {"run_id": run_id, **total, "by_model": by_model}
