"""What the model saw: every prompt stored content-addressed, secrets scrubbed.

Each model call's messages (and the names of the tools offered) are stored as a
blob in the run store (identical prompts once); the journaled ``llm`` effect
names the blob (``request["prompt"]``). Tool results are already the ``tool``
effects' results. :func:`step_prompts` puts both back together for ``show RUN
--prompts`` and the TUI's prompt view.
"""

from __future__ import annotations

from typing import Any

from engine.tools.secrets import scrub_text, secret_values

#: Roles in the order they are shown.
ROLES = ("system", "user", "assistant", "tool")


def _scrub(value: Any, secrets: dict[str, str]) -> Any:
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    return value


def store_prompt(
    store: Any,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    extra_secret_names: tuple[str, ...] = (),
) -> str:
    """Store a call's prompt (scrubbed) and return its content address."""
    secrets = secret_values(extra=extra_secret_names)
    names = [str((t.get("function") or {}).get("name")) for t in tools or []]
    return str(store.put_blob({"messages": _scrub(messages, secrets), "tools": names}))


def _blob(store: Any, address: str | None) -> dict[str, Any]:
    from engine.errors import RecordNotFoundError

    if not address:
        return {}  # a call made before prompts were stored
    try:
        return dict(store.get_blob(address))
    except RecordNotFoundError:
        return {}


def step_prompts(store: Any, step_id: int) -> list[dict[str, Any]]:
    """Each model call of a step: ``{turn, model, messages, tools, answer, tool_calls}``
    plus the tool results that followed it, in journal order."""
    calls: list[dict[str, Any]] = []
    for effect in store.effects_for_step(step_id):
        request = effect.get("request") or {}
        result = effect.get("result") or {}
        if effect["kind"] == "llm":
            blob = _blob(store, request.get("prompt"))
            prompt = request.get("prompt")
            calls.append(
                {
                    "turn": request.get("turn"),
                    "model": request.get("model"),
                    "prompt": prompt,
                    "messages": blob.get("messages") or [],
                    "tools": blob.get("tools") or [],
                    "answer": result.get("text") or "",
                    "tool_calls": [
                        {"name": tc.get("name"), "arguments": tc.get("arguments")}
                        for tc in result.get("tool_calls") or []
                    ],
                    "finish_reason": result.get("finish_reason"),
                    "status": effect["status"],
                    "tool_results": [],
                }
            )
        elif effect["kind"] == "tool" and calls:
            calls[-1]["tool_results"].append(
                {
                    "name": request.get("name"),
                    "ok": result.get("ok"),
                    "content": str(result.get("content") or ""),
                }
            )
    return calls


def format_step_prompts(calls: list[dict[str, Any]]) -> str:
    """The text view of :func:`step_prompts` (``show --prompts``, the TUI prompt view)."""
    out: list[str] = []
    for i, call in enumerate(calls, 1):
        tools = f"; tools: {', '.join(call['tools'])}" if call["tools"] else ""
        out.append(f"── model call {i} ({call['model']}{tools}) prompt {str(call['prompt'])[:12]}")
        if not call["messages"]:
            out.append("   (prompt not stored: the call was made by an older version)")
        for msg in call["messages"]:
            content = msg.get("content")
            if msg.get("tool_calls"):
                names = ", ".join(
                    str((tc.get("function") or {}).get("name")) for tc in msg["tool_calls"]
                )
                content = f"{content or ''}\n[calls {names}]".strip()
            out.append(f"[{msg.get('role')}]")
            out.append(str(content or ""))
        out.append(f"[answer{' — ' + call['finish_reason'] if call['finish_reason'] else ''}]")
        out.append(call["answer"] or "")
        for tc in call["tool_calls"]:
            out.append(f"  → {tc['name']}({tc['arguments']})")
        for res in call["tool_results"]:
            mark = "ok" if res["ok"] else "error"
            out.append(f"  ← {res['name']} {mark}: {res['content']}")
        out.append("")
    return "\n".join(out)
