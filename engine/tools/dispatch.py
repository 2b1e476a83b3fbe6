"""``call_tool``: the one entry point the executor uses to run an agent's tool call.

Model mistakes (unknown tool, bad or missing arguments, refused paths, failed
edits, denied commands) never raise: they come back as ``ToolResult(ok=False)``
with a message the model can act on. Only bugs raise.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.errors import PathConfinementError, ToolError
from engine.tools import files
from engine.tools.base import ToolResult
from engine.tools.commands import DEFAULT_OUTPUT_CAP, DEFAULT_TIMEOUT_S, run_command, scrubbed_env
from engine.tools.policy import CommandPolicy
from engine.tools.sandbox import sandbox_status
from engine.tools.schemas import TOOL_NAMES, tool_parameters
from engine.tools.secrets import scrub_text, secret_values
from engine.tools.workspace import Workspace

MAX_PLAN_TASKS = 100


@dataclass
class ToolContext:
    """Everything a tool call needs besides its arguments.

    ``autonomy``: ``review`` | ``auto-edit`` | ``full``. Commands the policy
    classifies ``ask`` only run when autonomy is ``full`` or the exact command
    string is in ``approved_commands`` (the executor adds it after a human
    approves the ``command`` gate). Without a sandbox, ``full`` asks too (see
    :func:`needs_approval`). ``env`` None means :func:`scrubbed_env`.
    ``tools`` limits which tools this node offered (None: all).
    ``secret_names``: more secret variables (the configured ``api_key_env``): never
    passed to commands, their values masked in every tool result.
    """

    policy: CommandPolicy = field(default_factory=CommandPolicy)
    command_timeout_s: float = DEFAULT_TIMEOUT_S
    output_cap: int = DEFAULT_OUTPUT_CAP
    env: dict[str, str] | None = None
    on_output: Callable[[str], Any] | None = None
    autonomy: str = "review"
    approved_commands: set[str] = field(default_factory=set)
    tools: list[str] | None = None
    read_cap: int = files.READ_CAP_BYTES
    search_cap: int = files.SEARCH_CAP
    list_cap: int = files.LIST_CAP
    secret_names: tuple[str, ...] = ()


def needs_approval(verdict: str, autonomy: str) -> bool:
    """Whether a command with this policy verdict waits for a person.

    ``ask`` commands run unasked only in ``full`` autonomy, and only inside the
    sandbox: unsandboxed, anything off the allowlist needs approval.
    """
    return verdict == "ask" and (autonomy != "full" or not sandbox_status().available)


_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "array": list,
    "object": dict,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}


def _fail(content: str, **data: Any) -> ToolResult:
    return ToolResult(False, content, data=dict(data))


def _validate(name: str, args: dict[str, Any]) -> str | None:
    """A message when args do not fit the tool's schema (top level only), else None."""
    schema = tool_parameters(name)
    props: dict[str, Any] = schema.get("properties", {})
    expected = ", ".join(
        f"{k} ({v['type']}{', required' if k in schema.get('required', []) else ''})"
        for k, v in props.items()
    )
    missing = [k for k in schema.get("required", []) if args.get(k) is None]
    if missing:
        return (
            f"{name}: missing required argument(s) {', '.join(missing)}. "
            f"Expected arguments: {expected}."
        )
    for key, spec in props.items():
        if key in args and args[key] is not None:
            want = _TYPES[spec["type"]]
            val = args[key]
            if not isinstance(val, want) or (spec["type"] != "boolean" and isinstance(val, bool)):
                return (
                    f"{name}: argument {key!r} must be a {spec['type']}, "
                    f"not {type(val).__name__}. Expected arguments: {expected}."
                )
    return None


async def call_tool(
    ws: Workspace, name: str, args: dict[str, Any] | str | None, ctx: ToolContext | None = None
) -> ToolResult:
    """Run tool ``name`` with ``args`` (a dict, or the model's raw JSON string).

    Returns a ToolResult; ok=False with an explanation for anything the model
    got wrong. Unknown argument keys are ignored.
    """
    ctx = ctx or ToolContext()
    offered = TOOL_NAMES if ctx.tools is None else ctx.tools
    if name not in TOOL_NAMES or name not in offered:
        return _fail(
            f"Unknown tool {name!r}. Available tools: {', '.join(offered)}.", error="unknown_tool"
        )
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as e:
            return _fail(f"{name}: arguments are not valid JSON ({e}).", error="bad_arguments")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return _fail(f"{name}: arguments must be a JSON object.", error="bad_arguments")
    problem = _validate(name, args)
    if problem:
        return _fail(problem, error="bad_arguments")
    try:
        res = await _dispatch(ws, name, args, ctx)
        res.content = scrub_text(res.content, secret_values(extra=ctx.secret_names))
        return res
    except PathConfinementError as e:
        return _fail(f"{name}: {e}", error="path_refused")
    except ToolError as e:
        return _fail(f"{name}: {e}", error="tool_error")
    except UnicodeEncodeError as e:
        return _fail(f"{name}: text cannot be encoded as UTF-8 ({e}).", error="tool_error")
    except OSError as e:
        # Permission denied, disk full, name too long...: the model may try another way.
        return _fail(f"{name}: {e.strerror or e} ({e.filename or ''})", error="os_error")


