"""Runners for the model-driven node kinds: ``llm``, ``plan`` and ``agent``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from engine.errors import UsageError
from engine.events import CostUpdate, ModelWaiting, PlanUpdated, TokenDelta, ToolCalled
from engine.flow.spec import DEFAULT_TOOLS
from engine.git.blobs import blob_ids
from engine.nodes.base import NeedsHuman, StepContext, StepFailed
from engine.run import review_notes
from engine.run.budget import check_before_call
from engine.run.journal import digest
from engine.run.state import template_context
from engine.tools.mcp import is_mcp_tool

DEFAULT_SYSTEM = (
    "You are a careful senior software engineer working inside a git repository. "
    "Make small, correct changes. Use the tools to read files before editing them; "
    "edit_file needs an exact, unique snippet of the current text. "
    "Tests decide success, so run them when it helps. Call finish(summary) when done."
)
#: Default system prompt of ``llm`` nodes: they answer, they do not edit.
DEFAULT_ANSWER_SYSTEM = (
    "You are a careful senior software engineer reading a git repository. Answer exactly "
    "what is asked. When tools are offered, use them to read the code you need first."
)
#: Largest file read into a prompt (it is trimmed to the budget afterwards).
_FILE_READ_MAX = 2_000_000
#: Share of the prompt budget that file contents may take.
_FILES_SHARE = 0.6
#: Most tokens the repo map may take (a tenth of the window for small models).
_REPO_MAP_TOKENS = 2048
#: Tokens kept free for what the template adds around the files.
_SLACK_TOKENS = 256


async def _repo_map(ctx: StepContext, in_play: list[str], budget: Any) -> str:
    """The ranked repository outline for nodes that explore (plan, agent, llm with tools)."""
    import asyncio

    from engine.context.repomap import render_repo_map

    if ctx.node.kind not in ("plan", "agent") and not getattr(ctx.node, "tools", None):
        return ""
    goal = " ".join(str(x) for x in (ctx.state.get("goal"), (ctx.task or {}).get("title")) if x)
    return await asyncio.to_thread(
        render_repo_map,
        Path(ctx.workspace.root),
        in_play=in_play,
        goal=goal,
        max_tokens=min(_REPO_MAP_TOKENS, budget.input_limit // 10),
        count=budget.count_text,
    )


def _located_files(state: dict[str, Any]) -> list[str]:
    """Files earlier steps named as relevant (e.g. ``locate``'s ``files`` / ``file``)."""
    names: list[str] = []
    for out in (state.get("outputs") or {}).values():
        if not isinstance(out, dict):
            continue
        if isinstance(out.get("file"), str):
            names.append(out["file"])
        files = out.get("files")
        if isinstance(files, list):
            names += [f for f in files if isinstance(f, str)]
    return names


def relevant_files(ctx: StepContext) -> dict[str, str]:
    """Files worth showing the model, most important first: the task's files, failing
    tests' files, files earlier steps located, files the run touched. Whole texts:
    :func:`build_messages` trims them to the model's window, with markers."""
    names: list[str] = []
    if ctx.task:
        names += [str(f) for f in ctx.task.get("files") or []]
    for test_id in (ctx.state.get("tests") or {}).get("failing") or []:
        names.append(str(test_id).split("::", 1)[0])
    names += _located_files(ctx.state)
    names += ctx.state.get("touched", [])
    out: dict[str, str] = {}
    for name in dict.fromkeys(names):
        try:
            path = Path(ctx.workspace.resolve(name))
        except Exception:
            continue
        if not path.is_file() or path.stat().st_size > _FILE_READ_MAX:
            continue
        try:
            out[name] = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
    return out


async def build_messages(
    ctx: StepContext, tools: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Render the node's system and user prompts from run state, within the model's window.

    The system prompt gets the project's instructions (AGENTS.md & co); file
    contents get whatever room the rest of the prompt leaves, trimmed in place
    with ``[... N lines omitted — read_file PATH A-B]`` markers.
    """
    from engine.context.budget import budget_for
    from engine.context.instructions import project_instructions
    from engine.tools.secrets import scrub_text, secret_values

    budget = await budget_for(ctx.model_for(getattr(ctx.node, "model", None)))
    files = relevant_files(ctx)
    instructions = project_instructions(ctx.workspace.root, list(files))
    ctx.state["instructions"] = instructions.sources
    repo_map = await _repo_map(ctx, list(files), budget)

    def render(shown: dict[str, str]) -> list[dict[str, Any]]:
        context = template_context(
            {**ctx.state, "files": shown, "repo_map": repo_map}, ctx.task, ctx.node.id
        )
        default = DEFAULT_ANSWER_SYSTEM if ctx.node.kind == "llm" else DEFAULT_SYSTEM
        system = ctx.flow.render(ctx.node.system, context) if ctx.node.system else default
        if instructions.text:
            system += "\n\n" + instructions.text
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

    if files:
        bare = budget.count_messages(render({}), tools)
        room = min(budget.input_limit - bare, int(budget.input_limit * _FILES_SHARE))
        messages = render(budget.fit_files(files, room - _SLACK_TOKENS))
    else:
        messages = render({})
    # Files and instructions come from disk: a secret value in them (like in any
    # tool result) is masked before the model sees it.
    secrets = secret_values(extra=tuple(ctx.tool_context.secret_names or ()))
    for msg in messages:
        msg["content"] = scrub_text(msg["content"], secrets)
    return messages


async def call_model(
    ctx: StepContext,
    messages: list[dict[str, Any]],
    tools: list[dict] | None,
    options: dict[str, Any] | None = None,
) -> Any:
    """One journaled, budget-checked, streamed model call.

    ``options``: request fields for this call only (``max_tokens``,
    ``response_format``, ``tool_choice``), on top of the model's settings.
    """
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
    from engine.context.prompts import store_prompt

    request = {"model": model_name, "node": ctx.node.id, "turn": turn, "digest": digest(messages)}
    request["prompt"] = store_prompt(
        ctx.journal.store, messages, tools, tuple(ctx.tool_context.secret_names or ())
    )
    options = {**node_request_options(ctx.node, client), **(options or {})}
    if options:
        request["options"] = options

    async def do() -> dict[str, Any]:
        check_before_call(ctx.limits, ctx.usage, estimate, est_tokens)
        resp = await client.complete(
            messages,
            tools=tools,
            on_delta=lambda text: ctx.emit(
                TokenDelta(run_id=ctx.run_id, step_id=ctx.step_id, text=text)
            ),
            metadata={
                "node": ctx.node.id,
                "task": (ctx.task or {}).get("id"),
                "attempt": ctx.attempt,
            },
            **({"options": options} if options else {}),
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


def node_request_options(node: Any, client: Any) -> dict[str, Any]:
    """The flow node's own request fields (``request:`` in the flow)."""
    return dict(getattr(node, "request", None) or {})


def json_request_options(node: Any, client: Any, tools: list[dict] | None) -> dict[str, Any]:
    """Ask for JSON where litellm says the model can give it (``json: true`` nodes).

    Structured output with the node's schema when the model supports response
    schemas, plain JSON mode when it supports ``response_format``; nothing while
    tools are offered (a tool loop answers in tool calls first) or when the flow
    node sets its own ``response_format``.
    """
    from engine.models.client import litellm_model_name
    from engine.models.loader import get_litellm

    if (
        not getattr(node, "json", False)
        or tools
        or "response_format" in (getattr(node, "request", None) or {})
    ):
        return {}
    settings = client.settings
    if "response_format" in (getattr(settings, "request", None) or {}):
        return {}
    lm = get_litellm()
    name = litellm_model_name(settings.model, getattr(settings, "api_base", None))
    try:
        params = lm.get_supported_openai_params(model=name) or []
        schema_ok = bool(lm.supports_response_schema(model=name))
    except Exception:  # noqa: BLE001 - unknown model: ask for nothing special
        return {}
    schema = getattr(node, "schema", None)
    if schema and schema_ok:
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": node.id, "schema": schema},
            }
        }
    if "response_format" in params:
        return {"response_format": {"type": "json_object"}}
    return {}


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
            # kept in git: a clash after a crash shows the step's version (engine/git/blobs.py)
            "after": blob_ids(ctx.workspace.root, list(r.files_changed), keep_for=ctx.run_id),
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


