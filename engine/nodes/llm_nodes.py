"""Runners for the model-driven node kinds: ``llm``, ``plan`` and ``agent``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from engine.errors import UsageError
from engine.events import CostUpdate, ModelWaiting, PlanUpdated, TokenDelta, ToolCalled
from engine.flow.spec import DEFAULT_TOOLS
from engine.nodes.base import NeedsHuman, StepContext, StepFailed
from engine.run import review_notes
from engine.run.budget import check_before_call
from engine.run.journal import digest, file_digests
from engine.run.state import template_context
from engine.tools.mcp import is_mcp_tool

DEFAULT_SYSTEM = (
    "You are a careful senior software engineer working inside a git repository. "
    "Make small, correct changes. Use the tools to read files before editing them; "
    "edit_file needs an exact, unique snippet of the current text. "
    "Tests decide success, so run them when it helps. Call finish(summary) when done."
)
_FILE_CAP = 20_000
_FILES_TOTAL_CAP = 100_000


def relevant_files(ctx: StepContext) -> dict[str, str]:
    """Files worth showing the model: the task's files, failing tests' files, files touched."""
    names: list[str] = []
    if ctx.task:
        names += [str(f) for f in ctx.task.get("files") or []]
    for test_id in (ctx.state.get("tests") or {}).get("failing") or []:
        names.append(str(test_id).split("::", 1)[0])
    names += ctx.state.get("touched", [])
    out: dict[str, str] = {}
    total = 0
    for name in dict.fromkeys(names):
        try:
            path = ctx.workspace.resolve(name)
        except Exception:
            continue
        if not Path(path).is_file():
            continue
        try:
            text = Path(path).read_text(encoding="utf-8")[:_FILE_CAP]
        except (UnicodeDecodeError, OSError):
            continue
        if total + len(text) > _FILES_TOTAL_CAP:
            break
        out[name] = text
        total += len(text)
    return out


def build_messages(ctx: StepContext) -> list[dict[str, Any]]:
    """Render the node's system and user prompts from run state."""
    state = dict(ctx.state)
    state["files"] = relevant_files(ctx)
    context = template_context(state, ctx.task, ctx.node.id)
    system = ctx.flow.render(ctx.node.system, context) if ctx.node.system else DEFAULT_SYSTEM
    user = ctx.flow.render(ctx.node.prompt, context) if ctx.node.prompt else ctx.state["goal"]
    # Human decisions must reach the model even if a custom template forgets them.
    feedback = ctx.state.get("feedback") or []
    if feedback and feedback[-1] not in user:
        user += "\n\nThe reviewer rejected the previous attempt. Reason: " + feedback[-1]
    notes = review_notes.prompt_section(ctx.state)  # line comments, rejected hunks
    if notes and notes not in user:
        user += "\n\n" + notes
    instruction = ctx.state.get("instruction") or ""
    if instruction and instruction not in user:
        user += "\n\nAdditional instruction from the user: " + instruction
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


async def call_model(
    ctx: StepContext, messages: list[dict[str, Any]], tools: list[dict] | None
) -> Any:
    """One journaled, budget-checked, streamed model call."""
    from engine.models import ModelResponse

    client = ctx.model_for(getattr(ctx.node, "model", None))
    model_name = client.settings.model
    from engine.models.loader import litellm_loaded

    warming = "" if litellm_loaded() else "warming up (loading litellm, first call only) · "
    ctx.emit(
        ModelWaiting(
            run_id=ctx.run_id,
            step_id=ctx.step_id,
            model=model_name,
            reason=f"{warming}waiting for {model_name}…",
        )
    )
    try:
        estimate = float(client.estimate_cost(messages, tools, 1024) or 0.0)
    except Exception:
        estimate = 0.0
    est_tokens = sum(len(str(m.get("content") or "")) for m in messages) // 4 + 1024
    turn = ctx.journal.n
    request = {"model": model_name, "node": ctx.node.id, "turn": turn, "digest": digest(messages)}

    async def do() -> dict[str, Any]:
        check_before_call(ctx.limits, ctx.usage, estimate, est_tokens)
        resp = await client.complete(
            messages,
            tools=tools,
            on_delta=lambda text: ctx.emit(
                TokenDelta(run_id=ctx.run_id, step_id=ctx.step_id, text=text)
            ),
            metadata={"node": ctx.node.id, "scripted_consumed": list(ctx.script_consumed)},
        )
        return resp.to_dict()

    def paid(result: dict[str, Any]) -> None:
        # Written in the transaction that marks the call done: the cost is never lost.
        r = ModelResponse.from_dict(result)
        ctx.record_llm_call(
            {
                "model": r.model or model_name,
                "tokens_in": r.tokens_in,
                "tokens_out": r.tokens_out,
                "tokens_cached": r.tokens_cached,
                "cost_usd": r.cost_usd,
                "latency_s": r.latency_s,
            }
        )

    executed_before = ctx.journal.executed
    # A model call changes nothing on disk: after a crash in the middle of one it
    # is simply asked again.
    result = await ctx.journal.effect("llm", request, do, idempotent=True, on_done=paid)
    resp = ModelResponse.from_dict(result)
    if ctx.journal.executed > executed_before:
        # Injected-error entries are consumed too, not only the answering one.
        used = list(resp.script_consumed or [])
        if not used and resp.script_index is not None:
            used = [resp.script_index]
        ctx.script_consumed.extend(used)
        ctx.usage.cost_usd += resp.cost_usd
        ctx.usage.tokens_in += resp.tokens_in
        ctx.usage.tokens_out += resp.tokens_out
        ctx.usage.tokens_cached += resp.tokens_cached
        ctx.emit(
            CostUpdate(
                run_id=ctx.run_id,
                step_id=ctx.step_id,
                model=resp.model or model_name,
                tokens_in=resp.tokens_in,
                tokens_out=resp.tokens_out,
                tokens_cached=resp.tokens_cached,
                cost_usd=resp.cost_usd,
                run_cost_usd=ctx.usage.cost_usd,
                run_tokens_in=ctx.usage.tokens_in,
                run_tokens_out=ctx.usage.tokens_out,
                budget_usd=ctx.limits.max_cost_usd,
                text=(resp.text or "")[:4000],
            )
        )
    return resp


