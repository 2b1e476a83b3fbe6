"""A conversation with the agent: messages at a pause, follow-ups on a finished run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.errors import UsageError
from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from tests.support.fake_model import FakeModel, say, tool
from tests.support.gitutil import init_repo
from tests.test_review_engine import ONE_EDIT


def _model(*contents: str) -> FakeModel:
    edits: list = []
    for c in contents:
        edits += [
            say(tool("write_file", path="a.txt", content=c)),
            say(tool("finish", summary="ok")),
        ]
    return FakeModel({"edit": edits, "summary": [say(text="done")] * len(contents)})


def _run(s: Session, run_id: str, model: FakeModel):
    return asyncio.run(Executor(s, run_id, model_factory=lambda _s: model).execute())


def _prompts(model: FakeModel, node: str) -> list[str]:
    return [c["messages"][1]["content"] for c in model.calls if c["node"] == node]


def _start(s: Session, flow: Path, autonomy: str = "review") -> str:
    return ops.create_run(s, str(flow), "write a", model="fake/m", autonomy=autonomy)


def test_a_message_at_a_review_gate_reaches_the_next_model_call(tmp_path: Path):
    repo = init_repo(tmp_path / "p", {"README.md": "hi\n"})
    flow = tmp_path / "one.yaml"
    flow.write_text(ONE_EDIT)
    model = _model("agent\n")
    with Session.open(repo) as s:
        run_id = _start(s, flow)
        assert _run(s, run_id, model).gate.kind == "review"
        note = "In the summary,\nmention the file name."
        ops.message_agent(s, run_id, note)
        ops.answer_gate(s, run_id, "approve")
        assert _run(s, run_id, model).status == "completed"
        assert note in _prompts(model, "summary")[0]
        kinds = [e["type"] for e in s.store.events_for(run_id)]
        assert "user_message" in kinds  # the transcript keeps the person's words
        with pytest.raises(UsageError, match="empty"):
            ops.message_agent(s, run_id, "  ")


def test_a_message_survives_a_rejection(tmp_path: Path):
    repo = init_repo(tmp_path / "p", {"README.md": "hi\n"})
    flow = tmp_path / "one.yaml"
    flow.write_text(ONE_EDIT)
    model = _model("agent\n", "better\n")
    with Session.open(repo) as s:
        run_id = _start(s, flow)
        _run(s, run_id, model)
        ops.message_agent(s, run_id, "use lowercase only")
        ops.answer_gate(s, run_id, "reject", reason="not good enough")
        _run(s, run_id, model)
        second = _prompts(model, "edit")[-1]
        assert "use lowercase only" in second and "not good enough" in second


def test_follow_up_starts_a_linked_run_from_the_final_tree(tmp_path: Path):
    repo = init_repo(tmp_path / "p", {"README.md": "hi\n"})
    flow = tmp_path / "one.yaml"
    flow.write_text(ONE_EDIT)
    model = _model("agent\n", "agent, again\n")
    with Session.open(repo) as s:
        first = _start(s, flow, autonomy="full")
        assert _run(s, first, model).status == "completed"
        final = s.store.get_run(first)["head_checkpoint_id"]
        with pytest.raises(UsageError, match="is completed"):
            ops.message_agent(s, first, "too late")
        (repo / "a.txt").write_text("changed by hand\n")
        new = ops.follow_up(s, first, "now say it again")
        assert (repo / "a.txt").read_text() == "agent\n"  # the final tree, hand edit kept aside
        run = s.store.get_run(new)
        assert run["goal"] == "now say it again" and run["config"]["follows"] == first
        cp0 = s.store.first_checkpoint(new)
        assert cp0["parent_id"] == final
        assert s.store.get_run(first)["status"] == "completed"  # the old run is untouched
        assert _run(s, new, model).status == "completed"
        prompt = _prompts(model, "edit")[-1]
        assert "write a" in prompt and first in prompt
        assert (repo / "a.txt").read_text() == "agent, again\n"
        with pytest.raises(UsageError, match="continue it"):
            paused = _start(s, flow)
            ops.follow_up(s, paused, "x")
