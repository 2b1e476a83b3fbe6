"""The scripted model (``scripted:PATH``) through litellm's custom-provider path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.errors import ModelConfigError, ModelError
from engine.models import ModelClient, ModelSettings, get_litellm, load_script, write_script
from engine.models.client import ModelResponse, ToolCallRequest
from engine.models.scripted import (
    SCRIPTED_LITELLM_MODEL,
    SCRIPTED_PRICE,
    ScriptEntry,
    entry_from_response,
)

MESSAGES = [{"role": "user", "content": "Fix the failing test in src/app.py please"}]


def script(tmp_path: Path, body: str, name: str = "script.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


def client_for(path: Path, **kw) -> ModelClient:
    base = dict(model=f"scripted:{path}", retry_base_s=0.001, retry_max_s=0.01, max_retries=2)
    base.update(kw)
    return ModelClient(ModelSettings(**base))


async def call(client: ModelClient, node: str | None = None, consumed=(), **kw) -> ModelResponse:
    meta = {"node": node, "scripted_consumed": list(consumed)}
    return await client.complete(MESSAGES, metadata=meta, **kw)


async def test_entries_are_used_in_order(tmp_path: Path) -> None:
    p = script(
        tmp_path,
        """
        responses:
          - text: first
          - text: second
          - text: third
        """,
    )
    c = client_for(p)
    consumed: list[int] = []
    texts = []
    for _ in range(3):
        r = await call(c, consumed=consumed)
        consumed += r.script_consumed
        texts.append((r.script_index, r.text))
    assert texts == [(0, "first"), (1, "second"), (2, "third")]
    assert r.model == f"scripted:{p}"


async def test_node_matching(tmp_path: Path) -> None:
    p = script(
        tmp_path,
        """
        responses:
          - {node: plan, text: the plan}
          - {node: edit, text: the edit}
          - {text: anyone}
        """,
    )
    c = client_for(p)
    r_edit = await call(c, node="edit")
    assert (r_edit.script_index, r_edit.text) == (1, "the edit")
    r_plan = await call(c, node="plan", consumed=[1])
    assert (r_plan.script_index, r_plan.text) == (0, "the plan")
    r_test = await call(c, node="test", consumed=[0, 1])
    assert (r_test.script_index, r_test.text) == (2, "anyone")
    # A node-less entry is usable by a node; a node entry is not usable by others.
    r_other = await call(c, node="test")
    assert r_other.script_index == 2


async def test_consumed_entries_are_skipped(tmp_path: Path) -> None:
    p = script(tmp_path, "responses:\n  - text: a\n  - text: b\n  - text: c\n")
    r = await call(client_for(p), consumed=[0, 2])
    assert (r.script_index, r.text) == (1, "b")


async def test_exhausted_script_is_a_clear_error(tmp_path: Path) -> None:
    p = script(tmp_path, "responses:\n  - {node: plan, text: a}\n  - {node: edit, text: b}\n")
    other = script(tmp_path, "- text: from the fallback\n", name="fallback.yaml")
    c = client_for(p, fallbacks=[f"scripted:{other}"])
    with pytest.raises(ModelError) as ei:
        await call(c, node="edit", consumed=[1])
    err = ei.value
    assert err.kind == "script_exhausted"
    assert err.retryable is False
    msg = str(err)
    assert str(p) in msg and "'edit'" in msg
    assert "2 entries" in msg and "1 usable" in msg and "1 already used" in msg


async def test_injected_429_is_retried_for_real(tmp_path: Path) -> None:
    p = script(
        tmp_path,
        """
        responses:
          - error: 429
          - text: after the rate limit
        """,
    )
    r = await call(client_for(p))
    assert r.text == "after the rate limit"
    assert r.attempts == 2
    assert r.script_index == 1
    assert r.script_consumed == [0, 1]  # the error entry is used up too
    # Without retries the same script surfaces a rate-limit ModelError.
    with pytest.raises(ModelError) as ei:
        await call(client_for(p, max_retries=0))
    assert ei.value.kind == "rate_limit"
    assert ei.value.retryable is True


@pytest.mark.parametrize(
    ("error", "kind"),
    [("500", "server"), ("timeout", "timeout")],
)
async def test_injected_transient_errors(tmp_path: Path, error: str, kind: str) -> None:
    p = script(tmp_path, f"responses:\n  - error: {error}\n  - text: recovered\n")
    assert (await call(client_for(p))).text == "recovered"
    with pytest.raises(ModelError) as ei:
        await call(client_for(p, max_retries=0))
    assert ei.value.kind == kind


async def test_injected_malformed_tool_call(tmp_path: Path) -> None:
    p = script(
        tmp_path,
        """
        - error: malformed
          tool_calls: [{name: write_file, arguments: {path: a.py}}]
        """,
    )
    with pytest.raises(ModelError) as ei:
        await call(client_for(p))
    assert ei.value.kind == "truncated"
    assert "write_file" in str(ei.value)


async def test_streams_several_deltas_and_tool_calls(tmp_path: Path) -> None:
    p = script(
        tmp_path,
        """
        responses:
          - text: "I will write the fix now, then run the tests."
            tool_calls:
              - name: edit_file
                arguments: {path: src/app.py, old: "a + b", new: "a - b"}
              - name: run_command
                arguments: {command: pytest -q}
        """,
    )
    deltas: list[str] = []
    r = await call(client_for(p), on_delta=deltas.append)
    assert len(deltas) >= 3
    assert "".join(deltas) == r.text == "I will write the fix now, then run the tests."
    assert r.finish_reason == "tool_calls"
    assert [(t.name, t.arguments) for t in r.tool_calls] == [
        ("edit_file", {"path": "src/app.py", "old": "a + b", "new": "a - b"}),
        ("run_command", {"command": "pytest -q"}),
    ]
    assert len({t.id for t in r.tool_calls}) == 2


async def test_usage_and_cost_come_from_litellm(tmp_path: Path) -> None:
    p = script(
        tmp_path,
        """
        - text: explicit usage
          usage: {prompt_tokens: 1000, completion_tokens: 200, cached_tokens: 400}
        - text: counted usage
        """,
    )
    lm = get_litellm()
    c = client_for(p)
    r = await call(c)
    assert (r.tokens_in, r.tokens_out, r.tokens_cached) == (1000, 200, 400)
    p_cost, c_cost = lm.cost_per_token(
        model=SCRIPTED_LITELLM_MODEL,
        prompt_tokens=1000,
        completion_tokens=200,
        cache_read_input_tokens=400,
    )
    assert r.cost_usd == pytest.approx(p_cost + c_cost)
    expected = (
        600 * SCRIPTED_PRICE["input_cost_per_token"]
        + 400 * SCRIPTED_PRICE["cache_read_input_token_cost"]
        + 200 * SCRIPTED_PRICE["output_cost_per_token"]
    )
    assert r.cost_usd == pytest.approx(expected)
    assert r.cost_known is True

    r2 = await call(c, consumed=[0])
    assert r2.tokens_in == lm.token_counter(model=SCRIPTED_LITELLM_MODEL, messages=MESSAGES) > 0
    assert r2.tokens_out > 0
    assert r2.cost_usd > 0


async def test_latency_is_applied(tmp_path: Path) -> None:
    p = script(tmp_path, "- {text: slow, latency: 0.2}\n")
    r = await call(client_for(p))
    assert r.latency_s >= 0.2


async def test_litellm_direct_non_streaming_call(tmp_path: Path) -> None:
    """The provider also answers plain (non-streamed) litellm calls, sync and async."""
    p = script(
        tmp_path, "- text: plain answer\n  usage: {prompt_tokens: 5, completion_tokens: 2}\n"
    )
    lm = get_litellm()
    meta = {"scripted_path": str(p)}
    resp = await lm.acompletion(model=SCRIPTED_LITELLM_MODEL, messages=MESSAGES, metadata=meta)
    assert resp.choices[0].message.content == "plain answer"
    assert resp.usage.prompt_tokens == 5
    sync = lm.completion(model=SCRIPTED_LITELLM_MODEL, messages=MESSAGES, metadata=meta)
    assert sync.choices[0].message.content == "plain answer"
    assert lm.completion_cost(completion_response=sync) == pytest.approx(5e-6 + 4e-6)


def test_bare_list_and_validation_errors(tmp_path: Path) -> None:
    p = script(tmp_path, "- text: hi\n- tool_calls: [{name: finish, arguments: {summary: ok}}]\n")
    s = load_script(p)
    assert [e.text for e in s.entries] == ["hi", ""]
    assert s.entries[1].tool_calls == [{"name": "finish", "arguments": {"summary": "ok"}}]

    bad = script(tmp_path, "responses:\n  - text: ok\n  - txet: typo\n", name="bad.yaml")
    with pytest.raises(ModelConfigError, match=r"bad\.yaml: responses\[1\]: unknown key"):
        load_script(bad)
    err = script(tmp_path, "responses:\n  - error: 418\n", name="err.yaml")
    with pytest.raises(ModelConfigError, match="must be one of"):
        load_script(err)
    broken = script(tmp_path, "responses: [\n  - text: x\n", name="broken.yaml")
    with pytest.raises(ModelConfigError, match=r"broken\.yaml:\d+:\d+: invalid YAML"):
        load_script(broken)
    with pytest.raises(ModelConfigError, match="cannot read script"):
        load_script(tmp_path / "missing.yaml")


async def test_bad_script_file_is_config_error_not_retried(tmp_path: Path) -> None:
    p = script(tmp_path, "- nonsense: 1\n")
    with pytest.raises(ModelError) as ei:
        await call(client_for(p))
    assert ei.value.kind == "config"
    assert "unknown key" in str(ei.value)


async def test_write_script_round_trip(tmp_path: Path) -> None:
    recorded = ModelResponse(
        text="Plan:\n1. write test\n2. fix bug\n",
        tool_calls=[
            ToolCallRequest(
                id="call_abc",
                name="submit_plan",
                arguments={"tasks": [{"id": "t1", "title": "Test ünïcode"}]},
                raw_arguments="{}",
            )
        ],
        finish_reason="tool_calls",
        model="anthropic/claude",
        tokens_in=321,
        tokens_out=45,
        tokens_cached=12,
        cost_usd=0.01,
        latency_s=2.0,
    )
    items = [
        {**recorded.to_dict(), "node": "plan"},
        {"node": "edit", "text": "trailing space \nline", "tool_calls": []},
        {"text": "no node", "usage": {"prompt_tokens": 1, "completion_tokens": 2}},
    ]
    out = write_script(tmp_path / "exports" / "run.yaml", items)
    loaded = load_script(out).entries
    assert loaded == [entry_from_response(i) for i in items]
    assert loaded[0] == ScriptEntry(
        text="Plan:\n1. write test\n2. fix bug\n",
        tool_calls=[
            {
                "name": "submit_plan",
                "arguments": {"tasks": [{"id": "t1", "title": "Test ünïcode"}]},
                "id": "call_abc",
            }
        ],
        node="plan",
        usage={"prompt_tokens": 321, "completion_tokens": 45, "cached_tokens": 12},
    )
    assert "|" in out.read_text()  # multi-line text kept readable

    # Replaying the export reproduces the recording.
    c = client_for(out)
    r = await call(c, node="plan")
    assert r.text == recorded.text
    assert [(t.id, t.name, t.arguments) for t in r.tool_calls] == [
        ("call_abc", "submit_plan", {"tasks": [{"id": "t1", "title": "Test ünïcode"}]})
    ]
    assert (r.tokens_in, r.tokens_out, r.tokens_cached) == (321, 45, 12)
    r2 = await call(c, node="edit", consumed=[0])
    assert r2.text == "trailing space \nline"


def test_repeat_plays_a_nodes_entries_again_least_used_first(tmp_path):
    from engine.models.scripted import CallKey, load_script

    path = tmp_path / "s.yaml"
    path.write_text(
        "repeat: true\nresponses:\n  - {node: a, text: one}\n  - {node: a, text: two}\n"
        "  - {node: b, text: other}\n"
    )
    script = load_script(str(path))
    used: list[int] = []
    picks = []
    for _ in range(5):
        i = script.choose(CallKey("a"), used)
        used.append(i)
        picks.append(script.entries[i].text)
    assert picks == ["one", "two", "one", "two", "one"]
    assert script.entries[script.choose(CallKey("b"), used)].text == "other"
    # without repeat the same script is exhausted after two answers for node a
    path.write_text(path.read_text().replace("repeat: true", "repeat: false"))
    script = load_script(str(path))
    assert script.choose(CallKey("a"), [0, 1]) is None
