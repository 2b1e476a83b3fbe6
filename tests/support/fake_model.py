"""A fake model behind the same interface as engine.models.ModelClient.

Responses are scripted per node as callables or dicts, so engine tests can
exercise every construct without litellm or a network. It records every
request (messages included) so tests can assert what the model saw.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeSettings:
    model: str = "fake/model"
    context_window: int | None = None
    max_output_tokens: int | None = None


@dataclass
class FakeModel:
    """``script``: node id -> list of responses (dict with text/tool_calls) consumed in order."""

    script: dict[str, list[dict[str, Any]]]
    settings: FakeSettings = field(default_factory=FakeSettings)
    calls: list[dict[str, Any]] = field(default_factory=list)
    cost_per_call: float = 0.001
    fail_with: dict[str, list[Exception]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)

    def estimate_cost(self, messages, tools, max_output_tokens) -> float:
        return self.cost_per_call

    async def complete(self, messages, *, tools=None, on_delta=None, metadata=None, options=None):
        from engine.models import ModelResponse, ToolCallRequest

        node = (metadata or {}).get("node")
        self.calls.append({"node": node, "messages": messages, "tools": tools, "options": options})
        errors = self.fail_with.get(node) or []
        if errors:
            raise errors.pop(0)
        queue = self.script.get(node)
        if not queue:
            raise AssertionError(f"fake model: no scripted response left for node {node!r}")
        entry = queue.pop(0)
        if callable(entry):
            entry = entry(messages)
        text = entry.get("text", "")
        if on_delta and text:
            for part in (text[: len(text) // 2], text[len(text) // 2 :]):
                if part:
                    on_delta(part)
        calls = [
            ToolCallRequest(
                id=f"call_{next(self._ids)}",
                name=tc["name"],
                arguments=tc.get("arguments", {}),
                raw_arguments="",
            )
            for tc in entry.get("tool_calls", [])
        ]
        return ModelResponse(
            text=text,
            tool_calls=calls,
            finish_reason="tool_calls" if calls else "stop",
            model=self.settings.model,
            tokens_in=100,
            tokens_out=20,
            tokens_cached=0,
            cost_usd=self.cost_per_call,
            latency_s=0.0,
        )


def tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def say(*tool_calls: dict[str, Any], text: str = "") -> dict[str, Any]:
    return {"text": text, "tool_calls": list(tool_calls)}
