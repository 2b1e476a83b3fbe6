"""ModelClient against litellm's real HTTP client and a loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.errors import ModelError
from engine.models import ModelClient, ModelResponse, ModelSettings, get_litellm
from engine.models.client import NO_KEY, ToolCallRequest
from tests.support import openai_server as server_support
from tests.support.openai_server import (
    OpenAIServer,
    reply_malformed,
    reply_sleep,
    reply_status,
    reply_text,
    reply_tool_calls,
    reply_truncated,
)

openai_server = server_support.openai_server  # the loopback server fixture

KEY = "sk-test"
KEY_ENV = "TEST_LLM_API_KEY"
PRICE = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
MESSAGES = [
    {"role": "system", "content": "You are a careful coding agent."},
    {"role": "user", "content": "Add a test for add()"},
]


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def make_settings(server: OpenAIServer, **kw) -> ModelSettings:
    base = dict(
        model="openai/test-model",
        api_base=server.api_base,
        api_key_env=KEY_ENV,
        timeout_s=5.0,
        max_retries=2,
        retry_base_s=0.001,
        retry_max_s=0.02,
        custom_prices={"openai/test-model": dict(PRICE)},
    )
    base.update(kw)
    return ModelSettings(**base)


async def test_streaming_deltas_arrive_in_order(openai_server: OpenAIServer) -> None:
    pieces = ["The ", "quick ", "brown ", "fox."]
    openai_server.enqueue(reply_text("".join(pieces), chunks=pieces))
    deltas: list[str] = []
    resp = await ModelClient(make_settings(openai_server)).complete(
        MESSAGES, on_delta=deltas.append
    )
    assert deltas == pieces
    assert resp.text == "The quick brown fox."
    assert resp.finish_reason == "stop"
    assert resp.tool_calls == []
    assert resp.model == "openai/test-model"
    assert resp.latency_s > 0
    # What the server saw: our prompt, streamed, usage requested, our key.
    (body,) = openai_server.requests
    assert body["messages"] == MESSAGES
    assert body["model"] == "test-model"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert openai_server.request_headers[0]["authorization"] == f"Bearer {KEY}"


async def test_tool_calls_are_parsed(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(
        reply_tool_calls(
            [
                {"id": "call_a", "name": "read_file", "arguments": {"path": "src/app.py"}},
                {
                    "id": "call_b",
                    "name": "search",
                    "arguments": {"pattern": "def add", "path": "."},
                },
            ],
            text="Let me look.",
        )
    )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
            },
        }
    ]
    resp = await ModelClient(make_settings(openai_server)).complete(MESSAGES, tools=tools)
    assert resp.finish_reason == "tool_calls"
    assert resp.text == "Let me look."
    assert [(t.id, t.name, t.arguments) for t in resp.tool_calls] == [
        ("call_a", "read_file", {"path": "src/app.py"}),
        ("call_b", "search", {"pattern": "def add", "path": "."}),
    ]
    assert json.loads(resp.tool_calls[0].raw_arguments) == {"path": "src/app.py"}
    assert openai_server.requests[0]["tools"] == tools
    msg = resp.assistant_message()
    assert msg["role"] == "assistant"
    assert [c["function"]["name"] for c in msg["tool_calls"]] == ["read_file", "search"]


async def test_usage_and_cost_match_litellm(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(
        reply_text("done", usage={"prompt_tokens": 1200, "completion_tokens": 300})
    )
    resp = await ModelClient(make_settings(openai_server)).complete(MESSAGES)
    assert (resp.tokens_in, resp.tokens_out, resp.tokens_cached) == (1200, 300, 0)
    lm = get_litellm()
    p, c = lm.cost_per_token(model="openai/test-model", prompt_tokens=1200, completion_tokens=300)
    assert resp.cost_usd == pytest.approx(p + c)
    assert resp.cost_usd == pytest.approx(1200 * 1e-6 + 300 * 2e-6)
    assert resp.cost_known is True


async def test_cached_tokens_recorded(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(
        reply_text("x", usage={"prompt_tokens": 500, "completion_tokens": 5, "cached_tokens": 400})
    )
    resp = await ModelClient(make_settings(openai_server)).complete(MESSAGES)
    assert (resp.tokens_in, resp.tokens_out, resp.tokens_cached) == (500, 5, 400)
    assert resp.cost_usd > 0


async def test_unpriced_model_costs_zero_and_is_flagged(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(reply_text("hi", usage={"prompt_tokens": 10, "completion_tokens": 2}))
    s = make_settings(openai_server, model="openai/no-price-model", custom_prices={})
    resp = await ModelClient(s).complete(MESSAGES)
    assert resp.text == "hi"
    assert resp.cost_usd == 0.0
    assert resp.cost_known is False
    assert resp.tokens_in == 10


async def test_429_then_success_is_retried(openai_server: OpenAIServer) -> None:
    # retry-after 30 s is honoured but capped by retry_max_s, so the test stays fast.
    openai_server.enqueue(reply_status(429, retry_after="30"), reply_text("second time lucky"))
    t0 = time.monotonic()
    resp = await ModelClient(make_settings(openai_server)).complete(MESSAGES)
    assert time.monotonic() - t0 < 5
    assert resp.text == "second time lucky"
    assert resp.attempts == 2
    assert len(openai_server.requests) == 2


async def test_persistent_500_raises_after_retries(openai_server: OpenAIServer) -> None:
    openai_server.set_default(reply_status(500))
    with pytest.raises(ModelError) as ei:
        await ModelClient(make_settings(openai_server, max_retries=3)).complete(MESSAGES)
    err = ei.value
    assert err.kind == "server"
    assert err.retryable is True
    assert "4 attempts" in str(err)
    assert len(openai_server.requests) == 4  # 1 + max_retries
    assert err.__cause__ is None and err.__suppress_context__  # no provider traceback chained


async def test_persistent_429_is_rate_limit(openai_server: OpenAIServer) -> None:
    openai_server.set_default(reply_status(429, retry_after="0"))
    with pytest.raises(ModelError) as ei:
        await ModelClient(make_settings(openai_server, max_retries=1)).complete(MESSAGES)
    assert ei.value.kind == "rate_limit"
    assert len(openai_server.requests) == 2


async def test_timeout_raises_model_error(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(reply_sleep(10))
    t0 = time.monotonic()
    with pytest.raises(ModelError) as ei:
        await ModelClient(make_settings(openai_server, timeout_s=0.3, max_retries=0)).complete(
            MESSAGES
        )
    assert ei.value.kind == "timeout"
    assert ei.value.retryable is True
    assert time.monotonic() - t0 < 3


async def test_timeout_then_success(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(reply_sleep(10), reply_text("fast now"))
    resp = await ModelClient(make_settings(openai_server, timeout_s=0.3)).complete(MESSAGES)
    assert resp.text == "fast now"
    assert resp.attempts == 2


@pytest.mark.parametrize("stream_body", [True, False], ids=["sse", "first-line"])
async def test_malformed_json_is_a_clean_model_error(
    openai_server: OpenAIServer, stream_body: bool
) -> None:
    openai_server.set_default(reply_malformed())
    with pytest.raises(ModelError) as ei:
        await ModelClient(make_settings(openai_server, max_retries=1)).complete(MESSAGES)
    assert ei.value.kind == "bad_response"
    assert "malformed JSON" in str(ei.value)
    assert "Traceback" not in str(ei.value)
    assert len(openai_server.requests) == 2  # retried once: a garbled body may be transient


async def test_truncated_stream_is_a_clean_model_error(openai_server: OpenAIServer) -> None:
    openai_server.set_default(reply_truncated("partial answer that never ends"))
    deltas: list[str] = []
    with pytest.raises(ModelError) as ei:
        await ModelClient(make_settings(openai_server, max_retries=1)).complete(
            MESSAGES, on_delta=deltas.append
        )
    assert ei.value.kind == "server"
    assert ei.value.retryable is True
    assert "Traceback" not in str(ei.value)
    assert "partial " in "".join(deltas)  # deltas streamed before the connection dropped
    assert len(openai_server.requests) == 2


async def test_truncated_then_success(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(reply_truncated(), reply_text("complete"))
    resp = await ModelClient(make_settings(openai_server)).complete(MESSAGES)
    assert resp.text == "complete"


async def test_malformed_tool_arguments_raise_truncated(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(
        reply_tool_calls([{"name": "write_file", "arguments": '{"path": "a.py", "content": '}])
    )
    with pytest.raises(ModelError) as ei:
        await ModelClient(make_settings(openai_server)).complete(MESSAGES)
    assert ei.value.kind == "truncated"  # cut off mid-arguments: retried with a larger cap
    assert ei.value.retryable is False
    assert "write_file" in str(ei.value) and "malformed JSON" in str(ei.value)
    assert len(openai_server.requests) == 1  # not silently re-bought


async def test_bad_request_is_not_retried(openai_server: OpenAIServer) -> None:
    openai_server.set_default(reply_status(400, message="context too long"))
    with pytest.raises(ModelError) as ei:
        await ModelClient(make_settings(openai_server)).complete(MESSAGES)
    assert ei.value.kind == "bad_request"
    assert ei.value.retryable is False
    assert "context too long" in str(ei.value)
    assert len(openai_server.requests) == 1


async def test_fallback_model_used_when_primary_fails(openai_server: OpenAIServer) -> None:
    openai_server.set_default(reply_status(503), model="broken-model")
    openai_server.set_default(reply_text("from the fallback"), model="test-model")
    s = make_settings(openai_server, model="openai/broken-model", fallbacks=["openai/test-model"])
    resp = await ModelClient(s).complete(MESSAGES)
    assert resp.text == "from the fallback"
    assert resp.model == "openai/test-model"
    seen = [r["model"] for r in openai_server.requests]
    assert seen == ["broken-model"] * 3 + ["test-model"]  # retries first, then the fallback
    assert resp.cost_usd > 0  # priced as the model that answered


async def test_all_models_failing_names_each(openai_server: OpenAIServer) -> None:
    openai_server.set_default(reply_status(500))
    s = make_settings(
        openai_server, model="openai/a-model", fallbacks=["openai/b-model"], max_retries=0
    )
    with pytest.raises(ModelError) as ei:
        await ModelClient(s).complete(MESSAGES)
    assert "openai/a-model" in str(ei.value) and "openai/b-model" in str(ei.value)
    assert ei.value.kind == "server"


async def test_secrets_never_in_errors_or_responses(openai_server: OpenAIServer) -> None:
    # A careless server echoes the Authorization header in its error text.
    openai_server.enqueue(reply_status(401, echo_auth=True))
    client = ModelClient(make_settings(openai_server))
    with pytest.raises(ModelError) as ei:
        await client.complete(MESSAGES)
    assert ei.value.kind == "auth"
    assert ei.value.retryable is False
    assert openai_server.request_headers[0]["authorization"] == f"Bearer {KEY}"
    assert KEY not in str(ei.value) and KEY not in repr(ei.value)
    assert "[redacted]" in str(ei.value)
    assert ei.value.__cause__ is None

    openai_server.enqueue(reply_status(500, echo_auth=True), reply_text("fine"))
    resp = await client.complete(MESSAGES)
    dumped = json.dumps(resp.to_dict())
    assert KEY not in dumped
    assert KEY not in json.dumps(client.settings.to_dict())
    assert KEY not in repr(resp)


async def test_api_base_without_key_env_never_sends_provider_key(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key-do-not-leak")
    openai_server.enqueue(reply_text("local"))
    s = make_settings(openai_server, api_key_env=None)
    resp = await ModelClient(s).complete(MESSAGES)
    assert resp.text == "local"
    assert openai_server.request_headers[0]["authorization"] == f"Bearer {NO_KEY}"


async def test_missing_key_env_is_config_error(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ModelError) as ei:
        await ModelClient(make_settings(openai_server)).complete(MESSAGES)
    assert ei.value.kind == "config"
    assert KEY_ENV in str(ei.value)
    assert openai_server.requests == []


async def test_on_delta_errors_propagate_unchanged(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(reply_text("a b c"))

    def boom(_text: str) -> None:
        raise RuntimeError("subscriber bug")

    with pytest.raises(RuntimeError, match="subscriber bug"):
        await ModelClient(make_settings(openai_server)).complete(MESSAGES, on_delta=boom)
    assert len(openai_server.requests) == 1  # a caller bug is not retried


async def test_bare_model_name_with_api_base_uses_openai_protocol(
    openai_server: OpenAIServer,
) -> None:
    openai_server.enqueue(reply_text("llama.cpp says hi"))
    resp = await ModelClient(make_settings(openai_server, model="qwen2.5-coder")).complete(MESSAGES)
    assert resp.text == "llama.cpp says hi"
    assert openai_server.requests[0]["model"] == "qwen2.5-coder"


def test_estimate_cost_uses_token_counter_and_price(openai_server: OpenAIServer) -> None:
    client = ModelClient(make_settings(openai_server))
    est = client.estimate_cost(MESSAGES, None, 500)
    lm = get_litellm()
    prompt = lm.token_counter(model="openai/test-model", messages=MESSAGES)
    assert prompt > 0
    assert est == pytest.approx(prompt * 1e-6 + 500 * 2e-6)
    assert client.estimate_cost(MESSAGES, None, 1000) > est
    unpriced = ModelClient(make_settings(openai_server, model="openai/nope", custom_prices={}))
    assert unpriced.estimate_cost(MESSAGES, None, 500) == 0.0


def test_model_response_round_trips() -> None:
    resp = ModelResponse(
        text="hi",
        tool_calls=[ToolCallRequest("c1", "finish", {"summary": "ok"}, '{"summary": "ok"}')],
        finish_reason="tool_calls",
        model="openai/test-model",
        tokens_in=3,
        tokens_out=4,
        tokens_cached=1,
        cost_usd=0.5,
        latency_s=0.1,
        script_index=2,
        script_consumed=[1, 2],
    )
    d = json.loads(json.dumps(resp.to_dict()))
    assert ModelResponse.from_dict(d) == resp
    assert ModelResponse.from_dict({**d, "unknown_future_key": 1}) == resp


def test_importing_engine_models_does_not_import_litellm() -> None:
    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys, engine, engine.models, engine.models.client, engine.models.settings, "
        "engine.models.scripted, engine.models.pricing; "
        "assert 'litellm' not in sys.modules, 'litellm imported eagerly'"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
