"""History summaries: kept on the run row (migration 3), read in one query for any run count."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from engine import events
from engine.readmodels import run_summaries
from engine.run.session import Session
from engine.store import RunStore, schema
from tui.screens.history import format_tests


def _add_runs(store: RunStore, n: int) -> list[str]:
    ids = []
    with store.transaction():
        for i in range(n):
            run_id = store.create_run("fix", f"goal {i}", "scripted:x", "review")
            step = store.create_step(run_id, "edit", "agent")
            store.create_step(run_id, "test", "run")
            store.record_llm_call(run_id, step, "m", 10, 5, cost_usd=0.25)
            store.record_llm_call(run_id, step, "m", 10, 5, cost_usd=0.5)
            store.append_event(
                events.TestResult(
                    run_id=run_id,
                    step_id=step,
                    command="t",
                    exit_code=1,
                    passed=1,
                    failed=2,
                    errors=1,
                )
            )
            store.append_event(
                events.TestResult(run_id=run_id, step_id=step, command="t", exit_code=0, passed=4)
            )
            store.update_run(run_id, status="completed")
            ids.append(run_id)
    return ids


def _statements(store: RunStore, fn) -> tuple[object, list[str]]:
    seen: list[str] = []
    store.db.conn.set_trace_callback(seen.append)
    try:
        result = fn()
    finally:
        store.db.conn.set_trace_callback(None)
    return result, seen


def test_summary_columns_follow_steps_costs_and_tests(repo: Path):
    with Session.open(repo) as session:
        (run_id,) = _add_runs(session.store, 1)
        (row,) = run_summaries(session)
        assert row.id == run_id and row.status == "completed"
        assert row.steps == 2 and row.cost_usd == 0.75
        assert format_tests(row) == "4✓ 0✗"  # the last test result, not the first
        with session.store.transaction():
            session.store.db.execute("DELETE FROM llm_calls WHERE cost_usd = 0.5")
        assert session.store.run_summaries()[0]["cost_usd"] == 0.25


def test_history_is_a_constant_number_of_queries(repo: Path):
    with Session.open(repo) as session:
        store = session.store
        _add_runs(store, 3)
        few, few_sql = _statements(store, lambda: run_summaries(session))
        _add_runs(store, 997)
        many, many_sql = _statements(store, lambda: run_summaries(session))
    assert len(few) == 3 and len(many) == 1000
    assert len(many_sql) == len(few_sql) <= 3
    assert not any("events" in q for q in many_sql)  # never loads any run's events


def test_migration_backfills_summaries_of_existing_runs(repo: Path):
    with RunStore.open(repo) as store:
        (run_id,) = _add_runs(store, 1)
        path = store.path
    # Back to a version-2 store that has the data but no summary columns.
    db = sqlite_utils.Database(path)
    for trigger in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {trigger[0]}")
    for column in ("summary_steps", "summary_cost_usd", "summary_tests"):
        db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    db.execute("DELETE FROM schema_version WHERE version = 3")
    db.conn.commit()
    db.close()
    with RunStore.open(repo) as store:
        assert store.schema_version() == len(schema.MIGRATIONS)
        (row,) = store.run_summaries()
    assert row["id"] == run_id and row["steps"] == 2 and row["cost_usd"] == 0.75
    assert row["tests"] == {"passed": 4, "failed": 0}
