"""RunStore: schema and migrations, pragmas, blobs, runs/steps/checkpoints, effects, gates, events, cost."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

import pytest

from engine.errors import (
    CheckpointNotFoundError,
    EffectAlreadyDoneError,
    GateAlreadyAnsweredError,
    NotAGitRepoError,
    RecordNotFoundError,
    RunNotFoundError,
    StoreReadOnlyError,
    StoreSchemaError,
)
from engine.events import CheckpointMade, StepStarted, event_from_dict
from engine.store import RunStore, canonical_json, schema
from tests.support.gitutil import git


@pytest.fixture
def store(repo: Path):
    s = RunStore.open(repo)
    yield s
    s.close()


def _run(store: RunStore) -> str:
    return store.create_run("feature", "add a thing", "scripted:x.yaml", "review", {"k": 1})


def _checkpoint(store: RunStore, run_id: str | None, step_id: int | None = None, n: int = 1):
    return store.add_checkpoint(
        run_id,
        step_id,
        None,
        "step",
        f"cp {n}",
        "c" * 40,
        "t" * 40,
        f"refs/llmflows/{run_id or 'manual'}/{n}",
        None,
        1,
        False,
        [],
    )


# ------------------------------------------------------------------ opening


def test_open_creates_db_and_excludes_dir_once(repo: Path):
    RunStore.open(repo).close()
    RunStore.open(repo).close()
    assert (repo / ".llmflows" / "history.db").is_file()
    exclude = (repo / ".git" / "info" / "exclude").read_text()
    assert exclude.count("/.llmflows/") == 1
    # Git no longer reports the store as untracked.
    assert ".llmflows" not in git(repo, "status", "--porcelain", "--untracked-files=all")


def test_exclude_goes_to_the_shared_file_for_linked_worktrees(repo: Path, tmp_path: Path):
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "side", str(wt))
    RunStore.open(wt).close()
    assert (wt / ".llmflows" / "history.db").is_file()
    assert "/.llmflows/" in (repo / ".git" / "info" / "exclude").read_text()
    assert ".llmflows" not in git(wt, "status", "--porcelain", "--untracked-files=all")


def test_not_a_git_repo(tmp_path: Path):
    with pytest.raises(NotAGitRepoError) as e:
        RunStore.open(tmp_path)
    assert e.value.exit_code == 2


def test_pragmas_wal_foreign_keys_busy_timeout(store: RunStore):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    # Foreign keys are enforced: a step of a run that does not exist is refused.
    with pytest.raises(sqlite3.IntegrityError):
        store.create_step("rnope00", "plan", "llm")


def test_schema_version_recorded_and_reopen_keeps_data(repo: Path):
    with RunStore.open(repo) as s:
        assert s.schema_version() == len(schema.MIGRATIONS)
        rid = _run(s)
        h = s.put_blob({"x": [1, 2]})
    with RunStore.open(repo) as s:
        rows = s.db.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
        assert [r[0] for r in rows] == list(range(1, len(schema.MIGRATIONS) + 1))
        assert rows[0][1] == "_m001_initial"
        assert s.get_run(rid)["goal"] == "add a thing"
        assert s.get_blob(h) == {"x": [1, 2]}


def test_new_migration_applies_on_reopen_and_keeps_data(repo: Path, monkeypatch):
    with RunStore.open(repo) as s:
        rid = _run(s)

    def _m_extra(db):
        db["runs"].add_column("label", str)
        # A change ALTER TABLE cannot do: make the goal NOT NULL via transform().
        db["runs"].transform(not_null={"goal"})

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, _m_extra])
    with RunStore.open(repo) as s:
        assert s.schema_version() == len(schema.MIGRATIONS)
        assert "label" in s.db["runs"].columns_dict
        assert s.get_run(rid)["flow"] == "feature"
        info = {r[1]: r[3] for r in s.db.execute("PRAGMA table_info(runs)").fetchall()}
        assert info["goal"] == 1  # notnull


def test_failing_migration_rolls_back_entirely(repo: Path, monkeypatch):
    RunStore.open(repo).close()
    before = len(schema.MIGRATIONS)

    def _m_half(db):
        db["half_done"].create({"id": int}, pk="id")
        raise RuntimeError("boom")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, _m_half])
    with pytest.raises(RuntimeError):
        RunStore.open(repo)
    monkeypatch.undo()
    with RunStore.open(repo) as s:
        assert s.schema_version() == before
        assert not s.db["half_done"].exists()


def test_newer_schema_is_refused(repo: Path):
    with RunStore.open(repo) as s:
        s.db["schema_version"].insert({"version": 999, "applied_at": 0.0, "name": "future"})
    with pytest.raises(StoreSchemaError, match="newer"):
        RunStore.open(repo)


# ------------------------------------------------------------------ blobs


def test_blobs_are_content_addressed_and_deduplicated(store: RunStore):
    a = store.put_blob({"b": 1, "a": [1, {"z": None, "y": "é"}]})
    b = store.put_blob({"a": [1, {"y": "é", "z": None}], "b": 1})
    assert a == b
    assert (
        a
        == hashlib.sha256(
            canonical_json({"a": [1, {"y": "é", "z": None}], "b": 1}).encode()
        ).hexdigest()
    )
    assert canonical_json({"b": 1, "a": 2}) == '{"a":2,"b":1}'
    assert store.db["blobs"].count == 1
    assert store.get_blob(a) == {"a": [1, {"y": "é", "z": None}], "b": 1}
    c = store.put_blob({"a": 2})
    assert c != a and store.db["blobs"].count == 2
    with pytest.raises(RecordNotFoundError):
        store.get_blob("0" * 64)


# ------------------------------------------------------------------ runs, steps, checkpoints


def test_runs_create_update_list(store: RunStore):
    r1 = _run(store)
    r2 = store.create_run("bugfix", "fix", "m", "full", {})
    assert r1.startswith("r") and len(r1) == 7 and r1 != r2
    run = store.get_run(r1)
    assert run["status"] == "running" and run["config"] == {"k": 1} and run["autonomy"] == "review"
    store.update_run(r1, status="completed", finished_at=123.0, config={"k": 2})
    run = store.get_run(r1)
    assert (run["status"], run["finished_at"], run["config"]) == ("completed", 123.0, {"k": 2})
    assert [r["id"] for r in store.list_runs()] == [r2, r1]  # newest first
    with pytest.raises(TypeError):
        store.update_run(r1, bogus=1)
    with pytest.raises(RunNotFoundError):
        store.get_run("rmissing")
    with pytest.raises(RunNotFoundError):
        store.update_run("rmissing", status="failed")


def test_steps_attempts_and_finish(store: RunStore):
    rid = _run(store)
    s1 = store.create_step(rid, "edit", "agent", 1, None, "t1", None)
    s2 = store.create_step(rid, "edit", "agent", 2, s1, "t1", None)
    cp = _checkpoint(store, rid, s2)
    store.finish_step(s1, "failed", error="tests failed")
    store.finish_step(s2, "done", checkpoint_id=cp, output_hash=store.put_blob({"ok": True}))
    store.update_step(s2, status="paused")
    steps = store.steps_for(rid)
    assert [(s["id"], s["attempt"], s["parent_step_id"]) for s in steps] == [
        (s1, 1, None),
        (s2, 2, s1),
    ]
    assert steps[0]["status"] == "failed" and steps[0]["error"] == "tests failed"
    assert steps[1]["status"] == "paused" and steps[1]["checkpoint_id"] == cp
    with pytest.raises(RecordNotFoundError):
        store.finish_step(9999, "done")


def test_checkpoints_rows_and_ref_seq(store: RunStore, repo: Path):
    rid = _run(store)
    c1 = _checkpoint(store, rid, None, 1)
    c2 = store.add_checkpoint(
        rid,
        None,
        c1,
        "review",
        "m",
        "d" * 40,
        "e" * 40,
        f"refs/llmflows/{rid}/2",
        store.put_blob({"s": 1}),
        3,
        True,
        [{"path": "big.bin", "reason": "too_large"}],
    )
    m = _checkpoint(store, None, None, 1)
    row = store.get_checkpoint(c2)
    assert row["parent_id"] == c1 and row["seq"] == 2 and row["partial"] is True
    assert row["skipped"] == [{"path": "big.bin", "reason": "too_large"}]
    assert row["commit_sha"] == row["commit"] == "d" * 40
    assert [c["id"] for c in store.list_checkpoints(rid)] == [c1, c2]
    assert [c["id"] for c in store.list_checkpoints()] == [c1, c2, m]
    assert store.first_checkpoint(rid)["id"] == c1
    assert store.latest_checkpoint(None)["id"] == m
    with pytest.raises(CheckpointNotFoundError):
        store.get_checkpoint(12345)
    assert [store.next_ref_seq("manual") for _ in range(3)] == [1, 2, 3]
    assert store.next_ref_seq(rid) == 1
    store.close()
    with RunStore.open(repo) as s:  # the counter is durable
        assert s.next_ref_seq("manual") == 4


# ------------------------------------------------------------------ effects journal


def test_effects_journal_semantics(store: RunStore):
    rid = _run(store)
    sid = store.create_step(rid, "edit", "agent")
    e1 = store.effect_intent(rid, sid, f"{sid}:0", "llm", {"messages": ["hi"]}, idempotent=True)
    row = store.find_effect(rid, f"{sid}:0")
    assert row["status"] == "intent" and row["request"] == {"messages": ["hi"]}
    assert row["idempotent"] is True
    assert [e["id"] for e in store.open_effects(rid)] == [e1]  # crash here = mid-effect

    store.effect_done(e1, {"text": "hello"})
    row = store.find_effect(rid, f"{sid}:0")
    assert row["status"] == "done" and row["result"] == {"text": "hello"} and row["done_at"]
    assert store.open_effects(rid) == []
    # A done effect is replayed, never started again.
    with pytest.raises(EffectAlreadyDoneError):
        store.effect_intent(rid, sid, f"{sid}:0", "llm", {}, True)

    e2 = store.effect_intent(rid, sid, f"{sid}:1", "command", {"cmd": "make"}, False)
    store.effect_failed(e2, "exit 2")
    assert store.find_effect(rid, f"{sid}:1")["error"] == "exit 2"
    # Retrying a failed effect: the old try is kept as discarded, a fresh intent is written.
    e3 = store.effect_intent(rid, sid, f"{sid}:1", "command", {"cmd": "make"}, False)
    assert e3 != e2
    assert store.find_effect(rid, f"{sid}:1")["id"] == e3
    assert store.get_effect(e2)["status"] == "discarded"
    store.discard_effect(e3)
    assert store.find_effect(rid, f"{sid}:1") is None
    assert [e["id"] for e in store.effects_for_step(sid)] == [e1, e2, e3]
    assert [e["id"] for e in store.effects_for_run(rid)] == [e1, e2, e3]
    # Keys are per run.
    other = store.create_run("f", "g", "m", "review", {})
    store.effect_intent(other, None, f"{sid}:0", "llm", {}, True)


# ------------------------------------------------------------------ gates


def test_gates_open_answer_pending(store: RunStore):
    rid = _run(store)
    sid = store.create_step(rid, "review", "gate")
    assert store.pending_gate(rid) is None
    g = store.open_gate(rid, sid, "review", "review", "Approve the diff?", None, {"files": ["a"]})
    pending = store.pending_gate(rid)
    assert pending["id"] == g and pending["status"] == "open"
    assert pending["payload"] == {"files": ["a"]} and pending["prompt"] == "Approve the diff?"
    store.answer_gate(g, "reject", "use a dict", {"hunks": [0]})
    assert store.pending_gate(rid) is None
    row = store.get_gate(g)
    assert (row["status"], row["decision"], row["reason"]) == ("answered", "reject", "use a dict")
    assert row["answer"] == {"hunks": [0]} and row["answered_at"]
    assert store.last_gate(rid)["id"] == g
    with pytest.raises(GateAlreadyAnsweredError):
        store.answer_gate(g, "approve", "", {})
    with pytest.raises(RecordNotFoundError):
        store.answer_gate(999, "approve", "", {})


# ------------------------------------------------------------------ events and cost


def test_events_seq_per_run_and_round_trip(store: RunStore):
    r1, r2 = _run(store), _run(store)
    ev = StepStarted(run_id=r1, step_id=1, node="plan", kind="llm")
    assert store.append_event(ev) == 1 and ev.seq == 1
    assert store.append_event(StepStarted(run_id=r1, step_id=2, node="edit", kind="agent")) == 2
    assert store.append_event(StepStarted(run_id=r2, step_id=3, node="plan", kind="llm")) == 1
    assert store.append_event({"type": "log", "run_id": r1, "message": "hi", "level": "info"}) == 3
    # Events outside any run get their own sequence.
    assert store.append_event(CheckpointMade(checkpoint_id=1, parent_id=None, source="manual")) == 1

    evs = store.events_for(r1)
    assert [e["seq"] for e in evs] == [1, 2, 3]
    assert [e["seq"] for e in store.events_for(r1, after_seq=2)] == [3]
    back = event_from_dict(evs[0])
    assert isinstance(back, StepStarted) and back.node == "plan" and back.seq == 1
    assert back.run_id == r1 and back.ts == ev.ts
    assert store.events_for(None)[0]["type"] == "checkpoint"


def test_llm_calls_and_run_cost(store: RunStore):
    rid = _run(store)
    store.record_llm_call(rid, None, "openai/gpt-x", 100, 20, 10, 0.5, 1.2)
    store.record_llm_call(rid, None, "openai/gpt-x", 50, 5, 0, 0.25, 0.8)
    store.record_llm_call(rid, None, "anthropic/c", 10, 1, 0, 0.125, 0.1)
    cost = store.run_cost(rid)
    assert cost["cost_usd"] == pytest.approx(0.875)
    assert (cost["tokens_in"], cost["tokens_out"], cost["tokens_cached"], cost["calls"]) == (
        160,
        26,
        10,
        3,
    )
    assert cost["by_model"]["openai/gpt-x"]["calls"] == 2
    assert cost["by_model"]["anthropic/c"]["cost_usd"] == pytest.approx(0.125)
    assert store.run_cost(_run(store))["cost_usd"] == 0.0


# ------------------------------------------------------------------ transactions, read-only, threads


def test_transaction_is_all_or_nothing_and_nests(store: RunStore):
    rid = _run(store)
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.update_run(rid, status="paused")
            store.put_blob({"lost": True})
            raise RuntimeError("crash mid-step")
    assert store.get_run(rid)["status"] == "running"
    assert store.db["blobs"].count == 0

    with store.transaction():
        store.update_run(rid, status="paused")
        with pytest.raises(ValueError):
            with store.transaction():
                store.update_run(rid, goal="inner")
                raise ValueError
    run = store.get_run(rid)
    assert run["status"] == "paused" and run["goal"] == "add a thing"


def test_read_only_store_reads_but_refuses_writes(repo: Path):
    with RunStore.open(repo) as w:
        rid = _run(w)
        # A reader opens while the writer holds the lock.
        with RunStore.open(repo, write=False) as r:
            assert r.get_run(rid)["id"] == rid
            assert r.list_runs()[0]["id"] == rid
            with pytest.raises(StoreReadOnlyError, match="read-only"):
                r.create_run("f", "g", "m", "review", {})
            with pytest.raises(StoreReadOnlyError):
                r.put_blob({})
            with pytest.raises(StoreReadOnlyError):
                with r.transaction():
                    pass
            # Even raw SQL cannot write through the read-only connection.
            with pytest.raises(sqlite3.OperationalError):
                r.db.execute("DELETE FROM runs")
            # The reader sees the writer's later commits.
            w.update_run(rid, status="completed")
            assert r.get_run(rid)["status"] == "completed"


def test_store_usable_from_a_worker_thread(store: RunStore):
    rid = _run(store)
    errors: list[BaseException] = []

    def work():
        try:
            for i in range(20):
                store.append_event({"type": "log", "run_id": rid, "message": str(i)})
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [e["seq"] for e in store.events_for(rid)] == list(range(1, 61))


def test_closed_store_refuses_use(repo: Path):
    s = RunStore.open(repo)
    s.close()
    s.close()  # idempotent
    with pytest.raises(Exception, match="closed"):
        s.list_runs()


def test_json_columns_are_plain_json(store: RunStore):
    rid = _run(store)
    raw = store.db.execute("SELECT config FROM runs WHERE id = ?", (rid,)).fetchone()[0]
    assert json.loads(raw) == {"k": 1}