def _assistant_message(resp: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": resp.text or None}
    if resp.tool_calls:
        msg["tool_calls"] = [
            {
                "id": tc.id,
                "type": "function",
                "function": {
                    "name": tc.name,
                    "arguments": tc.raw_arguments or json.dumps(tc.arguments),
                },
            }
            for tc in resp.tool_calls
        ]
    return msg


def _gate_unrestorable(ctx: StepContext, name: str, path: str) -> None:
    """A write no checkpoint can undo waits for a person (a `command` gate naming why)."""
    from engine.errors import PathConfinementError
    from engine.git import snapshots
    from engine.tools.files import unrestorable_change

    try:
        why = unrestorable_change(ctx.workspace, path, snapshots.DEFAULT_MAX_FILE_BYTES)
    except (PathConfinementError, OSError):
        return  # the tool itself reports the bad path
    if why is None:
        return
    key = f"{name} {path}  # checkpoints cannot restore it"  # stable across its size
    if key in ctx.approved_commands:
        return
    raise NeedsHuman(
        "command",
        f"The model wants to modify {path}, which checkpoints do not capture ({why}): "
        "a rewind cannot bring its current content back.",
        {"command": key},
    )


async def run_tool(ctx: StepContext, call: Any) -> dict[str, Any]:
    """Execute one tool call through the journal (policy checked before journaling)."""
    from engine.tools import call_tool
    from engine.tools.dispatch import needs_approval

    name, args = call.name, call.arguments if isinstance(call.arguments, dict) else {}
    # An MCP call is checked like a command whose text is the tool's name.
    mcp_call = is_mcp_tool(name) and ctx.mcp is not None
    if name == "run_command" or mcp_call:
        command = name if mcp_call else str(args.get("command", ""))
        verdict = ctx.tool_context.policy.classify(command, ctx.workspace.root)
        refused = ctx.refused_commands.get(command)
        if refused is not None:
            refusal: dict[str, Any] = {
                "ok": False,
                "content": f"The user refused to run this command: {refused}",
            }
            return await ctx.journal.effect(
                "tool", {"name": name, "arguments": args}, _const(refusal)
            )
        if (
            needs_approval(verdict, ctx.tool_context.autonomy)
            and command not in ctx.approved_commands
        ):
            what = (
                f"call the MCP tool {command} with {json.dumps(args, ensure_ascii=False)[:300]}"
                if mcp_call
                else f"run a command outside the allowlist:\n  {command}"
            )
            raise NeedsHuman("command", f"The model wants to {what}", {"command": command})
        if command in ctx.approved_commands:
            ctx.tool_context.approved_commands = set(ctx.approved_commands)
    elif name in ("write_file", "edit_file") and isinstance(args.get("path"), str):
        _gate_unrestorable(ctx, name, args["path"])

    async def do() -> dict[str, Any]:
        if mcp_call and ctx.mcp is not None:
            if ctx.tool_context.policy.classify(name, ctx.workspace.root) == "deny":
                return {"ok": False, "content": f"{name} is denied by the command policy"}
            return await ctx.mcp().call(name, args)
        r = await call_tool(ctx.workspace, name, args, ctx.tool_context)
        return {
            "ok": r.ok,
            "content": r.content,
            "files_changed": list(r.files_changed),
            "data": r.data,
            "after": file_digests(ctx.workspace.root, list(r.files_changed)),
        }

    res = await ctx.journal.effect("tool", {"name": name, "arguments": args}, do)
    ctx.files_touched.update(res.get("files_changed") or [])
    ctx.emit(
        ToolCalled(
            run_id=ctx.run_id,
            step_id=ctx.step_id,
            name=name,
            arguments=_short_args(args),
            ok=bool(res.get("ok")),
            summary=str(res.get("content", ""))[:2000],
        )
    )
    return res


def _const(value: dict[str, Any]):
    async def run() -> dict[str, Any]:
        return value

    return run


def _short_args(args: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v[:200] + "…" if isinstance(v, str) and len(v) > 200 else v) for k, v in args.items()
    }


