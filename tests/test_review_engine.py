"""Review findings: engine bugs reproduced on real temp repos, each with its fix."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine import operations as ops
from engine.executor import Executor
from engine.session import Session
from tests.support.fake_model import FakeModel, say, tool
from tests.support.gitutil import init_repo

ONE_EDIT = """\
name: one
description: one edit, then a summary
nodes:
  - id: edit
    kind: agent
    tools: [write_file, finish]
    prompt: "Write a.txt"
    next: summary
  - id: summary
    kind: llm
    prompt: "Summarize"
    next: end
"""


def _repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "p", {"README.md": "hi\n"})


def _flow(tmp_path: Path, text: str, name: str = "flow.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _run(session: Session, run_id: str, model: FakeModel):
    return asyncio.run(Executor(session, run_id, model_factory=lambda s: model).execute())


def _one_edit_model() -> FakeModel:
    return FakeModel(
        {
            "edit": [
                say(tool("write_file", path="a.txt", content="agent\n")),
                say(tool("finish", summary="wrote a")),
            ],
            "summary": [say(text="done")],
        }
    )


def test_stop_at_review_gate_then_resume_asks_for_the_review_again(tmp_path: Path):
    repo = _repo(tmp_path)
    model = _one_edit_model()
    with Session.open(repo) as s:
        run_id = ops.create_run(
            s, _flow(tmp_path, ONE_EDIT), "write a", model="fake/model", autonomy="review"
        )
        out = _run(s, run_id, model)
        assert out.status == "paused" and out.gate["kind"] == "review"
        ops.answer_gate(s, run_id, "stop", reason="later")
        assert s.store.get_run(run_id)["status"] == "stopped"
        # `resume RUN` without --approve: the unreviewed change must not pass silently
        ops.reopen(s, run_id)
        out = _run(s, run_id, model)
        assert out.status == "paused" and out.gate["kind"] == "review"
        assert [c["node"] for c in model.calls] == ["edit", "edit"]  # summary not reached
        ops.answer_gate(s, run_id, "approve")
        out = _run(s, run_id, model)
        assert out.status == "completed"
        assert (repo / "a.txt").read_text() == "agent\n"
