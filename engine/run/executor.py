"""The executor: runs a flow's graph one durable step at a time.

``Executor.execute()`` runs until the run completes, fails, is stopped, or
pauses for a person (a gate); then it returns a :class:`RunOutcome`. Every
step ends with a checkpoint (git snapshot + state blob) that becomes the run's
head, so continuing a run -- in this process or after a crash -- always starts
from the head checkpoint's state and cursor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from engine.errors import (
    BudgetExceededError,
    EngineError,
    FlowNodeMissingError,
    JournalMismatchError,
    ModelError,
    ModelUnreachableError,
    ToolError,
)
from engine.events import (
    DiffReady,
    LogMessage,
    StepFinished,
    StepStarted,
)
from engine.flow.spec import FlowRuntimeError, NodeSpec
from engine.git.blobs import clash_text, versions_diff
from engine.nodes import RUNNERS, NeedsHuman, StepContext, StepFailed
from engine.records import (
    IN_FLIGHT_STEPS,
    CheckpointRecord,
    Decision,
    EffectRecord,
    GateKind,
    GateRecord,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
)
from engine.run import ledger
from engine.run.budget import Limits, Usage, check_before_step
from engine.run.crashpoints import crash_point
from engine.run.journal import Journal, clashing_files, remove_write_leftovers, written_versions
from engine.run.state import END, FAIL, clone

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    status: str  # completed | failed | paused | stopped
    reason: str = ""
    gate: GateRecord | None = None  # the open gate when paused


@dataclass
class Metrics:
    """Where a run's time went (used by bench/engine.py)."""

    steps: int = 0
    step_time: float = 0.0
    checkpoint_time: float = 0.0
    runner_time: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


_STEP_ERRORS = (StepFailed, ModelError, ToolError, FlowRuntimeError, TimeoutError)


def _describe_effect(effect: EffectRecord) -> str:
    """One line naming an effect for a person (the command, or the tool and its path)."""
    req = effect.request or {}
    if effect.kind == "command":
        return f"the command `{req.get('command', '')}`"
    args = req.get("arguments") or {}
    if req.get("name") == "run_command":
        return f"the command `{args.get('command', '')}`"
    target = args.get("path")
    return f"{req.get('name', effect.kind)}" + (f" on {target}" if target else "")


def _message(node, e: BaseException) -> str:
    return f"step timed out after {node.timeout}s" if isinstance(e, TimeoutError) else str(e)