NO_TOOL_NUDGE = (
    "You answered without calling a tool. In this step every answer must call a tool: "
    "call a tool, or finish with a summary (call {stop_on})."
)


async def _call_fitting(
    ctx: StepContext,
    messages: list[dict[str, Any]],
    tools: list[dict] | None,
    budget: Any,
    options: dict[str, Any] | None = None,
) -> Any:
    """A model call that fits the window and never takes a truncated answer.

    Old tool output is compacted near the window. A provider's context-window
    error compacts once more and retries; a second one pauses the run. An answer
    cut by the output cap (``finish_reason == "length"``, or tool-call arguments
    that do not parse) is retried once with twice the cap (as far as the window allows); a second one fails
    the step, showing the truncated text.
    """
    from engine.errors import ModelError

    budget.compact(messages, tools)
    options = dict(options or {})
    truncated: str | None = None
    context_retried = False
    while True:
        try:
            resp = await call_model(ctx, messages, tools, options)
        except ModelError as e:
            if e.kind == "context_window" and not context_retried:
                context_retried = True
                if budget.compact(messages, tools, force=True):
                    continue
            if e.kind == "context_window":
                _context_pause(ctx, e)
            if e.kind != "truncated":
                raise
            shown = str(e)
        else:
            if resp.finish_reason != "length":
                return resp
            shown = resp.text or "".join(tc.raw_arguments for tc in resp.tool_calls)
        if truncated is not None:
            raise StepFailed(
                "the model's answer was cut off by the output limit twice "
                f"(max_output_tokens); the truncated answer: {shown[:600]!r}"
            )
        truncated = shown
        cap = int(options.get("max_tokens") or budget.reserve)
        options["max_tokens"] = budget.retry_cap(cap, messages, tools)