async def _tool_loop(ctx: StepContext, tool_names: list[str], stop_on: str) -> dict[str, Any]:
    from engine.tools import tool_schemas

    builtin = [n for n in tool_names if not is_mcp_tool(n)]
    tools = tool_schemas(builtin)
    mcp_names = [n for n in tool_names if is_mcp_tool(n)]
    if mcp_names:
        if ctx.mcp is None:
            raise StepFailed("this node lists MCP tools but no MCP servers are available")
        try:
            tools += await ctx.mcp().schemas(mcp_names)
        except UsageError as e:
            raise StepFailed(str(e)) from None
        tool_names = builtin + [t["function"]["name"] for t in tools[len(builtin) :]]
    messages = build_messages(ctx)
    max_turns = int(getattr(ctx.node, "max_turns", None) or 30)
    for _turn in range(max_turns):
        resp = await call_model(ctx, messages, tools)
        messages.append(_assistant_message(resp))
        if not resp.tool_calls:
            if stop_on == "finish":
                return {"summary": resp.text or ""}
            messages.append({"role": "user", "content": f"Please call {stop_on} with your answer."})
            continue
        for call in resp.tool_calls:
            if call.name == stop_on:
                return {"call": call.arguments, "text": resp.text or ""}
            if call.name not in tool_names:
                content = f"error: tool {call.name!r} is not available in this step"
            else:
                content = (await run_tool(ctx, call))["content"]
            messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    raise StepFailed(f"the model did not call {stop_on} within {max_turns} turns")


async def run_agent_node(ctx: StepContext) -> Any:
    names = list(getattr(ctx.node, "tools", None) or DEFAULT_TOOLS["agent"])
    if "finish" not in names:
        names.append("finish")
    out = await _tool_loop(ctx, names, "finish")
    if "call" in out:
        return {"summary": str(out["call"].get("summary", "")), "files": sorted(ctx.files_touched)}
    return {"summary": out["summary"], "files": sorted(ctx.files_touched)}


def normalize_tasks(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise StepFailed("submit_plan needs a non-empty list of tasks")
    tasks = []
    for i, t in enumerate(raw, 1):
        if isinstance(t, str):
            t = {"title": t}
        if not isinstance(t, dict) or not str(t.get("title", "")).strip():
            raise StepFailed(f"plan task {i} has no title")
        tasks.append(
            {
                "id": f"t{i}",
                "title": str(t["title"]).strip(),
                "description": str(t.get("description") or ""),
                "files": [str(f) for f in t.get("files") or []],
                "status": "pending",
            }
        )
    return tasks


async def run_plan_node(ctx: StepContext) -> Any:
    names = list(getattr(ctx.node, "tools", None) or DEFAULT_TOOLS["plan"])
    if "submit_plan" not in names:
        names.append("submit_plan")
    out = await _tool_loop(ctx, names, "submit_plan")
    tasks = normalize_tasks(out["call"].get("tasks"))
    ctx.state["plan"] = {"tasks": tasks}
    ctx.emit(PlanUpdated(run_id=ctx.run_id, step_id=ctx.step_id, tasks=tasks))
    return {"tasks": tasks}


_FENCE = re.compile(r"^```[a-zA-Z]*\n(.*)\n```\s*$", re.S)


async def run_llm_node(ctx: StepContext) -> Any:
    resp = await call_model(ctx, build_messages(ctx), None)
    text = resp.text or ""
    if getattr(ctx.node, "json", False):
        m = _FENCE.match(text.strip())
        try:
            return json.loads(m.group(1) if m else text)
        except json.JSONDecodeError as e:
            raise StepFailed(
                f"the model's answer is not valid JSON ({e}): {text[:200]!r}"
            ) from None
    return text
