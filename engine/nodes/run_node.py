"""Runner for ``run`` nodes: a shell command from the flow, optionally parsed as tests."""

from __future__ import annotations

from typing import Any

from engine.events import TestOutputLine, TestResult
from engine.nodes.base import NeedsHuman, StepContext, StepFailed
from engine.run.state import template_context

_OUTPUT_KEEP = 6000
#: Gate kind opened when a test command's result says nothing about the code.
TESTS_GATE = "tests"


class _Unhealthy(Exception):
    """Raised inside the journaled effect so a bad test run is not replayed as done."""

    def __init__(self, report: dict[str, Any], problem: str):
        super().__init__(problem)
        self.report = report
        self.problem = problem


def _own_collection_error(report: Any, touched: set[str]) -> bool:
    """A collection error only in test files this run wrote is the model's to fix."""
    return bool(report.collection_errors) and set(report.collection_errors) <= touched


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
        from engine.tools import TestHealth

        touched = set(ctx.state.get("touched") or []) | ctx.files_touched

        async def do_tests() -> dict[str, Any]:
            report = await run_tests(
                command, cwd, timeout_s=timeout, on_line=on_line, env=scrubbed_env(extra=names)
            )
            d = report.to_dict()
            d["output"] = scrub_text(str(d.get("output", ""))[-_OUTPUT_KEEP:], secrets)
            if report.health != TestHealth.OK and not _own_collection_error(report, touched):
                raise _Unhealthy(d, report.problem())
            return d

        try:
            res = await ctx.journal.effect(
                "command", {"command": command, "tests": True}, do_tests, idempotent=True
            )
        except _Unhealthy as bad:
            tail = "\n".join(str(bad.report.get("output", "")).splitlines()[-15:])
            raise NeedsHuman(
                TESTS_GATE,
                f"{bad.problem}\n\nLast output:\n{tail}\n\nApprove to run the tests "
                "again (the command is re-read from .llmflows/config.toml), or stop.",
                {"command": command, "health": bad.report.get("health")},
            ) from None
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
