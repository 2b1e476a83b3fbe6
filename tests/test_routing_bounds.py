"""One routing function for executor and gate answers; a loop bound follows `--set`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.errors import UsageError
from engine.flow.spec import FlowRuntimeError
from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from tests.support.fake_model import FakeModel, say
from tests.support.gitutil import init_repo

LOOP = """\
name: loop
description: a bounded loop
settings:
  max_tries: 3
nodes:
  - id: work
    kind: llm
    prompt: "try"
    max_iterations: settings.max_tries
    on_error: end
    next: work
"""

# The `when` divides by zero at run time: the error must name where it is written.
BAD_WHEN = """\
name: route
description: one conditional edge
nodes:
  - id: {first_id}
    kind: {first_kind}
    prompt: "go"
    next:
      - when: "(1 // 0) > 0"
        to: end
      - to: end
"""


def _flow(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return path


def _run(session: Session, run_id: str, model: FakeModel):
    return asyncio.run(Executor(session, run_id, model_factory=lambda s: model).execute())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "proj", {"a.txt": "a\n"})


def test_set_max_iterations_setting_bounds_the_loop(repo: Path, tmp_path: Path):
    model = FakeModel({"work": [say(text=f"try {i}") for i in range(5)]})
    with Session.open(repo) as s:
        run_id = ops.create_run(
            s,
            str(_flow(tmp_path, LOOP)),
            "loop",
            model="fake/model",
            autonomy="full",
            settings={"max_tries": "2"},
        )
        out = _run(s, run_id, model)
        assert out.status == "completed"
        works = [x for x in s.store.steps_for(run_id) if x["node"] == "work"]
    assert len(works) == 2  # --set max_tries=2, not the flow's default 3
    assert len(model.calls) == 2


@pytest.mark.parametrize("value", ["0", "many", "-1", ""])
def test_a_loop_bound_setting_must_be_a_whole_number(repo: Path, tmp_path: Path, value: str):
    with Session.open(repo) as s:
        with pytest.raises(UsageError, match="max_tries.*whole number >= 1"):
            ops.create_run(
                s,
                str(_flow(tmp_path, LOOP)),
                "loop",
                model="fake/model",
                autonomy="full",
                settings={"max_tries": value},
            )
        assert s.store.list_runs() == []  # nothing recorded


def test_executor_routing_error_names_the_edge_position(repo: Path, tmp_path: Path):
    flow = _flow(tmp_path, BAD_WHEN.format(first_id="talk", first_kind="llm"))
    model = FakeModel({"talk": [say(text="hi")]})
    with Session.open(repo) as s:
        run_id = ops.create_run(s, str(flow), "go", model="fake/model", autonomy="full")
        _run(s, run_id, model)
        errors = [x["error"] or "" for x in s.store.steps_for(run_id)]
        errors.append(s.store.get_run(run_id).get("error") or "")
    assert any(f"{flow}:9:" in e for e in errors), errors


def test_gate_answer_routing_error_names_the_edge_position(repo: Path, tmp_path: Path):
    flow = _flow(tmp_path, BAD_WHEN.format(first_id="ok", first_kind="gate"))
    with Session.open(repo) as s:
        run_id = ops.create_run(s, str(flow), "go", model="fake/model", autonomy="full")
        out = _run(s, run_id, FakeModel({}))
        assert out.status == "paused" and out.gate.kind == "gate"
        with pytest.raises(FlowRuntimeError, match=rf"{flow}:9:\d+: when"):
            ops.answer_gate(s, run_id, "approve")
