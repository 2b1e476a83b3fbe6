"""Runner for ``run`` nodes: a shell command from the flow, optionally parsed as tests."""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Callable
from typing import Any

from engine.events import CommandOutput, Event, LogMessage, OutputChunk, TestResult
from engine.nodes.base import NeedsHuman, StepContext, StepFailed
from engine.records import GateKind
from engine.run.state import template_context

_OUTPUT_KEEP = 6000
#: A step's stored output (head and tail, bytes); the live stream shows up to half of it.
STORED_OUTPUT_CAP = 64 * 1024
_CHUNK_LINES = 500
_CHUNK_EVERY_S = 0.1
#: The output key whose test results count as "there before the run" (the baseline).
BASELINE_OUTPUT = "baseline"
#: More failing ids than this and a focused run would be the whole suite anyway.
_FOCUS_MAX_IDS = 50
_TEST_FILE = re.compile(r"(^|/)(test_[^/]*\.py|[^/]*_test\.py|tests?/.*\.py)$")


class _Unhealthy(Exception):
    """Raised inside the journaled effect so a bad test run is not replayed as done."""

    def __init__(self, report: dict[str, Any], problem: str):
        super().__init__(problem)
        self.report = report
        self.problem = problem


def _own_collection_error(report: Any, touched: set[str]) -> bool:
    """A collection error only in test files this run wrote is the model's to fix."""
    return bool(report.collection_errors) and set(report.collection_errors) <= touched


class _LiveOutput:
    """Batches a command's lines into OutputChunk events (not one event per line).

    A chunk goes out every ``_CHUNK_EVERY_S`` or ``_CHUNK_LINES`` lines; the live
    stream stops after the head of the stored output, whose tail the final
    CommandOutput event carries.
    """

    def __init__(self, emit: Callable[[Event], Any], run_id: str, step_id: int):
        self.emit, self.run_id, self.step_id = emit, run_id, step_id
        self.lines: list[str] = []
        self.budget = STORED_OUTPUT_CAP // 2
        self.timer: asyncio.TimerHandle | None = None

    def add(self, line: str) -> None:
        if self.budget <= 0:
            return
        if len(line) >= self.budget:
            line = line[: self.budget] + " [...]"
        self.budget -= len(line) + 1
        self.lines.append(line)
        if len(self.lines) >= _CHUNK_LINES or self.budget <= 0:
            self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(_CHUNK_EVERY_S, self.flush)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.lines:
            text, self.lines = "\n".join(self.lines), []
            self.emit(OutputChunk(run_id=self.run_id, step_id=self.step_id, text=text))


def focus(state: dict[str, Any]) -> dict[str, str]:
    """Arguments that narrow a pytest command to what matters now (``focus`` in templates).

    ``failing``: the ids that failed in the last test run and not at the baseline;
    ``changed_tests``: the
    test files this run wrote. Both are empty unless the test command is pytest
    (other runners take no test ids), so ``{{ settings.test_command }} {{ focus.x }}``
    falls back to the whole suite.
    """
    from engine.tools import is_pytest_command

    cmd = str((state.get("settings") or {}).get("test_command") or "")
    if not is_pytest_command(cmd):
        return {"failing": "", "changed_tests": ""}
    tests = state.get("tests") or {}
    # Failures the baseline already had are not ours to chase in a focused run.
    chosen = tests.get("new_failing") if "new_failing" in tests else tests.get("failing")
    failing = [str(t) for t in chosen or [] if "::" in str(t) or str(t).endswith(".py")]
    changed = [f for f in state.get("touched") or [] if _TEST_FILE.search(f)]
    return {
        "failing": shlex.join(failing) if 0 < len(failing) <= _FOCUS_MAX_IDS else "",
        "changed_tests": shlex.join(changed),
    }


