"""Schema of the run store and its versioned migrations.

``MIGRATIONS`` is an ordered list; migration *n* (1-based) brings the schema
from version n-1 to n. :func:`migrate` applies the missing ones in order inside
one ``BEGIN IMMEDIATE`` transaction and records each in ``schema_version``, so
a crash mid-migration leaves the previous version intact. Never edit a
released migration: append a new one (use ``table.transform()`` for column
changes SQLite's ALTER TABLE cannot do).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import sqlite_utils

from engine.errors import StoreSchemaError

Migration = Callable[[sqlite_utils.Database], None]


def _m001_initial(db: sqlite_utils.Database) -> None:
    db["blobs"].create({"hash": str, "data": str, "size": int, "created_at": float}, pk="hash")
    db["runs"].create(
        {
            "id": str,
            "flow": str,
            "goal": str,
            "model": str,
            "autonomy": str,
            "status": str,
            "head_checkpoint_id": int,
            "state_hash": str,
            "config": str,  # JSON
            "error": str,
            "created_at": float,
            "updated_at": float,
            "finished_at": float,
        },
        pk="id",
        not_null=["flow", "status", "created_at"],
        defaults={"status": "running"},
        foreign_keys=[("state_hash", "blobs", "hash")],
    )
    db["steps"].create(
        {
            "id": int,
            "run_id": str,
            "node": str,
            "kind": str,
            "attempt": int,
            "parent_step_id": int,
            "task_id": str,
            "base_checkpoint_id": int,
            "status": str,
            "error": str,
            "started_at": float,
            "finished_at": float,
            "checkpoint_id": int,
            "output_hash": str,
        },
        pk="id",
        not_null=["run_id", "node", "status"],
        defaults={"status": "running", "attempt": 1},
        foreign_keys=[
            ("run_id", "runs", "id"),
            ("parent_step_id", "steps", "id"),
            ("output_hash", "blobs", "hash"),
        ],
    )
    db["checkpoints"].create(
        {
            "id": int,
            "run_id": str,
            "step_id": int,
            "parent_id": int,
            "seq": int,
            "source": str,
            "message": str,
            "commit_sha": str,
            "tree_sha": str,
            "ref": str,
            "state_hash": str,
            "files_changed": int,
            "partial": int,
            "skipped": str,  # JSON list of {"path", "reason"}
            "created_at": float,
        },
        pk="id",
        not_null=["source", "commit_sha", "tree_sha", "ref", "created_at"],
        defaults={"files_changed": 0, "partial": 0, "skipped": "[]"},
        foreign_keys=[
            ("run_id", "runs", "id"),
            ("step_id", "steps", "id"),
            ("parent_id", "checkpoints", "id"),
            ("state_hash", "blobs", "hash"),
        ],
    )
    # runs <-> checkpoints and steps <-> checkpoints reference each other: add
    # the back references now that both tables exist.
    db["runs"].transform(add_foreign_keys=[("head_checkpoint_id", "checkpoints", "id")])
    db["steps"].transform(
        add_foreign_keys=[
            ("base_checkpoint_id", "checkpoints", "id"),
            ("checkpoint_id", "checkpoints", "id"),
        ]
    )
    db["effects"].create(
        {
            "id": int,
            "run_id": str,
            "step_id": int,
            "key": str,
            "kind": str,
            "request": str,  # JSON
            "result": str,  # JSON
            "error": str,
            "status": str,  # intent | done | failed | discarded
            "idempotent": int,
            "created_at": float,
            "done_at": float,
        },
        pk="id",
        not_null=["run_id", "key", "kind", "status", "created_at"],
        defaults={"status": "intent", "idempotent": 0},
        foreign_keys=[("run_id", "runs", "id"), ("step_id", "steps", "id")],
    )
    db["gates"].create(
        {
            "id": int,
            "run_id": str,
            "step_id": int,
            "kind": str,
            "node": str,
            "prompt": str,
            "checkpoint_id": int,
            "payload": str,  # JSON
            "status": str,  # open | answered
            "decision": str,
            "reason": str,
            "answer": str,  # JSON
            "created_at": float,
            "answered_at": float,
        },
        pk="id",
        not_null=["run_id", "kind", "status", "created_at"],
        defaults={"status": "open"},
        foreign_keys=[
            ("run_id", "runs", "id"),
            ("step_id", "steps", "id"),
            ("checkpoint_id", "checkpoints", "id"),
        ],
    )
    db["events"].create(
        {"id": int, "run_id": str, "seq": int, "type": str, "ts": float, "data": str},
        pk="id",
        not_null=["seq", "type", "ts"],
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["llm_calls"].create(
        {
            "id": int,
            "run_id": str,
            "step_id": int,
            "model": str,
            "tokens_in": int,
            "tokens_out": int,
            "tokens_cached": int,
            "cost_usd": float,
            "latency_s": float,
            "created_at": float,
        },
        pk="id",
        not_null=["run_id", "model", "created_at"],
        defaults={"tokens_in": 0, "tokens_out": 0, "tokens_cached": 0, "cost_usd": 0.0},
        foreign_keys=[("run_id", "runs", "id"), ("step_id", "steps", "id")],
    )
    # Next sequence number per ref namespace ("manual" or a run id); a counter
    # rather than max(seq)+1 so a ref written before a crash is never reused.
    db["ref_seqs"].create({"namespace": str, "next_seq": int}, pk="namespace")

    # Indexes for the queries the store makes.
    db["steps"].create_index(["run_id", "id"])
    db["checkpoints"].create_index(["run_id", "id"])
    db["checkpoints"].create_index(["parent_id"])
    db["gates"].create_index(["run_id", "status"])
    db["llm_calls"].create_index(["run_id"])
    db["effects"].create_index(["step_id"])
    db["effects"].create_index(["run_id", "status"])
    # A key is unique per run among live effects; discarded tries keep their row.
    db.execute(
        "CREATE UNIQUE INDEX idx_effects_run_key ON effects(run_id, key) "
        "WHERE status != 'discarded'"
    )
    # NULL run_ids (events outside any run) compare distinct in a UNIQUE index;
    # their seq is still assigned under the writer's transaction.
    db.execute("CREATE UNIQUE INDEX idx_events_run_seq ON events(run_id, seq)")


def _m002_meta(db: sqlite_utils.Database) -> None:
    # Small key/value facts that belong to no run (e.g. the manual checkpoint line's head).
    db["meta"].create({"key": str, "value": str}, pk="key")


def _m003_run_summary(db: sqlite_utils.Database) -> None:
    # History lists every run with its step count, cost and last test result. Kept on
    # the run row by triggers, so any code path that adds a step, an LLM call or a test
    # result keeps it right, and reading history is one query whatever the run count.
    db.execute("ALTER TABLE runs ADD COLUMN summary_steps INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE runs ADD COLUMN summary_cost_usd REAL NOT NULL DEFAULT 0.0")
    db.execute("ALTER TABLE runs ADD COLUMN summary_tests TEXT")  # JSON {passed, failed}
    db.executescript(
        """
        CREATE TRIGGER runs_summary_step_added AFTER INSERT ON steps BEGIN
            UPDATE runs SET summary_steps = summary_steps + 1 WHERE id = NEW.run_id;
        END;
        CREATE TRIGGER runs_summary_step_removed AFTER DELETE ON steps BEGIN
            UPDATE runs SET summary_steps = summary_steps - 1 WHERE id = OLD.run_id;
        END;
        CREATE TRIGGER runs_summary_cost_added AFTER INSERT ON llm_calls BEGIN
            UPDATE runs SET summary_cost_usd = summary_cost_usd + coalesce(NEW.cost_usd, 0.0)
            WHERE id = NEW.run_id;
        END;
        CREATE TRIGGER runs_summary_cost_removed AFTER DELETE ON llm_calls BEGIN
            UPDATE runs SET summary_cost_usd = summary_cost_usd - coalesce(OLD.cost_usd, 0.0)
            WHERE id = OLD.run_id;
        END;
        CREATE TRIGGER runs_summary_tests AFTER INSERT ON events
        WHEN NEW.type = 'test_result' BEGIN
            UPDATE runs SET summary_tests = json_object(
                'passed', coalesce(json_extract(NEW.data, '$.passed'), 0),
                'failed', coalesce(json_extract(NEW.data, '$.failed'), 0)
                    + coalesce(json_extract(NEW.data, '$.errors'), 0))
            WHERE id = NEW.run_id;
        END;
        """
    )
    # Backfill runs recorded before this migration.
    db.execute(
        "UPDATE runs SET summary_steps = (SELECT count(*) FROM steps WHERE run_id = runs.id), "
        "summary_cost_usd = (SELECT coalesce(sum(cost_usd), 0.0) FROM llm_calls "
        "WHERE run_id = runs.id)"
    )
    db.execute(
        "UPDATE runs SET summary_tests = (SELECT json_object("
        "'passed', coalesce(json_extract(e.data, '$.passed'), 0), "
        "'failed', coalesce(json_extract(e.data, '$.failed'), 0) "
        "+ coalesce(json_extract(e.data, '$.errors'), 0)) "
        "FROM events e WHERE e.run_id = runs.id AND e.type = 'test_result' "
        "ORDER BY e.seq DESC LIMIT 1)"
    )


def _m004_control_state(db: sqlite_utils.Database) -> None:
    # The run's mutable control state leaves the config JSON (which is read-modify-written
    # by both the executor and the person): each decision is its own row.
    db["run_commands"].create(
        {"run_id": str, "command": str, "decision": str, "reason": str, "created_at": float},
        pk=("run_id", "command"),
        not_null=["decision"],
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["replay_answers"].create(
        {"run_id": str, "key": str, "step_id": int},
        pk=("run_id", "key"),
        foreign_keys=[("run_id", "runs", "id"), ("step_id", "steps", "id")],
    )
    # Where the user's git stood when the run started and when it last looked (JSON).
    db.execute("ALTER TABLE runs ADD COLUMN user_git TEXT")
    # Move what runs recorded before this migration.
    now = time.time()
    for run_id, raw in db.execute("SELECT id, config FROM runs").fetchall():
        config = json.loads(raw or "{}") or {}
        for command in config.pop("approved_commands", None) or []:
            db["run_commands"].upsert(
                {"run_id": run_id, "command": command, "decision": "approved", "created_at": now},
                pk=("run_id", "command"),
            )
        for command, reason in (config.pop("refused_commands", None) or {}).items():
            db["run_commands"].upsert(
                {
                    "run_id": run_id,
                    "command": command,
                    "decision": "refused",
                    "reason": reason,
                    "created_at": now,
                },
                pk=("run_id", "command"),
            )
        for key, step_id in (config.pop("replay_llm", None) or {}).items():
            db["replay_answers"].upsert(
                {"run_id": run_id, "key": key, "step_id": step_id}, pk=("run_id", "key")
            )
        db.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config), run_id))


def _m005_run_flags(db: sqlite_utils.Database) -> None:
    # Breakpoints and single-step leave the config JSON too: the person toggles them
    # while the executor runs, so each is written on its own, never read-modify-written.
    db["run_breakpoints"].create(
        {"run_id": str, "node": str},
        pk=("run_id", "node"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.execute("ALTER TABLE runs ADD COLUMN single_step INTEGER NOT NULL DEFAULT 0")
    # Move what runs recorded before this migration.
    for run_id, raw in db.execute("SELECT id, config FROM runs").fetchall():
        config = json.loads(raw or "{}") or {}
        for node in config.pop("breakpoints", None) or []:
            db.execute(
                "INSERT OR IGNORE INTO run_breakpoints (run_id, node) VALUES (?, ?)",
                (run_id, node),
            )
        single_step = bool(config.pop("single_step", False))
        db.execute(
            "UPDATE runs SET config = ?, single_step = ? WHERE id = ?",
            (json.dumps(config), int(single_step), run_id),
        )


MIGRATIONS: list[Migration] = [
    _m001_initial,
    _m002_meta,
    _m003_run_summary,
    _m004_control_state,
    _m005_run_flags,
]


def current_version(db: sqlite_utils.Database) -> int:
    """The schema version recorded in the database (0 for a fresh file)."""
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def _too_new(found: int, target: int) -> StoreSchemaError:
    return StoreSchemaError(
        f"the run store has schema version {found}, newer than this "
        f"llmflows-tui understands ({target}); upgrade llmflows-tui"
    )


def migrate(db: sqlite_utils.Database, migrations: list[Migration] | None = None) -> int:
    """Apply missing migrations in one transaction; return the resulting version.

    Raises :class:`StoreSchemaError` if the file is newer than this code.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    target = len(migrations)
    found = current_version(db)
    if found == target:  # fast path, no write transaction
        return target
    if found > target:
        raise _too_new(found, target)
    # IMMEDIATE takes SQLite's write lock up front, so two processes opening a
    # fresh store at once serialize here; the version is re-read inside.
    db.execute("BEGIN IMMEDIATE")
    try:
        if not db["schema_version"].exists():
            db["schema_version"].create(
                {"version": int, "applied_at": float, "name": str}, pk="version"
            )
        version = current_version(db)
        if version > target:
            raise _too_new(version, target)
        for n in range(version + 1, target + 1):
            fn = migrations[n - 1]
            fn(db)
            db["schema_version"].insert(
                {"version": n, "applied_at": time.time(), "name": fn.__name__}
            )
        db.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise
    return target
