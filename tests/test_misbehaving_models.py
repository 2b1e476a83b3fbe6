"""Every way a real (small) model misbehaves ends in a handled state: the real
executor, litellm's real HTTP client and the loopback OpenAI-compatible server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.errors import ModelConfigError
from engine.models import ModelClient, ModelSettings
from engine.models.settings import request_options_problem, resolve_model_settings
from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from tests.support import openai_server as server_support
from tests.support.gitutil import init_repo
from tests.support.openai_server import (
    OpenAIServer,
    reply_endless,
    reply_length,
    reply_placeholder_json,
    reply_prose_without_tools,
    reply_text,
    reply_tool_calls,
    reply_truncated_tool_json,
)

openai_server = server_support.openai_server

FLOW = """name: mis
description: an agent step, then a structured answer
nodes:
  - id: work
    kind: agent
    prompt: "Do the work: {{ goal }}"
    next: answer
  - id: answer
    kind: llm
    json: true
    schema:
      type: object
      required: [cause, files]
      properties:
        cause: {type: string, minLength: 10}
        files: {type: array, minItems: 1, items: {type: string}}
    prompt: "Where is the bug?"
    next: end
"""
GOOD_JSON = '{"cause": "add() subtracts instead of adding", "files": ["calc.py"]}'


def _finish(summary: str = "done") -> dict:
    return reply_tool_calls([{"id": "f1", "name": "finish", "arguments": {"summary": summary}}])


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("TEST_LLM_API_KEY", "sk-test")


def _run(tmp_path: Path, server: OpenAIServer, **settings):
    project = init_repo(tmp_path / "p", {"calc.py": "def add(a, b):\n    return a - b\n"})
    flow = tmp_path / "mis.yaml"
    flow.write_text(FLOW)
    client = ModelClient(
        ModelSettings(
            model="openai/test-model",
            api_base=server.api_base,
            api_key_env="TEST_LLM_API_KEY",
            timeout_s=10.0,
            max_retries=0,
            max_output_tokens=settings.pop("max_output_tokens", 200),
            **settings,
        )
    )
    with Session.open(project) as s:
        run_id = ops.create_run(s, str(flow), "fix add", model="openai/test-model", autonomy="full")
        out = asyncio.run(Executor(s, run_id, model_factory=lambda _s: client).execute())
        steps = [(x["node"], x["status"], x.get("error") or "") for x in s.store.steps_for(run_id)]
        run = s.store.get_run(run_id)
    return out, steps, run


def test_prose_without_a_tool_call_is_told_once_then_complies(tmp_path, openai_server):
    openai_server.enqueue(reply_prose_without_tools(), _finish(), reply_text(GOOD_JSON))
    out, steps, _ = _run(tmp_path, openai_server)
    assert out.status == "completed"
    nudge = openai_server.requests[1]["messages"][-1]
    assert nudge["role"] == "user" and "call a tool, or finish with a summary" in nudge["content"]


def test_prose_twice_fails_the_step_not_done(tmp_path, openai_server):
    openai_server.enqueue(
        reply_prose_without_tools("Looks fine to me."),
        reply_prose_without_tools("I am sure it is fine."),
    )
    out, steps, run = _run(tmp_path, openai_server)
    assert out.status == "failed"
    assert steps[0][:2] == ("work", "failed")
    assert "answered without calling a tool twice" in steps[0][2]
    assert "I am sure it is fine." in steps[0][2]


def test_finish_reason_length_is_retried_once_with_a_larger_cap(tmp_path, openai_server):
    openai_server.enqueue(reply_length(), _finish(), reply_text(GOOD_JSON))
    out, _steps, _ = _run(tmp_path, openai_server)
    assert out.status == "completed"
    first, second = openai_server.requests[0], openai_server.requests[1]
    assert first["max_tokens"] == 200 and second["max_tokens"] == 400


def test_the_larger_cap_of_a_retry_stays_within_the_context_window(tmp_path, openai_server):
    openai_server.enqueue(reply_length(), _finish(), reply_text(GOOD_JSON))
    out, _steps, _ = _run(tmp_path, openai_server, max_output_tokens=1500, context_window=3000)
    assert out.status == "completed"
    first, second = openai_server.requests[0], openai_server.requests[1]
    assert first["max_tokens"] == 1500
    # twice the cap would be 3,000 tokens: the whole window, with no room for the prompt
    assert 1500 < second["max_tokens"] < 3000


def test_length_twice_fails_the_step_showing_the_truncated_text(tmp_path, openai_server):
    openai_server.enqueue(reply_length("the total of the total"), reply_length("and the total of"))
    out, steps, _ = _run(tmp_path, openai_server)
    assert out.status == "failed"
    assert "cut off by the output limit twice" in steps[0][2]
    assert "and the total of" in steps[0][2]


def test_truncated_tool_call_json_is_never_taken_as_a_summary(tmp_path, openai_server):
    openai_server.enqueue(
        reply_truncated_tool_json(), _finish("real summary"), reply_text(GOOD_JSON)
    )
    out, _steps, _ = _run(tmp_path, openai_server)
    assert out.status == "completed"
    assert openai_server.requests[1]["max_tokens"] == 400


def test_placeholder_json_is_refused_with_the_reason_then_corrected(tmp_path, openai_server):
    openai_server.enqueue(_finish(), reply_placeholder_json(), reply_text(GOOD_JSON))
    out, _steps, _ = _run(tmp_path, openai_server)
    assert out.status == "completed"
    retry = openai_server.requests[2]["messages"][-1]["content"]
    assert "does not match the schema at files" in retry
    # JSON mode was asked for, since litellm says this provider supports response_format.
    assert openai_server.requests[1]["response_format"] == {"type": "json_object"}


def test_placeholder_json_every_time_fails_with_the_answer_shown(tmp_path, openai_server):
    openai_server.enqueue(_finish())
    openai_server.set_default(reply_placeholder_json())
    out, steps, _ = _run(tmp_path, openai_server)
    assert out.status == "failed"
    assert steps[-1][:2] == ("answer", "failed")
    assert "not usable" in steps[-1][2] and "one or two sentences" in steps[-1][2]
    assert len(openai_server.requests) == 1 + 3  # the answer, then two bounded retries


def test_endless_stream_is_cut_at_the_output_cap(tmp_path, openai_server):
    openai_server.set_default(reply_endless())
    out, steps, _ = _run(tmp_path, openai_server, max_output_tokens=50)
    assert out.status == "failed"
    assert "cut off by the output limit twice" in steps[0][2]
    assert "ran past max_output_tokens" in steps[0][2]
    assert [r["max_tokens"] for r in openai_server.requests] == [50, 100]


def test_request_options_pass_through_and_typos_are_refused(tmp_path, openai_server):
    openai_server.enqueue(_finish(), reply_text(GOOD_JSON))
    out, _s, _ = _run(
        tmp_path,
        openai_server,
        request={"tool_choice": "required", "seed": 7, "extra_body": {"num_ctx": 8192}},
    )
    assert out.status == "completed"
    body = openai_server.requests[0]
    assert body["tool_choice"] == "required" and body["seed"] == 7 and body["num_ctx"] == 8192
    assert "unknown field 'num_cxt'" in request_options_problem({"num_cxt": 1})
    assert "tool_choice must be one of" in request_options_problem({"tool_choice": "always"})
    cfg = tmp_path / "proj"
    (cfg / ".llmflows").mkdir(parents=True)
    (cfg / ".llmflows" / "config.toml").write_text('[model]\nname = "x/y"\nrequest = {tempo = 1}\n')
    with pytest.raises(ModelConfigError, match="model.request: unknown field 'tempo'"):
        resolve_model_settings(None, cfg)
    (cfg / ".llmflows" / "config.toml").write_text('[model]\nname = "x/y"\n')
    assert resolve_model_settings(None, cfg).max_output_tokens == 4096  # a default cap


def test_headless_wording_per_call_cost_and_no_gate_gate():
    from engine.cli.output import describe
    from engine.events import CostUpdate, GateOpened

    line = describe(
        CostUpdate(
            run_id="r1",
            step_id=1,
            model="m",
            tokens_in=100,
            tokens_out=20,
            tokens_cached=0,
            cost_usd=0.0012,
            run_cost_usd=0.0345,
            run_tokens_in=900,
            run_tokens_out=200,
        )
    )
    assert line == "    model call: $0.0012 (100→20 tok); run total $0.0345"
    gate = GateOpened(run_id="r1", gate_id=1, step_id=2, kind="gate", node="ok", prompt="Go?")
    assert describe(gate) == "⏸ gate #1: Go?"
    review = GateOpened(run_id="r1", gate_id=2, step_id=3, kind="review", node="x", prompt="?")
    assert describe(review) == "⏸ review gate #2: ?"
