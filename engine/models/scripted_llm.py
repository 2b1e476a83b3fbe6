"""The litellm side of the scripted model: a ``CustomLLM`` for provider ``scripted``.

Imported only by :func:`engine.models.loader.get_litellm` (it imports litellm
at module import). Calls arrive as ``litellm.acompletion(model="scripted/script",
metadata={"scripted_path": ..., "node": ..., "scripted_consumed": [...],
"scripted_call": CallRecord})``; responses stream through litellm's
``CustomStreamWrapper`` so usage, cost and deltas take the real code path.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import litellm
from litellm import CustomLLM
from litellm.types.utils import GenericStreamingChunk

from engine.errors import ModelConfigError
from engine.models import scripted as fmt

_REQUEST = httpx.Request("POST", "http://scripted.invalid/v1/chat/completions")


def _split_text(text: str, parts: int = 4) -> list[str]:
    """Split into up to ``parts`` pieces at spaces (so on_delta sees several deltas)."""
    if not text:
        return []
    words = text.split(" ")
    if len(words) < 2:
        step = max(1, -(-len(text) // parts))
        return [text[i : i + step] for i in range(0, len(text), step)]
    per = max(1, -(-len(words) // parts))
    out = []
    for i in range(0, len(words), per):
        piece = " ".join(words[i : i + per])
        out.append(piece if i + per >= len(words) else piece + " ")
    return out


class _Plan:
    """What one call will do: the chosen entry, its tool calls and usage."""

    def __init__(self, messages: list, litellm_params: dict | None, model: str) -> None:
        meta = dict((litellm_params or {}).get("metadata") or {})
        call = meta.get("scripted_call")
        self.call: fmt.CallRecord = call if isinstance(call, fmt.CallRecord) else fmt.CallRecord()
        path = meta.get("scripted_path")
        if not path:
            raise litellm.BadRequestError(
                "scripted provider: metadata['scripted_path'] is missing",
                model=model,
                llm_provider=fmt.SCRIPTED_PROVIDER,
            )
        try:
            script = fmt.load_script(path)
        except ModelConfigError as e:
            self.call.note_failure("config", str(e))
            raise litellm.BadRequestError(str(e), model=model, llm_provider="scripted") from None
        key = fmt.CallKey.from_metadata(meta)
        consumed = [int(i) for i in meta.get("scripted_consumed") or []]
        index = script.choose(key, consumed)
        if index is None:
            msg = script.exhausted_message(key, consumed)
            self.call.note_failure("script_exhausted", msg)
            raise litellm.BadRequestError(msg, model=model, llm_provider="scripted")
        self.call.note_consumed(index)
        self.index = index
        self.model = model
        self.entry = entry = script.entries[index]
        self.text = entry.text
        self.tool_calls: list[dict[str, Any]] = []
        for j, tc in enumerate(entry.tool_calls):
            self.tool_calls.append(
                {
                    "id": tc.get("id") or f"call_s{index}_{j}",
                    "name": tc["name"],
                    "arguments": json.dumps(tc["arguments"]),
                }
            )
        if entry.error == "malformed":
            # Broken JSON in tool-call arguments: the client's parser must catch it.
            name = self.tool_calls[0]["name"] if self.tool_calls else "malformed"
            self.tool_calls = [{"id": f"call_s{index}_bad", "name": name, "arguments": '{"x": '}]
        usage = dict(entry.usage or {})
        if "prompt_tokens" not in usage:
            usage["prompt_tokens"] = litellm.token_counter(
                model=fmt.SCRIPTED_LITELLM_MODEL, messages=messages
            )
        if "completion_tokens" not in usage:
            out = self.text + "".join(tc["name"] + tc["arguments"] for tc in self.tool_calls)
            usage["completion_tokens"] = (
                litellm.token_counter(model=fmt.SCRIPTED_LITELLM_MODEL, text=out) if out else 0
            )
        self.prompt_tokens = int(usage["prompt_tokens"])
        self.completion_tokens = int(usage["completion_tokens"])
        self.cached_tokens = int(usage.get("cached_tokens") or 0)
        self.finish_reason = "tool_calls" if self.tool_calls else "stop"

    def raise_injected(self) -> None:
        """Raise the litellm exception a real provider would for this entry's error."""
        err = self.entry.error
        where = f"injected by script entry {self.index}"
        if err == "429":
            resp = httpx.Response(429, headers={"retry-after": "0"}, request=_REQUEST)
            raise litellm.RateLimitError(
                f"scripted rate limit ({where})",
                llm_provider="scripted",
                model=self.model,
                response=resp,
            )
        if err == "500":
            resp = httpx.Response(500, request=_REQUEST)
            raise litellm.InternalServerError(
                f"scripted server error ({where})",
                llm_provider="scripted",
                model=self.model,
                response=resp,
            )
        if err == "timeout":
            raise litellm.Timeout(
                f"scripted timeout ({where})", model=self.model, llm_provider="scripted"
            )

    def usage_block(self) -> dict[str, Any]:
        block: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }
        if self.cached_tokens:
            block["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return block

    def chunks(self) -> Iterator[GenericStreamingChunk]:
        for piece in _split_text(self.text):
            yield GenericStreamingChunk(
                text=piece,
                tool_use=None,
                is_finished=False,
                finish_reason="",
                usage=None,
                index=0,
            )
        for j, tc in enumerate(self.tool_calls):
            # Arguments in two pieces, like a real provider streams them.
            args = tc["arguments"]
            half = len(args) // 2
            for k, part in enumerate((args[:half], args[half:])):
                yield GenericStreamingChunk(
                    text="",
                    tool_use={
                        "id": tc["id"] if k == 0 else None,
                        "type": "function",
                        "function": {"name": tc["name"] if k == 0 else None, "arguments": part},
                        "index": j,
                    },
                    is_finished=False,
                    finish_reason="",
                    usage=None,
                    index=0,
                )
        yield GenericStreamingChunk(
            text="",
            tool_use=None,
            is_finished=True,
            finish_reason=self.finish_reason,
            usage=self.usage_block(),  # type: ignore[typeddict-item]
            index=0,
        )

    def fill(self, model_response: Any) -> Any:
        """Fill a non-streaming litellm ModelResponse."""
        from litellm.types.utils import ChatCompletionMessageToolCall, Function, Usage

        choice = model_response.choices[0]
        choice.message.content = self.text or None
        if self.tool_calls:
            choice.message.tool_calls = [
                ChatCompletionMessageToolCall(
                    id=tc["id"],
                    type="function",
                    function=Function(name=tc["name"], arguments=tc["arguments"]),
                )
                for tc in self.tool_calls
            ]
        choice.finish_reason = self.finish_reason
        model_response.model = self.model
        model_response.usage = Usage(**self.usage_block())
        return model_response


class ScriptedLLM(CustomLLM):
    """litellm custom provider ``scripted``: replays a YAML script (see docs/scripted.md)."""

    def completion(
        self, model, messages, api_base, custom_prompt_dict, model_response, *args, **kw
    ):  # type: ignore[override]
        plan = _Plan(messages, kw.get("litellm_params"), model)
        if plan.entry.latency:
            time.sleep(plan.entry.latency)
        plan.raise_injected()
        return plan.fill(model_response)

    def streaming(self, model, messages, api_base, custom_prompt_dict, model_response, *args, **kw):  # type: ignore[override]
        plan = _Plan(messages, kw.get("litellm_params"), model)
        if plan.entry.latency:
            time.sleep(plan.entry.latency)
        plan.raise_injected()
        yield from plan.chunks()

    async def acompletion(
        self, model, messages, api_base, custom_prompt_dict, model_response, *args, **kw
    ):  # type: ignore[override]
        plan = _Plan(messages, kw.get("litellm_params"), model)
        if plan.entry.latency:
            await asyncio.sleep(plan.entry.latency)
        plan.raise_injected()
        return plan.fill(model_response)

    async def astreaming(  # type: ignore[override]
        self, model, messages, api_base, custom_prompt_dict, model_response, *args, **kw
    ) -> AsyncIterator[GenericStreamingChunk]:
        plan = _Plan(messages, kw.get("litellm_params"), model)
        if plan.entry.latency:
            await asyncio.sleep(plan.entry.latency)
        plan.raise_injected()
        for chunk in plan.chunks():
            yield chunk


def register_scripted_provider(lm: Any) -> None:
    """Register provider ``scripted`` and its documented price with litellm (idempotent)."""
    if not any(p.get("provider") == fmt.SCRIPTED_PROVIDER for p in lm.custom_provider_map):
        lm.custom_provider_map.append(
            {"provider": fmt.SCRIPTED_PROVIDER, "custom_handler": ScriptedLLM()}
        )
    lm.utils.custom_llm_setup()
    lm.register_model(
        {
            fmt.SCRIPTED_LITELLM_MODEL: {
                **fmt.SCRIPTED_PRICE,
                "litellm_provider": fmt.SCRIPTED_PROVIDER,
                "mode": "chat",
                "max_tokens": 1_000_000,
                "max_input_tokens": 1_000_000,
                "max_output_tokens": 100_000,
            }
        }
    )
