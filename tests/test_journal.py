"""The effects journal: replay checks identity; a result and what belongs with it are one write."""

from __future__ import annotations

import asyncio

import pytest

from engine.errors import JournalMismatchError
from engine.run.journal import Journal
from engine.store import RunStore
from tests.support.gitutil import init_repo


@pytest.fixture
def store(tmp_path):
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    with RunStore.open(repo) as s:
        yield s


def _step(store) -> tuple[str, int]:
    run_id = store.create_run("f", "goal", "m", "full", {})
    return run_id, store.create_step(run_id, "edit", "agent")


async def _const(value):
    return value


def test_a_replayed_entry_must_be_the_effect_asked_for(store):
    run_id, step = _step(store)
    first = Journal(store, run_id, step)
    ran = []

    async def write():
        ran.append(1)
        return {"ok": True}

    tool = {"name": "write_file", "arguments": {"path": "a.txt", "content": "A"}}
    asyncio.run(first.effect("tool", tool, write))
    # Same step re-entered, same effect: replayed, not run.
    again = Journal(store, run_id, step)
    assert asyncio.run(again.effect("tool", tool, write)) == {"ok": True} and ran == [1]
    # Re-entered, but now the step asks for something else at that index.
    other = Journal(store, run_id, step)
    with pytest.raises(JournalMismatchError) as err:
        asyncio.run(other.effect("command", {"command": "make deploy"}, write))
    msg = str(err.value)
    assert f"step {step}, effect 0" in msg and "write_file" in msg and "make deploy" in msg
    assert ran == [1]  # the recorded answer of another effect is never handed out
    changed = Journal(store, run_id, step)
    with pytest.raises(JournalMismatchError):
        asyncio.run(changed.effect("tool", {**tool, "arguments": {"path": "b.txt"}}, write))


def test_a_model_call_replays_though_its_prompt_was_rebuilt(store):
    run_id, step = _step(store)
    req = {"model": "m", "node": "edit", "turn": 0, "digest": "aaaa"}
    asyncio.run(Journal(store, run_id, step).effect("llm", req, lambda: _const({"text": "x"})))
    # After a crash the prompt is rebuilt from files the step wrote: another digest.
    later = {**req, "digest": "bbbb"}
    out = asyncio.run(Journal(store, run_id, step).effect("llm", later, lambda: _const({})))
    assert out == {"text": "x"}
    with pytest.raises(JournalMismatchError):
        asyncio.run(
            Journal(store, run_id, step).effect("llm", {**req, "node": "fix"}, lambda: _const({}))
        )


def test_what_belongs_with_a_result_is_written_with_it(store):
    run_id, step = _step(store)

    def paid(result):
        store.record_llm_call(run_id, step, "m", 10, 5, cost_usd=0.5)
        raise RuntimeError("killed between the two writes")

    with pytest.raises(RuntimeError):
        asyncio.run(
            Journal(store, run_id, step).effect(
                "llm", {"model": "m", "node": "edit"}, lambda: _const({"text": "x"}), on_done=paid
            )
        )
    # Neither the done mark nor the cost row: the call is simply asked again.
    assert store.run_cost(run_id)["calls"] == 0
    assert [e["status"] for e in store.effects_for_run(run_id)] == ["intent"]