def _context_pause(ctx: StepContext, e: Exception) -> None:
    from engine.records import GateKind

    raise NeedsHuman(
        GateKind.CONTEXT,
        f"The prompt of step '{ctx.node.id}' does not fit the model's context window, even "
        f"with old tool output compacted ({e}). Choose a model with a larger window "
        "(resume --model, or context_window in [model]) and approve to try again, or stop.",
        {},
    )


async def _tool_loop(ctx: StepContext, tool_names: list[str], stop_on: str) -> dict[str, Any]:
    from engine.context.budget import budget_for
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
    budget = await budget_for(ctx.model_for(getattr(ctx.node, "model", None)))
    messages = await build_messages(ctx, tools)
    max_turns = int(getattr(ctx.node, "max_turns", None) or 30)
    nudged = False
    for _turn in range(max_turns):
        resp = await _call_fitting(ctx, messages, tools, budget)
        messages.append(_assistant_message(resp))
        if not resp.tool_calls:
            if nudged:
                shown = (resp.text or "").strip()[:500] or "(an empty answer)"
                raise StepFailed(
                    f"the model answered without calling a tool twice (it must call "
                    f"{stop_on} to end this step); its answer: {shown}"
                )
            nudged = True
            messages.append({"role": "user", "content": NO_TOOL_NUDGE.format(stop_on=stop_on)})
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
    return {"summary": str(out["call"].get("summary", "")), "files": sorted(ctx.files_touched)}


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
#: How many times a ``json: true`` node is told what was wrong with its answer.
JSON_RETRIES_SETTING = "json_retries"
DEFAULT_JSON_RETRIES = 2


def parse_json_answer(text: str, schema: dict[str, Any] | None) -> tuple[Any, str | None]:
    """(value, None) for a valid answer, else (None, what is wrong) in one line."""
    import jsonschema

    m = _FENCE.match(text.strip())
    try:
        value = json.loads(m.group(1) if m else text)
    except json.JSONDecodeError as e:
        return None, f"it is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
    if schema is not None:
        error = jsonschema.exceptions.best_match(
            jsonschema.validators.validator_for(schema)(schema).iter_errors(value)
        )
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the answer"
            return None, f"it does not match the schema at {where}: {error.message}"
    return value, None


async def run_llm_node(ctx: StepContext) -> Any:
    from engine.context.budget import budget_for
    from engine.tools import tool_schemas

    node = ctx.node
    budget = await budget_for(ctx.model_for(getattr(node, "model", None)))
    names = list(getattr(node, "tools", None) or [])
    tools = tool_schemas(names) if names else None
    messages = await build_messages(ctx, tools)
    options = json_request_options(node, ctx.model_for(getattr(node, "model", None)), tools)
    retries = int(ctx.state.get("settings", {}).get(JSON_RETRIES_SETTING, DEFAULT_JSON_RETRIES))
    max_turns = int(getattr(node, "max_turns", None) or 30)
    for _turn in range(max_turns):
        resp = await _call_fitting(ctx, messages, tools, budget, options)
        messages.append(_assistant_message(resp))
        if resp.tool_calls:
            for call in resp.tool_calls:
                content = (
                    (await run_tool(ctx, call))["content"]
                    if call.name in names
                    else f"error: tool {call.name!r} is not available in this step"
                )
                messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
            continue
        text = resp.text or ""
        if not getattr(node, "json", False):
            return text
        value, problem = parse_json_answer(text, getattr(node, "schema", None))
        if problem is None:
            return value
        if retries <= 0:
            raise StepFailed(f"the model's answer is not usable: {problem}. Answer: {text[:600]!r}")
        retries -= 1
        messages.append(
            {
                "role": "user",
                "content": f"Your answer is not usable: {problem}. Answer again with only "
                "the JSON object, filled in with what you found (not the field descriptions).",
            }
        )
    raise StepFailed(f"the model did not answer within {max_turns} turns")
