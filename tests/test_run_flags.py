"""Breakpoints and single-step live in their own rows (migration 5), not in the run's config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlite_utils

from engine.readmodels import run_view
from engine.records import RunFlags
from engine.run import operations as ops
from engine.run.session import Session
from engine.store import RunStore, schema
from tests.support.gitutil import init_repo
from tests.test_engine_flow import CALC, TESTS, start


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "proj", {"calc.py": CALC, "test_calc.py": TESTS})


def test_migration_moves_flags_of_existing_runs_out_of_config(project: Path):
    # A store as it was before migration 5, holding runs with flags in their config.
    RunStore.open(project).close()  # creates .llmflows/ and the current schema
    path = project / ".llmflows" / "history.db"
    path.unlink()
    db = sqlite_utils.Database(path)
    schema.migrate(db, schema.MIGRATIONS[: schema.MIGRATIONS.index(schema._m005_run_flags)])
    old = {"limits": {"max_steps": 3}, "breakpoints": ["test", "fix"], "single_step": True}
    for run_id, config in (("r1", old), ("r2", {"limits": {}}), ("r3", {"breakpoints": None})):
        db["runs"].insert(
            {"id": run_id, "flow": "fix", "goal": "g", "status": "paused", "created_at": 1.0}
        )
        db.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config), run_id))
    db.conn.commit()
    db.close()

    with RunStore.open(project) as store:
        assert store.schema_version() == len(schema.MIGRATIONS)
        r1 = store.get_run("r1")
        assert r1["config"] == {"limits": {"max_steps": 3}}  # everything else kept
        assert r1["single_step"] is True
        assert store.breakpoints("r1") == ["fix", "test"]
        for other in ("r2", "r3"):
            assert store.get_run(other)["single_step"] is False
            assert store.breakpoints(other) == []
            assert "breakpoints" not in store.get_run(other)["config"]


def test_flags_survive_a_config_written_from_a_stale_read(project: Path):
    with Session.open(project) as s:
        run_id = start(s, breakpoints=["test"])
        assert "breakpoints" not in s.store.get_run(run_id)["config"]
        assert ops.run_flags(s, run_id) == RunFlags(["test"], False)
        stale = s.store.get_run(run_id)["config"]
        # The person toggles while something else rewrites the config it read before.
        assert ops.set_run_flags(
            s, run_id, breakpoints=["fix", "test", "fix"], single_step=True
        ) == (RunFlags(["fix", "test"], True))
        s.store.update_run(run_id, config={**stale, "pinned": True})
        assert ops.run_flags(s, run_id) == RunFlags(["fix", "test"], True)
        assert run_view(s, run_id).flags == RunFlags(["fix", "test"], True)  # what the TUI loads
        # None leaves a flag as it is.
        assert ops.set_run_flags(s, run_id, single_step=False) == RunFlags(["fix", "test"], False)
        assert ops.set_run_flags(s, run_id, breakpoints=[]) == RunFlags([], False)


def test_fork_and_follow_up_pause_where_their_origin_did(project: Path):
    with Session.open(project) as s:
        run_id = start(s, breakpoints=["fix"], single_step=True)
        first = s.store.first_checkpoint(run_id)
        forked = ops.fork(s, first["id"])
        assert ops.run_flags(s, forked) == RunFlags(["fix"], True)
        s.store.update_run(run_id, status="completed")
        ops.set_run_flags(s, run_id, single_step=False)
        follow = ops.follow_up(s, run_id, "and now the docs")
        assert ops.run_flags(s, follow) == RunFlags(["fix"], False)


def test_deleting_runs_removes_their_control_rows(project: Path):
    with Session.open(project) as s:
        run_id = start(s, breakpoints=["test"])
        s.store.decide_command(run_id, "make lint", approved=True)
        s.store.delete_runs([run_id])
        for table in ("run_breakpoints", "run_commands"):
            assert s.store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