def _judge(res: dict[str, Any], state: dict[str, Any], touched: set[str]) -> None:
    """Add ``new_failing`` (not failing at the baseline) and ``reproduced`` (new failures
    in test files this run changed) to a test result."""
    baseline = (state.get("outputs") or {}).get(BASELINE_OUTPUT)
    before = set((baseline or {}).get("failing") or []) if isinstance(baseline, dict) else set()
    failed = not (res.get("exit_code") == 0 and not res.get("failed") and not res.get("errors"))
    if res.get("parsed"):
        new = [t for t in res.get("failing") or [] if t not in before]
    else:  # only an exit code: any failure is new unless the baseline failed too
        was_failing = isinstance(baseline, dict) and baseline.get("exit_code") not in (0, None)
        new = (
            [f"{res.get('command')} (exit {res.get('exit_code')})"]
            if failed and not was_failing
            else []
        )
    res["new_failing"] = new
    if res.get("parsed"):
        res["reproduced"] = [t for t in new if t.split("::", 1)[0] in touched]
    else:
        res["reproduced"] = new if any(_TEST_FILE.search(f) for f in touched) else []


async def run_run_node(ctx: StepContext) -> Any:
    from engine.tools import run_command, run_tests, scrubbed_env
    from engine.tools.commands import TRUNCATION_NOTE
    from engine.tools.secrets import scrub_text, secret_values

    node = ctx.node
    context = template_context(ctx.state, ctx.task, node.id)
    context["focus"] = focus(ctx.state)
    command = ctx.flow.render(node.command, context).strip()
    if not command:
        raise StepFailed("the run node's command rendered empty")
    timeout = float(node.timeout or 600)

    live = _LiveOutput(ctx.emit, ctx.run_id, ctx.step_id)

    def on_line(line: str) -> None:
        live.add(scrub_text(line, secrets))

    def stored(output: str) -> None:
        """The step's output, once, as one capped event row (the journal keeps a short tail)."""
        live.flush()
        cut = output.find("\n" + TRUNCATION_NOTE)
        ctx.emit(
            CommandOutput(
                run_id=ctx.run_id,
                step_id=ctx.step_id,
                command=command,
                output=output,
                truncated=cut >= 0,
                tail_from=cut + 1 if cut >= 0 else -1,
            )
        )

    cwd = str(ctx.workspace.root)
    names = ctx.tool_context.secret_names
    secrets = secret_values(extra=names)
    if node.tests:
        from engine.tools import TestHealth

        touched = set(ctx.state.get("touched") or []) | ctx.files_touched

        async def do_tests() -> dict[str, Any]:
            report = await run_tests(
                command,
                cwd,
                timeout_s=timeout,
                on_line=on_line,
                env=scrubbed_env(extra=names),
                output_cap=STORED_OUTPUT_CAP,
            )
            d = report.to_dict()
            full = scrub_text(str(d.get("output", "")), secrets)
            stored(full)
            d["output"] = full[-_OUTPUT_KEEP:]
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
                GateKind.TESTS,
                f"{bad.problem}\n\nLast output:\n{tail}\n\nApprove to run the tests "
                "again (the command is re-read from .llmflows/config.toml), or stop.",
                {"command": command, "health": bad.report.get("health")},
            ) from None
        ctx.emit(
            TestResult.from_summary(res, run_id=ctx.run_id, step_id=ctx.step_id, command=command)
        )
        _judge(res, ctx.state, touched)
        if res["reproduced"]:
            ctx.emit(
                LogMessage(
                    level="info",
                    message=f"{node.id}: new failing test(s) the run wrote: "
                    + ", ".join(res["reproduced"]),
                )
            )
        ctx.state["tests"] = res
        keys = ("exit_code", "passed", "failed", "errors", "failing", "new_failing", "reproduced")
        return {k: res.get(k) for k in keys}

    async def do_cmd() -> dict[str, Any]:
        r = await run_command(
            command,
            cwd,
            timeout_s=timeout,
            output_cap=STORED_OUTPUT_CAP,
            on_line=on_line,
            env=scrubbed_env(extra=names),
        )
        full = scrub_text(r.output, secrets)
        stored(full)
        return {
            "exit_code": r.exit_code,
            "output": full[-_OUTPUT_KEEP:],
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