async def _dispatch(ws: Workspace, name: str, a: dict[str, Any], ctx: ToolContext) -> ToolResult:
    if name == "read_file":
        return await asyncio.to_thread(
            files.read_file,
            ws,
            a["path"],
            max_bytes=ctx.read_cap,
            start_line=_opt_int(a, "start_line"),
            end_line=_opt_int(a, "end_line"),
        )
    if name == "list_files":
        return await asyncio.to_thread(
            files.list_files, ws, a.get("pattern") or "*", max_results=ctx.list_cap
        )
    if name == "search":
        return await asyncio.to_thread(
            files.search, ws, a["pattern"], a.get("path"), max_results=ctx.search_cap
        )
    if name == "write_file":
        return await asyncio.to_thread(files.write_file, ws, a["path"], a["content"])
    if name == "edit_file":
        return await asyncio.to_thread(files.edit_file, ws, a["path"], a["old"], a["new"])
    if name == "run_command":
        return await _run_command(ws, a["command"], ctx)
    if name == "submit_plan":
        return submit_plan(ws, a["tasks"])
    if name == "finish":
        return finish(a["summary"])
    raise AssertionError(f"tool {name} has a schema but no implementation")


async def _run_command(ws: Workspace, command: str, ctx: ToolContext) -> ToolResult:
    if not command.strip():
        raise ToolError("command is empty.")
    decision = ctx.policy.check(command, ws.root)
    if decision.verdict == "deny":
        return _fail(
            f"Command refused by policy: {decision.reason} (in `{decision.part}`). "
            "Do not retry it; find another way or explain in finish why it is needed.",
            refused=command,
            reason=decision.reason,
        )
    if needs_approval(decision.verdict, ctx.autonomy) and command not in ctx.approved_commands:
        # The executor turns this into a `command` gate and calls again once approved.
        return _fail("needs approval", needs_approval=command, reason=decision.reason)
    env = ctx.env if ctx.env is not None else scrubbed_env(extra=ctx.secret_names)
    res = await run_command(
        command,
        ws.root,
        timeout_s=ctx.command_timeout_s,
        output_cap=ctx.output_cap,
        on_line=ctx.on_output,
        env=env,
    )
    if res.timed_out:
        status = f"[timed out after {ctx.command_timeout_s:g}s]"
    else:
        status = f"[exit code {res.exit_code}]"
    content = f"$ {command}\n{res.output}\n{status}" if res.output else f"$ {command}\n{status}"
    data = res.to_dict()
    data.pop("output", None)
    return ToolResult(res.ok, content, data=data)


def submit_plan(ws: Workspace, tasks: Any) -> ToolResult:
    """Validate a plan; ``data["tasks"]`` holds normalized tasks for the executor.

    Each task: ``{"id", "title", "description", "files", "status": "pending"}``.
    A bare string is accepted as a title. Files must be repository paths.
    """
    if not isinstance(tasks, list) or not tasks:
        raise ToolError("tasks must be a non-empty list of {title, description?, files?}.")
    if len(tasks) > MAX_PLAN_TASKS:
        raise ToolError(f"too many tasks ({len(tasks)}); keep the plan under {MAX_PLAN_TASKS}.")
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    for i, t in enumerate(tasks, 1):
        if isinstance(t, str):
            t = {"title": t}
        if not isinstance(t, dict):
            problems.append(f"task {i} must be an object with a title")
            continue
        title = t.get("title")
        if not isinstance(title, str) or not title.strip():
            problems.append(f"task {i} needs a non-empty 'title' string")
            continue
        desc = t.get("description") or ""
        if not isinstance(desc, str):
            problems.append(f"task {i}: 'description' must be a string")
            continue
        paths = t.get("files") or []
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            problems.append(f"task {i}: 'files' must be a list of paths")
            continue
        clean: list[str] = []
        for p in paths:
            try:
                clean.append(ws.relpath(ws.resolve(p)))
            except PathConfinementError as e:
                problems.append(f"task {i}: {e}")
        tid = t.get("id") if isinstance(t.get("id"), str) and t.get("id") else f"t{i}"
        out.append(
            {
                "id": tid,
                "title": title.strip(),
                "description": desc.strip(),
                "files": clean,
                "status": "pending",
            }
        )
    if problems:
        raise ToolError("the plan was not accepted: " + "; ".join(problems) + ".")
    ids = [t["id"] for t in out]
    if len(set(ids)) != len(ids):
        raise ToolError("task ids must be unique.")
    listing = "\n".join(f"{n}. {t['title']}" for n, t in enumerate(out, 1))
    return ToolResult(True, f"Plan received ({len(out)} tasks):\n{listing}", data={"tasks": out})


def finish(summary: Any) -> ToolResult:
    """Validate the final summary; ``data["summary"]`` is for the executor."""
    if not isinstance(summary, str) or not summary.strip():
        raise ToolError("summary must be a non-empty string describing what was done.")
    return ToolResult(True, "Finished.", data={"summary": summary.strip()})


def _opt_int(args: dict[str, Any], key: str) -> int | None:
    """An optional integer argument (models sometimes send numbers as strings)."""
    value = args.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ToolError(f"{key} must be a whole number, got {value!r}") from None