class Executor:
    """Runs one run of a flow against one session (repo + store)."""

    def __init__(self, session, run_id: str, *, model_factory=None):
        from engine.flow.spec import get_flow
        from engine.tools import CommandPolicy, ToolContext, Workspace
        from engine.tools.approval_rules import with_rules

        self.session = session
        self.store = session.store
        self.bus = session.bus
        self.run_id = run_id
        self.run = RunRecord.from_row(self.store.get_run(run_id))
        self.config: dict[str, Any] = dict(self.run.config)
        self.flow = get_flow(self.config.get("flow_path") or self.run.flow, session.repo_root)
        self.limits = Limits.from_dict(self.config.get("limits"))
        self.autonomy = self.run.autonomy or "review"
        self.workspace = Workspace(session.repo_root)
        policy_cfg = self.config.get("policy") or {}
        self.policy = CommandPolicy.from_config(policy_cfg) if policy_cfg else CommandPolicy()
        self.policy = with_rules(self.policy, session.repo_root)  # "always allow" rules
        key_env = (self.config.get("model_settings") or {}).get("api_key_env")
        self.tool_context = ToolContext(
            policy=self.policy,
            autonomy=self.autonomy,
            secret_names=(key_env,) if key_env else (),
        )
        self._model_factory = model_factory
        self._clients: dict[str, Any] = {}
        self.metrics = Metrics()
        self._mcp = None
        self.usage = self._usage_so_far()

    # ------------------------------------------------------------------ helpers
    def emit(self, event):
        event.run_id = self.run_id
        return self.bus.emit(event)

    def _usage_so_far(self) -> Usage:
        cost = self.store.run_cost(self.run_id)
        steps = sum(1 for s in self._steps() if s.status == StepStatus.DONE)
        return Usage(
            cost_usd=float(cost.get("cost_usd") or 0.0),
            tokens_in=int(cost.get("tokens_in") or 0),
            tokens_out=int(cost.get("tokens_out") or 0),
            tokens_cached=int(cost.get("tokens_cached") or 0),
            steps=steps,
        )

    def _steps(self) -> list[StepRecord]:
        return [StepRecord.from_row(r) for r in self.store.steps_for(self.run_id)]

    def mcp_tools(self):
        """The MCP servers this run may use, read on first use (user + trusted project)."""
        if self._mcp is None:
            from engine.tools.mcp import McpTools

            self._mcp = McpTools.for_repo(self.session.repo_root)
        return self._mcp

    def model_for(self, override: str | None):
        from engine.models.scripted_replay import ScriptedModels

        settings = dict(self.config.get("model_settings") or {"model": self.run.model})
        if override:
            settings["model"] = override
        key = settings["model"]
        if key not in self._clients:
            if self._model_factory is None:
                # Scripted models continue from the run's place in the script.
                self._model_factory = ScriptedModels(self.store, self.run_id)
            self._clients[key] = self._model_factory(settings)
        return self._clients[key]

    def _set_status(self, status: str, reason: str = "", node: str | None = None) -> None:
        changes = ledger.set_status(self.session, self.run_id, status, reason, node)
        self.run = replace(self.run, **changes)

    def head(self) -> tuple[CheckpointRecord, dict[str, Any]]:
        """The run's head checkpoint and its state."""
        run = RunRecord.from_row(self.store.get_run(self.run_id))
        cp = CheckpointRecord.from_row(self.store.get_checkpoint(run.head_checkpoint_id))
        return cp, self.store.get_blob(cp.state_hash)

    def _checkpoint(
        self,
        step_id: int | None,
        source: str,
        message: str,
        state: dict[str, Any],
        parent_id: int | None,
    ) -> CheckpointRecord:
        t0 = time.perf_counter()
        try:
            return ledger.record_checkpoint(
                self.session,
                self.run_id,
                step_id,
                source,
                message,
                state,
                parent_id,
                move_head=False,
            )
        finally:
            self.metrics.checkpoint_time += time.perf_counter() - t0

    def _open_gate(self, kind, node, prompt, step_id, checkpoint_id, payload) -> RunOutcome:
        _gate_id, changes = ledger.open_gate(
            self.session, self.run_id, kind, node, prompt, step_id, checkpoint_id, payload
        )
        self.run = replace(self.run, **changes)
        return RunOutcome("paused", prompt, self._pending_gate())

    def _attempt_info(self, node_id: str, task_id: str | None) -> tuple[int, int | None]:
        count, last = self.store.attempts_of(self.run_id, node_id, task_id)
        return count + 1, last

    # --------------------------------------------------------------- main loop
    async def execute(self) -> RunOutcome:
        """Run until completion, failure, a stop, or a gate.

        MCP servers started during the execution live until it ends, whichever way.
        """
        try:
            return await self._execute()
        finally:
            if self._mcp is not None:
                await self._mcp.aclose()

    async def _execute(self) -> RunOutcome:
        gate = self._pending_gate()
        if gate is not None:
            return RunOutcome("paused", gate.prompt or "", gate)
        if self.run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
            return RunOutcome(self.run.status, self.run.error or "")
        ledger.require_snapshots(self.session, self.run.head_checkpoint_id)
        moved = ledger.check_user_git(self.session, self.run_id)
        if moved:
            self.emit(LogMessage(level="warning", message=moved))
        stopped_gate = self._reopen_stopped_gate()
        if stopped_gate is not None:
            return stopped_gate
        recovered = self._recover_if_crashed()
        if recovered is not None:
            return recovered
        self._set_status("running")
        from engine.tools.sandbox import notice_once

        if (notice := notice_once()) is not None:
            self.emit(LogMessage(level="warning", message=notice))
        try:
            # A cancellation (user stop) requested before the run got going takes
            # effect here, before any model call or command.
            await asyncio.sleep(0)
            while True:
                outcome = await self._advance()
                if outcome is not None:
                    return outcome
        except (BudgetExceededError, ModelUnreachableError) as e:
            # Nothing wrong with the step: stop where it is, resumable as it stands.
            self._stop_in_flight()
            self._set_status("stopped", str(e))
            return RunOutcome("stopped", str(e))
        except asyncio.CancelledError:
            self._stop_in_flight()
            self._set_status("stopped", "stopped by the user")
            return RunOutcome("stopped", "stopped by the user")
        except (FlowNodeMissingError, JournalMismatchError) as e:
            # The flow (or what it reads) changed under the run: fixable, not a failure.
            self._set_status("paused", str(e))
            raise
        except EngineError as e:  # e.g. a `when` expression that cannot be evaluated
            self._set_status("failed", str(e))
            return RunOutcome("failed", str(e))

    def _reopen_stopped_gate(self) -> RunOutcome | None:
        """A gate the person answered with 'stop' is asked again when the run continues.

        Stopping is not an answer: without this a stopped review gate would let the
        unreviewed step pass on resume (its head already moved past the step).
        """
        last = self._last_gate()
        if last is None or last.decision != Decision.STOP:
            return None
        if last.checkpoint_id != self.store.get_run(self.run_id)["head_checkpoint_id"]:
            return None  # the person moved the run since (rewind, retry)
        return self._open_gate(
            last.kind,
            last.node,
            last.prompt,
            last.step_id,
            last.checkpoint_id,
            last.payload or {},
        )

    def _pending_gate(self) -> GateRecord | None:
        row = self.store.pending_gate(self.run_id)
        return None if row is None else GateRecord.from_row(row)

    def _last_gate(self) -> GateRecord | None:
        row = self.store.last_gate(self.run_id)
        return None if row is None else GateRecord.from_row(row)

    def _in_flight_step(self, head_id: int) -> StepRecord | None:
        row = self.store.in_flight_step(self.run_id, head_id, IN_FLIGHT_STEPS)
        return None if row is None else StepRecord.from_row(row)

    def _stop_in_flight(self) -> None:
        """Mark the interrupted step stopped and keep its tree in a checkpoint."""
        cp, state = self.head()
        step = self._in_flight_step(cp.id)
        if step is None:
            return
        self.store.update_step(step.id, status=StepStatus.STOPPED)
        try:
            self._checkpoint(step.id, "stop", f"{step.node} interrupted", state, cp.id)
        except EngineError as e:  # the stop itself must not fail
            log.warning("could not checkpoint the interrupted step: %s", e)

    def _recover_if_crashed(self) -> RunOutcome | None:
        """A run left 'running' by a dead process: decide how its step goes on.

        The step is re-entered with the same id, so every effect the journal marks
        done is replayed, never run again, and the model is only asked for what comes
        after. Nothing in the working tree is restored: the files the step wrote are
        what its done effects say, and anything else changed since (the person's
        edits) is theirs. A person is asked when the outcome of an effect is unknown
        (it is not idempotent and has an intent but no result) or when the person
        changed a file the step wrote.
        """
        if self.run.status == RunStatus.RUNNING:  # opened without Session.open's check
            self._set_status(RunStatus.CRASHED, "the process running this run died")
        if self.run.status != RunStatus.CRASHED:
            return None
        cp, _state = self.head()
        step = self._in_flight_step(cp.id)
        if step is None:
            return None
        effects = [EffectRecord.from_row(r) for r in self.store.effects_for_step(step.id)]
        remove_write_leftovers(self.session.repo_root, effects)
        done = [e for e in effects if e.status == "done"]
        unknown = [e for e in effects if e.status == "intent"]
        for e in unknown:
            if e.idempotent:  # asked again when the step is re-entered
                self.store.discard_effect(e.id)
        unknown = [e for e in unknown if not e.idempotent]
        clash = clashing_files(self.session.repo_root, done, unknown)
        if done:
            self.emit(
                LogMessage(
                    level="warning",
                    message=f"recovering step '{step.node}' after a crash: "
                    f"{len(done)} completed effect(s) are replayed from the journal, not run "
                    "again; nothing in the working tree is restored",
                )
            )
        if not unknown and not clash:
            return None
        self.store.update_step(step.id, status=StepStatus.PAUSED)
        if clash:
            wrote = written_versions(done)
            versions = {p: wrote[p] for p in clash}
            _diff, text = versions_diff(self.session.repo_root, versions)
            prompt = (
                f"The previous process died in step '{step.node}', and since then "
                f"{', '.join(clash)} changed after the step wrote "
                f"{'it' if len(clash) == 1 else 'them'}. Your version is in the working tree; "
                "below, - is the step's version and + is yours. "
                "Approve to continue the step with your version, or rewind.\n" + clash_text(text)
            )
            return self._open_gate(
                GateKind.CRASH,
                step.node,
                prompt,
                step.id,
                cp.id,
                {"step_id": step.id, "clash": clash, "versions": versions},
            )
        what = "; ".join(_describe_effect(e) for e in unknown)
        return self._open_gate(
            GateKind.CRASH,
            step.node,
            f"The previous process died while running {what} in step '{step.node}': it "
            "may or may not have taken effect. Nothing was restored; completed effects will "
            "not run again. Approve to run it again, or reject to stop.",
            step.id,
            cp.id,
            {"step_id": step.id, "effects": [e.key for e in unknown]},
        )

    async def _advance(self) -> RunOutcome | None:
        cp, state = self.head()
        cursor = state["cursor"]
        node_id = cursor["node"]
        if node_id == END:
            return self._finish(cp, state)
        if node_id == FAIL:
            self._set_status("failed", state.get("last_error", {}).get("message", "flow failed"))
            return RunOutcome("failed", self.run.error or "")
        node = self.flow.node(node_id)

        step = self._in_flight_step(cp.id)
        if step is None:
            check_before_step(self.limits, self.usage)
            bound = self.flow.max_iterations(node_id, state)
            if bound and state["iterations"].get(node_id, 0) >= bound:
                return self._node_failed(
                    node,
                    cp,
                    state,
                    None,
                    f"loop bound reached: {node_id} ran {bound} times (max_iterations)"
                    + self._loop_reason(node_id, state),
                )
            bp = self._breakpoint(node, cp, state)
            if bp is not None:
                return bp
        items = self._foreach_items(node, state)
        if items is not None and cursor.get("item", 0) >= len(items):
            state = clone(state)
            self._complete_node(node, state)
            self._move_cursor(cp, state, node)
            return None
        index = cursor.get("item", 0)
        task = items[index] if items is not None else None
        if node.kind == "gate":
            return self._gate_node(node, cp, state, step)
        if step is not None and task is not None and step.task_id != task.get("id"):
            # Left over from a foreach batch the process died in: keep every unfinished
            # item's answers for its next attempt and start the batch again.
            for left in self._steps():
                if left.status in IN_FLIGHT_STEPS and left.base_checkpoint_id == cp.id:
                    self._reuse_answers_of(left)
                    self.store.update_step(left.id, status=StepStatus.ABANDONED)
            step = None
        if (
            step is None
            and items is not None
            and node.kind == "llm"
            and (node.concurrency or 1) > 1
        ):
            return await self._run_batch(node, cp, state, items, index)
        return await self._run_step(node, cp, state, task, step)

    def _move_cursor(self, cp: CheckpointRecord, state: dict[str, Any], node: NodeSpec) -> None:
        """Advance to the next node without a step (e.g. an empty foreach)."""
        new_cp = self._checkpoint(None, "step", f"{node.id}: nothing to do", state, cp.id)
        ledger.move_head(self.session, self.run_id, new_cp.id)

    def _foreach_items(self, node, state) -> list[dict[str, Any]] | None:
        if not node.foreach:
            return None
        from engine.flow import templates

        value = templates.evaluate(node.foreach, self.flow._context(state))
        if not isinstance(value, list):
            return []
        return [
            v if isinstance(v, dict) else {"id": f"i{i}", "title": str(v)}
            for i, v in enumerate(value, 1)
        ]

    def _loop_reason(self, node_id: str, state: dict[str, Any]) -> str:
        """Why the run kept coming back to ``node_id``: the node that sent it back (the
        last one that ran), the conditions that did not hold there, its last test counts."""
        steps = self.store.steps_for(self.run_id)
        if not steps or steps[-1]["node"] not in self.flow.nodes:
            return ""
        other = self.flow.node(steps[-1]["node"])
        if other.id == node_id or not any(e.to == node_id for e in other.next):
            return ""
        held_not = [e.when for e in other.next if e.when and e.to != node_id]
        why = f" because {' / '.join(held_not)} did not hold" if held_not else ""
        out = state.get("outputs", {}).get(other.id)
        tests = ""
        if isinstance(out, dict) and "passed" in out:
            tests = (
                f" (its last tests: {out.get('passed') or 0} passed, "
                f"{out.get('failed') or 0} failed, {out.get('errors') or 0} errors)"
            )
        return f"; '{other.id}' sent the run back to it{why}{tests}"

    def _complete_node(self, node, state) -> None:
        state["iterations"][node.id] = state["iterations"].get(node.id, 0) + 1
        state["cursor"] = {"node": self.flow.next_node(node.id, state), "item": 0}

    def _breakpoint(
        self, node: NodeSpec, cp: CheckpointRecord, state: dict[str, Any]
    ) -> RunOutcome | None:
        # Re-read: the person may change breakpoints while the run executes.
        single_step = self.store.get_run(self.run_id)["single_step"]
        wanted = node.breakpoint or single_step or node.id in self.store.breakpoints(self.run_id)
        if not wanted:
            return None
        last = self._last_gate()
        if (
            last is not None
            and last.kind == GateKind.BREAKPOINT
            and last.checkpoint_id == cp.id
            and last.status == "answered"
        ):
            return None  # the person said continue at this very point
        label = "single-step" if single_step else "breakpoint"
        return self._open_gate(
            GateKind.BREAKPOINT, node.id, f"Paused before '{node.id}' ({label}).", None, cp.id, {}
        )

    def _gate_node(
        self,
        node: NodeSpec,
        cp: CheckpointRecord,
        state: dict[str, Any],
        step: StepRecord | None,
    ) -> RunOutcome:
        from engine.run.state import template_context

        if step is None:
            attempt, parent = self._attempt_info(node.id, None)
            step_id = self.store.create_step(
                self.run_id, node.id, "gate", attempt, parent, None, cp.id
            )
            self.emit(StepStarted(step_id=step_id, node=node.id, kind="gate", attempt=attempt))
        else:
            step_id = step.id
        self.store.update_step(step_id, status=StepStatus.PAUSED)
        prompt = (
            self.flow.render(node.prompt, template_context(state, None, node.id))
            if node.prompt
            else f"Approve to continue past '{node.id}'."
        )
        return self._open_gate(GateKind.GATE, node.id, prompt, step_id, cp.id, {"step_id": step_id})

    def _reuse_answers_of(self, step: StepRecord) -> None:
        """The next attempt of this step's node/task replays the step's model answers."""
        ledger.keep_answers(self.session, self.run_id, step)

    def _begin_step(
        self,
        node: NodeSpec,
        cp: CheckpointRecord,
        task: dict[str, Any] | None,
        step: StepRecord | None,
    ) -> tuple[int, int, int | None, int | None]:
        """Create (or re-enter) a step row and announce it: (id, attempt, parent, replay)."""
        task_id = task.get("id") if task else None
        replay_from = None
        if step is None:
            attempt, parent = self._attempt_info(node.id, task_id)
            step_id = self.store.create_step(
                self.run_id, node.id, node.kind, attempt, parent, task_id, cp.id
            )
            replay_from = ledger.take_answers(self.session, self.run_id, node.id, task_id)
        else:
            step_id, attempt, parent = step.id, step.attempt, step.parent_step_id
            self.store.update_step(step_id, status=StepStatus.RUNNING)
        self.emit(
            StepStarted(
                step_id=step_id,
                node=node.id,
                kind=node.kind,
                attempt=attempt,
                parent_step_id=parent,
                task_id=task_id,
            )
        )
        return step_id, attempt, parent, replay_from

    def _context(self, node, step_id, attempt, state, task, replay_from) -> StepContext:
        work = clone(state)
        if task is not None:
            work["task"] = task
        approved, refused = self.store.command_decisions(self.run_id)
        return StepContext(
            run_id=self.run_id,
            step_id=step_id,
            node=node,
            flow=self.flow,
            state=work,
            task=task,
            attempt=attempt,
            journal=Journal(self.store, self.run_id, step_id, replay_llm_from=replay_from),
            emit=self.emit,
            model_for=self.model_for,
            workspace=self.workspace,
            tool_context=self.tool_context,
            limits=self.limits,
            usage=self.usage,
            record_llm_call=lambda c: self.store.record_llm_call(self.run_id, step_id, **c),
            approved_commands=approved,
            refused_commands=refused,
            mcp=self.mcp_tools,
        )

    async def _call_runner(self, node, ctx) -> Any:
        t0 = time.perf_counter()
        try:
            runner = RUNNERS[node.kind](ctx)
            return await (asyncio.wait_for(runner, node.timeout) if node.timeout else runner)
        finally:
            self.metrics.runner_time += time.perf_counter() - t0

    async def _run_step(self, node, cp, state, task, step) -> RunOutcome | None:
        step_id, attempt, _parent, replay_from = self._begin_step(node, cp, task, step)
        ctx = self._context(node, step_id, attempt, state, task, replay_from)
        try:
            output = await self._call_runner(node, ctx)
        except NeedsHuman as h:
            self.store.update_step(step_id, status=StepStatus.PAUSED)
            return self._open_gate(
                h.kind, node.id, h.prompt, step_id, cp.id, {"step_id": step_id, **h.payload}
            )
        except ModelUnreachableError:
            raise  # the run stops; the step is not at fault
        except _STEP_ERRORS as e:
            return self._step_failed(node, cp, state, step_id, attempt, task, _message(node, e))
        return self._step_done(node, cp, ctx.state, step_id, attempt, task, output, ctx)

    async def _run_batch(self, node, cp, state, items, start) -> RunOutcome | None:
        """Run up to ``concurrency`` foreach items of a read-only node at once.

        Only ``llm`` nodes get here: they never touch the working tree, so their
        model calls may overlap. Results are checkpointed one by one, in order.
        """
        batch = items[start : start + max(1, int(node.concurrency or 1))]
        begun = [(task, *self._begin_step(node, cp, task, None)) for task in batch]
        contexts = [self._context(node, sid, a, state, task, rp) for task, sid, a, _p, rp in begun]
        try:
            results = await asyncio.gather(
                *(self._call_runner(node, ctx) for ctx in contexts), return_exceptions=True
            )
        except asyncio.CancelledError:
            # Stopped mid-batch: the answers already received are reused when the
            # items run again, never asked (and paid) twice.
            for _task, sid, *_ in begun:
                self._set_aside(sid)
            raise
        for i, ((task, sid, attempt, _p, _r), ctx, res) in enumerate(
            zip(begun, contexts, results, strict=True)
        ):
            cur_cp, cur_state = self.head()
            if isinstance(res, BaseException):
                if isinstance(res, ModelUnreachableError):
                    for _t, later, *_ in begun[i:]:
                        self._set_aside(later)  # asked again when the run continues
                    raise res
                if not isinstance(res, _STEP_ERRORS):
                    raise res
                # Later items' steps are dropped and run again after this one's retry
                # or error path (their answers stay in the journal).
                for _t, later, *_ in begun[i + 1 :]:
                    self._set_aside(later)
                return self._step_failed(
                    node, cur_cp, cur_state, sid, attempt, task, _message(node, res)
                )
            ctx.state = {**clone(cur_state), "task": task}
            outcome = self._step_done(node, cur_cp, ctx.state, sid, attempt, task, res, ctx)
            if outcome is not None:
                return outcome
        return None

    def _set_aside(self, step_id: int) -> None:
        """Drop a batch item's step; its next attempt reuses the step's model answers."""
        self.store.update_step(step_id, status=StepStatus.ABANDONED)
        self._reuse_answers_of(StepRecord.from_row(self.store.get_step(step_id)))

    def _step_done(self, node, cp, work, step_id, attempt, task, output, ctx) -> RunOutcome | None:
        key = node.output or node.id
        if task is not None:
            work["outputs"].setdefault(key, {})
            if not isinstance(work["outputs"][key], dict):
                work["outputs"][key] = {}
            work["outputs"][key][task["id"]] = output
            for t in work.get("plan", {}).get("tasks", []):
                if t.get("id") == task["id"]:
                    t["status"] = "done"
            work.pop("task", None)
            work["cursor"] = {"node": node.id, "item": work["cursor"].get("item", 0) + 1}
        else:
            work["outputs"][key] = output
            self._complete_node(node, work)
        if ctx.files_touched:
            work["touched"] = sorted(set(work.get("touched", [])) | ctx.files_touched)
        work["instruction"] = ""
        label = f"{node.id}" + (f" [{task['id']}]" if task else "") + f" #{attempt}"
        crash_point("before-checkpoint")
        new_cp = self._checkpoint(step_id, "step", label, work, cp.id)
        crash_point("after-checkpoint")
        files_changed = int(new_cp.files_changed or 0)
        with self.store.transaction():
            self.store.finish_step(step_id, "done", checkpoint_id=new_cp.id)
            ledger.move_head(self.session, self.run_id, new_cp.id)
        crash_point("after-head")
        self.usage.steps += 1
        self.metrics.steps += 1
        self.emit(
            StepFinished(
                step_id=step_id,
                node=node.id,
                status=StepStatus.DONE,
                checkpoint_id=new_cp.id,
                files_changed=files_changed,
            )
        )
        if files_changed:
            diff = self.session.checkpoints.diff(cp.id, new_cp.id)
            self.emit(
                DiffReady(
                    step_id=step_id,
                    from_checkpoint=cp.id,
                    to_checkpoint=new_cp.id,
                    files=[f.path for f in diff.files],
                    additions=diff.additions,
                    deletions=diff.deletions,
                )
            )
            if self.autonomy == "review":
                return self._open_gate(
                    "review",
                    node.id,
                    f"Review the changes of '{label}': approve, reject with a reason, "
                    "pick hunks, or edit.",
                    step_id,
                    new_cp.id,
                    {"step_id": step_id, "base_checkpoint_id": cp.id},
                )
        if node.kind == "plan" and self.autonomy == "review":
            # The plan is the cheapest thing to correct: shown before any edit.
            tasks = work.get("plan", {}).get("tasks", [])
            listing = "\n".join(f"  {i}. {t['title']}" for i, t in enumerate(tasks, 1))
            return self._open_gate(
                GateKind.PLAN,
                node.id,
                f"Review the plan of '{label}' before any edit: approve, edit the task "
                f"list, or reject with a reason to plan again.\n{listing}",
                step_id,
                new_cp.id,
                {"step_id": step_id, "base_checkpoint_id": cp.id},
            )
        return None

    def _step_failed(self, node, cp, state, step_id, attempt, task, msg) -> RunOutcome | None:
        # Keep whatever the failed attempt wrote, then put the base tree back so a
        # retry (or the on_error path) never starts from a half-applied edit.
        failed_cp = self._checkpoint(
            step_id, "failed", f"{node.id} #{attempt} failed", state, cp.id
        )
        if failed_cp.tree_sha != cp.tree_sha:
            self.session.snapshotter.restore(cp.commit_sha)
        self.store.finish_step(step_id, "failed", error=msg, checkpoint_id=failed_cp.id)
        self.emit(StepFinished(step_id=step_id, node=node.id, status=StepStatus.FAILED, error=msg))
        self.emit(LogMessage(level="error", message=f"{node.id}: {msg}"))
        if attempt <= int(node.retries or 0):
            return None  # the loop starts the next attempt from the same head
        return self._node_failed(node, cp, state, step_id, msg)

    def _node_failed(self, node, cp, state, step_id, msg) -> RunOutcome | None:
        work = clone(state)
        work["last_error"] = {"node": node.id, "message": msg}
        work["iterations"][node.id] = work["iterations"].get(node.id, 0) + 1
        target = node.on_error or FAIL
        work["cursor"] = {"node": target, "item": 0}
        new_cp = self._checkpoint(step_id, "step", f"{node.id} failed → {target}", work, cp.id)
        ledger.move_head(self.session, self.run_id, new_cp.id)
        return None

    def _finish(self, cp: CheckpointRecord, state: dict[str, Any]) -> RunOutcome:
        if self.autonomy == "auto-edit" and not state.get("final_review_done"):
            start = CheckpointRecord.from_row(self.store.first_checkpoint(self.run_id))
            diff = self.session.checkpoints.diff(start.id, cp.id)
            if diff.files:
                return self._open_gate(
                    GateKind.REVIEW,
                    None,
                    "The flow has finished. Review the whole change before it completes.",
                    None,
                    cp.id,
                    {"base_checkpoint_id": start.id, "final": True},
                )
        self._set_status("completed")
        return RunOutcome("completed")
