"""Review finding: foreach batches of read-only llm nodes must not ask the model twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from tests.support.fake_model import FakeModel, say, tool
from tests.test_review_engine import _flow, _repo, _run

FANOUT_JSON = """\
name: fanout
description: a plan fanned out to a read-only json llm node
nodes:
  - id: plan
    kind: plan
    prompt: "Plan: {{ goal }}"
    next: review
  - id: review
    kind: llm
    json: true
    retries: 1
    foreach: plan.tasks
    concurrency: 3
    prompt: "Review task {{ task.title }}"
    next: end
"""


def test_batch_item_failure_reuses_the_answers_of_the_other_items(tmp_path: Path):
    repo = _repo(tmp_path)
    asked: list[str] = []

    def review(messages) -> dict:
        # Answer by task, whatever order the concurrent items ask in: t1's first answer is
        # not JSON (its step fails and is retried); t2 and t3 were answered in the same
        # batch and must not be asked (and paid) again.
        user = " ".join(str(m.get("content")) for m in messages if m.get("role") == "user")
        n = next(
            n for n, title in ((1, "one"), (2, "two"), (3, "three")) if f"task {title}" in user
        )
        asked.append(f"t{n}")
        if n == 1 and asked.count("t1") == 1:
            return say(text="not json")
        return say(text=f'"ok{n}"' if asked.count(f"t{n}") <= 2 else '"again"')

    model = FakeModel(
        {
            "plan": [say(tool("submit_plan", tasks=["one", "two", "three"]))],
            "review": [review] * 6,
        }
    )
    with Session.open(repo) as s:
        run_id = ops.create_run(
            s, _flow(tmp_path, FANOUT_JSON), "fan out", model="fake/model", autonomy="full"
        )
        out = _run(s, run_id, model)
        assert out.status == "completed", out.reason
        assert len([c for c in model.calls if c["node"] == "review"]) == 4
        assert sorted(asked) == ["t1", "t1", "t2", "t3"]
        head = s.store.get_checkpoint(s.store.get_run(run_id)["head_checkpoint_id"])
        outputs = s.store.get_blob(head["state_hash"])["outputs"]["review"]
        assert outputs == {"t1": "ok1", "t2": "ok2", "t3": "ok3"}
        llm_done = [
            e
            for e in s.store.effects_for_run(run_id)
            if e["kind"] == "llm" and e["status"] == "done"
        ]
        assert s.store.run_cost(run_id)["calls"] == 5  # plan + 4 review answers, no more
        assert len(llm_done) >= 5


def test_stop_mid_batch_then_resume_reuses_the_answers_received(tmp_path: Path):
    repo = _repo(tmp_path)
    holder: dict[str, asyncio.Task] = {}

    class StopOnThird(FakeModel):
        async def complete(self, messages, **kw):
            if "three" in messages[1]["content"] and "stopped" not in holder:
                holder["stopped"] = True
                holder["outer"].cancel()  # the person presses stop while t3 is asked
                await asyncio.sleep(30)
            return await super().complete(messages, **kw)

    model = StopOnThird(
        {
            "plan": [say(tool("submit_plan", tasks=["one", "two", "three"]))],
            "review": [say(text=f'"ok{i}"') for i in (1, 2, 3)] + [say(text='"again"')] * 2,
        }
    )
    with Session.open(repo) as s:
        run_id = ops.create_run(
            s, _flow(tmp_path, FANOUT_JSON), "fan out", model="fake/model", autonomy="full"
        )

        async def go():
            holder["outer"] = asyncio.current_task()
            return await Executor(s, run_id, model_factory=lambda st: model).execute()

        out = asyncio.run(go())
        assert out.status == "stopped"
        ops.reopen(s, run_id)
        out = _run(s, run_id, model)
        assert out.status == "completed", out.reason
        head = s.store.get_checkpoint(s.store.get_run(run_id)["head_checkpoint_id"])
        outputs = s.store.get_blob(head["state_hash"])["outputs"]["review"]
        assert outputs == {"t1": "ok1", "t2": "ok2", "t3": "ok3"}
        # t1 and t2 were answered before the stop: asked once each; t3 asked again
        asked = [c["messages"][1]["content"] for c in model.calls if c["node"] == "review"]
        assert sum("one" in m for m in asked) == 1 and sum("two" in m for m in asked) == 1
        assert all(x["status"] != "running" for x in s.store.steps_for(run_id))


def test_rewind_drops_answers_kept_for_a_next_attempt(tmp_path: Path):
    repo = _repo(tmp_path)
    with Session.open(repo) as s:
        run_id = ops.create_run(
            s, _flow(tmp_path, FANOUT_JSON), "fan out", model="fake/model", autonomy="full"
        )
        start = s.store.get_run(run_id)["head_checkpoint_id"]
        step = s.store.create_step(run_id, "review", "llm", 1, None, "t2", start)
        s.store.keep_answers(run_id, "review/t2", step)
        ops.rewind(s, run_id, start)
        assert s.store.take_answers(run_id, "review/t2") is None
