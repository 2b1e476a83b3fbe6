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


def test_migration_backfills_summaries_of_existing_runs(tmp_path: Path):
    # A store as it was before the summary migration, holding a run's data.
    db = sqlite_utils.Database(tmp_path / "history.db")
    schema.migrate(db, schema.MIGRATIONS[: schema.MIGRATIONS.index(schema._m003_run_summary)])
    db["runs"].insert({"id": "r1", "flow": "fix", "goal": "g", "status": "done", "created_at": 1.0})
    db["steps"].insert_all([{"run_id": "r1", "node": "edit", "status": "done"}] * 2)
    db["llm_calls"].insert_all(
        [{"run_id": "r1", "model": "m", "cost_usd": c, "created_at": 1.0} for c in (0.25, 0.5)]
    )
    for seq, (passed, failed) in enumerate([(1, 2), (4, 0)], 1):
        data = f'{{"passed": {passed}, "failed": {failed}, "errors": 0}}'
        db["events"].insert(
            {"run_id": "r1", "seq": seq, "type": "test_result", "ts": 1.0, "data": data}
        )
    assert schema.migrate(db) == len(schema.MIGRATIONS)
    row = db.execute(
        "SELECT summary_steps, summary_cost_usd, summary_tests FROM runs WHERE id = 'r1'"
    ).fetchone()
    assert row == (2, 0.75, '{"passed":4,"failed":0}')
