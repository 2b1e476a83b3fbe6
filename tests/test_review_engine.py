"""Review findings: engine bugs reproduced on real temp repos, each with its fix."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.errors import UsageError
from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from tests.support.fake_model import FakeModel, say, tool
from tests.support.gitutil import git, init_repo

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
        assert out.status == "paused" and out.gate.kind == "review"
        ops.answer_gate(s, run_id, "stop", reason="later")
        assert s.store.get_run(run_id)["status"] == "stopped"
        # `resume RUN` without --approve: the unreviewed change must not pass silently
        ops.reopen(s, run_id)
        out = _run(s, run_id, model)
        assert out.status == "paused" and out.gate.kind == "review"
        assert [c["node"] for c in model.calls] == ["edit", "edit"]  # summary not reached
        ops.answer_gate(s, run_id, "approve")
        out = _run(s, run_id, model)
        assert out.status == "completed"
        assert (repo / "a.txt").read_text() == "agent\n"


def test_reject_keeps_the_persons_own_edits_and_index(tmp_path: Path):
    repo = _repo(tmp_path)
    (repo / "README.md").write_text("hi\nmine before the run\n")
    with Session.open(repo) as s:
        run_id = ops.create_run(
            s, _flow(tmp_path, ONE_EDIT), "write a", model="fake/model", autonomy="review"
        )
        out = _run(s, run_id, _one_edit_model())
        assert out.gate.kind == "review" and (repo / "a.txt").exists()
        # while paused, the person edits another file, creates one and stages it
        (repo / "README.md").write_text("hi\nmine while paused\n")
        (repo / "new.txt").write_text("new\n")
        git(repo, "add", "new.txt")
        index_before = git(repo, "ls-files", "--stage")
        ops.answer_gate(s, run_id, "reject", reason="not like this")
        assert not (repo / "a.txt").exists()  # the step's change is gone
        assert (repo / "README.md").read_text() == "hi\nmine while paused\n"
        assert (repo / "new.txt").read_text() == "new\n"
        assert git(repo, "ls-files", "--stage") == index_before
        step = next(x for x in s.store.steps_for(run_id) if x["node"] == "edit")
        assert step["status"] == "rejected"


def test_reject_refuses_to_drop_an_edit_to_a_file_the_step_changed(tmp_path: Path):
    repo = _repo(tmp_path)
    with Session.open(repo) as s:
        run_id = ops.create_run(
            s, _flow(tmp_path, ONE_EDIT), "write a", model="fake/model", autonomy="review"
        )
        _run(s, run_id, _one_edit_model())
        (repo / "a.txt").write_text("agent\nand my line\n")
        with pytest.raises(UsageError, match="you edited a.txt"):
            ops.answer_gate(s, run_id, "reject", reason="no")
        assert (repo / "a.txt").read_text() == "agent\nand my line\n"
        assert s.store.pending_gate(run_id) is not None
