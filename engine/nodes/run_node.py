"""Runner for ``run`` nodes: a shell command from the flow, optionally parsed as tests."""

from __future__ import annotations

from typing import Any

from engine.events import TestOutputLine, TestResult
from engine.nodes.base import StepContext, StepFailed
from engine.run.state import template_context

_OUTPUT_KEEP = 6000


async def run_run_node(ctx: StepContext) -> Any:
    from engine.tools import run_command, run_tests, scrubbed_env
    from engine.tools.secrets import scrub_text, secret_values

    node = ctx.node
    command = ctx.flow.render(node.command, template_context(ctx.state, ctx.task, node.id)).strip()
    if not command:
        raise StepFailed("the run node's command rendered empty")
    timeout = float(node.timeout or 600)

    def on_line(line: str) -> None:
        line = scrub_text(line, secrets)
        ctx.emit(TestOutputLine(run_id=ctx.run_id, step_id=ctx.step_id, line=line))

    cwd = str(ctx.workspace.root)
    names = ctx.tool_context.secret_names
    secrets = secret_values(extra=names)
    if node.tests:

        async def do_tests() -> dict[str, Any]:
            report = await run_tests(
                command, cwd, timeout_s=timeout, on_line=on_line, env=scrubbed_env(extra=names)
            )
            d = report.to_dict()
            d["output"] = scrub_text(str(d.get("output", ""))[-_OUTPUT_KEEP:], secrets)
            return d

        res = await ctx.journal.effect(
            "command", {"command": command, "tests": True}, do_tests, idempotent=True
        )
        ctx.emit(
            TestResult(
                run_id=ctx.run_id,
                step_id=ctx.step_id,
                command=command,
                exit_code=int(res.get("exit_code", 1)),
                passed=int(res.get("passed", 0)),
                failed=int(res.get("failed", 0)),
                errors=int(res.get("errors", 0)),
                skipped=int(res.get("skipped", 0)),
                failing=list(res.get("failing") or []),
                duration_s=float(res.get("duration_s", 0.0)),
            )
        )
        ctx.state["tests"] = res
        return {k: res.get(k) for k in ("exit_code", "passed", "failed", "errors", "failing")}

    async def do_cmd() -> dict[str, Any]:
        r = await run_command(
            command,
            cwd,
            timeout_s=timeout,
            output_cap=200_000,
            on_line=on_line,
            env=scrubbed_env(extra=names),
        )
        return {
            "exit_code": r.exit_code,
            "output": scrub_text(r.output[-_OUTPUT_KEEP:], secrets),
            "timed_out": r.timed_out,
            "duration_s": r.duration_s,
        }

    res = await ctx.journal.effect(
        "command", {"command": command}, do_cmd, idempotent=bool(node.idempotent)
    )
    if res["timed_out"]:
        raise StepFailed(f"command timed out after {timeout:.0f}s: {command}")
    if res["exit_code"] != 0 and not node.allow_failure:
        raise StepFailed(f"command exited {res['exit_code']}: {command}\n{res['output'][-1500:]}")
    return res
