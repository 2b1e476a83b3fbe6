"""EngineAPI: the one object an interactive front end holds.

It wraps :class:`engine.controller.RunController` (the engine thread) with
explicit, typed ``async`` methods: read models (``engine.readmodels``) and
human operations (``engine.run.operations``). Each method runs its engine work
on the engine thread and is awaited on the caller's event loop, so a UI never
blocks on SQLite, git, the model or tests. Events arrive through
:meth:`subscribe` on the engine thread (hop to the UI thread yourself).

The front end never sees a ``Session``, a ``RunStore`` or SQL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from engine.controller import RunController
from engine.readmodels import (
    ApprovalRules,
    FlowCheck,
    RangeDiff,
    RewindPreview,
    RunSummary,
    RunView,
    StartInfo,
)
from engine.records import Decision, GateRecord, RunFlags

if TYPE_CHECKING:
    from engine.demo import Demo
    from engine.events import Event
    from engine.git.diffmodel import Diff, FileDiff, HunkRef
    from engine.run.executor import RunOutcome
    from engine.run.session import Session

T = TypeVar("T")


def suggest_command_prefix(command: str) -> str:
    """The prefix an "always allow" rule would suggest for ``command``."""
    from engine.tools.approval_rules import suggest_prefix

    return suggest_prefix(command)


def notify_mode() -> str:
    """The notification mode (env, user config; default bell): off | bell | osc9 | both."""
    from engine.notify import notify_mode as mode

    return str(mode())


def terminal_notification(event: Event, mode: str) -> str:
    """What to write to the terminal for ``event`` in ``mode`` (bell / OSC 9; '' if none)."""
    from engine.notify import NotifyMode, message_for, sequence

    message = message_for(event)
    return sequence(NotifyMode(mode), message) if message else ""


def prepare_demo(directory: str | os.PathLike[str] | None = None) -> Demo:
    """Copy the offline demo's sample project (a temp dir if ``directory`` is None)."""
    from engine.demo import prepare_demo as prepare

    return prepare(directory)


@dataclass(frozen=True)
class RewindResult:
    """Where a rewind left the run: the target, and the checkpoint holding the files
    as they were just before (``undo_checkpoint``: rewinding there undoes it)."""

    checkpoint_id: int
    undo_checkpoint: int | None


@dataclass(frozen=True)
class TrustPrompt:
    """What the trust prompt shows: the state, the files, what they set (engine/trust.py)."""

    state: str  # a TrustState value
    ok: bool  # nothing to trust, or trusted as they are
    files: list[str]
    lines: list[str]


class EngineAPI:
    """Typed front door to the engine for interactive front ends (the TUI)."""

    def __init__(
        self,
        cwd: str | os.PathLike[str] = ".",
        *,
        model_factory: Callable[..., Any] | None = None,
    ) -> None:
        self._ctl = RunController(cwd, model_factory=model_factory)
        self._prefetched: tuple[str | None, concurrent.futures.Future[StartInfo]] | None = None

    # -- plumbing ------------------------------------------------------------
    async def _on_engine(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """``fn(session, *args, **kw)`` on the engine thread, awaited here."""

        def call() -> T:
            session = self._ctl.session
            if session is None:
                from engine.errors import UsageError

                raise UsageError("the repository is not open")
            return fn(session, *args, **kw)

        result: T = await asyncio.wrap_future(self._ctl.call(call))
        return result

    async def open(self) -> Path:
        """Open the repository (``NotAGitRepoError``, ``StoreLockedError``); its root."""
        return Path(await asyncio.wrap_future(self._ctl.open()))

    async def close(self) -> None:
        """Stop any executing run at a consistent checkpoint and close the store."""
        await asyncio.to_thread(self._ctl.close)

    def subscribe(self, fn: Callable[[Event], None]) -> None:
        """Call ``fn(event)`` on the engine thread for every event of every run."""
        self._ctl.subscribe(fn)

    @property
    def busy(self) -> bool:
        """A run is executing."""
        return self._ctl.busy

    # -- reads ---------------------------------------------------------------
    def prefetch_start_info(
        self, cli_model: str | None = None
    ) -> concurrent.futures.Future[StartInfo]:
        """Begin reading :meth:`start_info` (unchecked flows) on the engine thread now, e.g.
        while the front end is still loading; the next such call takes the result."""
        fut = self._ctl.call(self._read_start_info, cli_model, False)
        self._prefetched = (cli_model, fut)
        return fut

    def prefetched_start_info(self, cli_model: str | None = None) -> StartInfo | None:
        """The prefetched start information if it has arrived without error (else None:
        :meth:`start_info` then waits for it or raises its error)."""
        if self._prefetched is None or self._prefetched[0] != cli_model:
            return None
        fut = self._prefetched[1]
        if not fut.done() or fut.exception() is not None:
            return None
        self._prefetched = None
        info: StartInfo = fut.result()
        return info

    def _read_start_info(self, cli_model: str | None, check_flows: bool) -> StartInfo:
        from engine.git.repo import find_repo_root
        from engine.readmodels import start_info

        session = self._ctl.session
        root = session.repo_root if session else find_repo_root(self._ctl.cwd)
        return start_info(root, cli_model, check_flows=check_flows)

    async def start_info(
        self, cli_model: str | None = None, *, check_flows: bool = True
    ) -> StartInfo:
        """Flows (checked unless ``check_flows`` is False), the model that would be used,
        the test command. Reads no store: it may be called before :meth:`open`
        (``NotAGitRepoError`` outside a repository)."""
        pre, self._prefetched = self._prefetched, None
        if pre is not None and pre[0] == cli_model and not check_flows:
            fut = pre[1]
        else:
            fut = self._ctl.call(self._read_start_info, cli_model, check_flows)
        result: StartInfo = await asyncio.wrap_future(fut)
        return result

    async def resumable_runs(self) -> list[RunSummary]:
        """This checkout's paused or crashed runs, newest first."""
        from engine.readmodels import resumable_runs

        return await self._on_engine(resumable_runs)

    async def check_project_flows(self) -> FlowCheck:
        """The project's flow files validated (issues and the names of invalid flows)."""
        from engine.readmodels import check_project_flows

        return await self._on_engine(check_project_flows)

    async def trust_check(self) -> TrustPrompt:
        """Whether this repository's project files are trusted, and what they set."""

        def q(session: Session) -> TrustPrompt:
            from engine.trust import check_trust, describe

            check = check_trust(session.repo_root)
            lines = [] if check.ok else describe(session.repo_root)
            return TrustPrompt(check.state.value, check.ok, check.files, lines)

        return await self._on_engine(q)

    async def trust(self) -> None:
        """Record that the person trusts the project files as they are now."""
        from engine.trust import record_trust

        await self._on_engine(lambda session: record_trust(session.repo_root))

    async def run_summaries(self) -> list[RunSummary]:
        """Every run, newest first (one query per checkout), with the runs of the
        repository's other worktrees (``worktree`` set)."""
        from engine.git.worktree import runs_in_all_worktrees

        return await self._on_engine(runs_in_all_worktrees)

    async def run_view(self, run_id: str) -> RunView:
        """A run's record, plan nodes, stored events and open gate."""
        from engine.readmodels import run_view

        return await self._on_engine(run_view, run_id)

    async def step_prompts(self, step_id: int) -> str:
        """What the model was sent and answered in a step, as text (secrets scrubbed)."""
        from engine.context.prompts import format_step_prompts, step_prompts

        def q(session: Session) -> str:
            calls = step_prompts(session.store, step_id)
            return format_step_prompts(calls) if calls else "(this step made no model calls)"

        return await self._on_engine(q)

    async def pending_gate(self, run_id: str) -> GateRecord | None:
        """The run's open gate, if any."""
        from engine.readmodels import pending_gate

        return await self._on_engine(pending_gate, run_id)

    async def clash_diff(self, run_id: str) -> Diff | None:
        """At a crash gate over files changed since the step wrote them: its version → yours."""
        from engine.readmodels import clash_diff

        return await self._on_engine(clash_diff, run_id)

    async def diff(self, base: int, to: int | None, *, first_files: int | None = None) -> Diff:
        """Checkpoint ``base`` → checkpoint ``to`` (None: the live working tree).

        ``first_files``: read the hunks of only the first that many files now (a viewer
        reads the others with :meth:`load_hunks` as it shows them); None: every file's.
        """

        def q(session: Session) -> Diff:
            # Hunks are read here, on the engine thread, not when the UI first walks them.
            diff = session.checkpoints.diff(base, to)
            return diff.load_hunks(None if first_files is None else diff.files[:first_files])

        return await self._on_engine(q)

    async def load_hunks(self, diff: Diff, files: Sequence[FileDiff]) -> None:
        """Read the hunks of ``files`` (of ``diff``, listed by :meth:`diff` or
        :meth:`run_diff`) that are still waiting: one ``git diff`` of their paths.

        Off the engine thread: it reads git objects the engine never rewrites, so a
        step in progress does not hold up the diff a person is scrolling.
        """
        await asyncio.to_thread(diff.load_hunks, list(files))

    async def run_diff(
        self, run_id: str, *, to_head: bool = False, first_files: int | None = None
    ) -> RangeDiff | None:
        """The run's whole change: first checkpoint → working tree (or its head);
        ``first_files`` as for :meth:`diff`."""
        from engine.readmodels import run_diff

        return await self._on_engine(run_diff, run_id, to_head=to_head, first_files=first_files)

    async def rewind_preview(self, run_id: str, checkpoint_id: int) -> RewindPreview:
        """What rewinding to ``checkpoint_id`` would change on disk."""
        from engine.readmodels import rewind_preview

        return await self._on_engine(rewind_preview, run_id, checkpoint_id)

    # -- runs ----------------------------------------------------------------
    async def start_run(
        self,
        flow: str,
        goal: str,
        *,
        model: str | None = None,
        autonomy: str = "review",
        budget: float | None = None,
        breakpoints: list[str] | None = None,
        single_step: bool = False,
        settings: dict[str, Any] | None = None,
        test_command: str | None = None,
    ) -> str:
        """Check the model is usable, create the run (checkpoint 0); its id.

        ``test_command``: the person's test command for this run (instead of the
        configured or detected one); saved to ``.llmflows/config.toml`` when the
        project has none configured yet, as a detected one would be.
        """

        def create(session: Session) -> str:
            from engine.models import check_model_usable, resolve_model_settings
            from engine.run.operations import create_run
            from engine.tools.testdetect import TEST_SETTING, save_test_command
            from engine.trust import require_trust

            require_trust(session.repo_root)  # before anything reads the project's files
            ms = resolve_model_settings(model, session.repo_root)
            check_model_usable(ms)
            chosen = dict(settings or {})
            if test_command and test_command.strip():
                chosen[TEST_SETTING] = test_command.strip()
            run_id = create_run(
                session,
                flow,
                goal,
                model=ms.model,
                model_settings=asdict(ms),
                autonomy=autonomy,
                limits={"max_cost_usd": budget} if budget else None,
                breakpoints=breakpoints,
                single_step=single_step,
                settings=chosen,
            )
            if test_command and test_command.strip():
                save_test_command(session.repo_root, chosen[TEST_SETTING])
            return run_id

        return await self._on_engine(create)

    async def execute(self, run_id: str) -> RunOutcome:
        """Continue the run until it completes, fails, stops or pauses."""
        outcome: RunOutcome = await asyncio.wrap_future(self._ctl.execute(run_id))
        return outcome

    def stop(self) -> None:
        """Cancel the executing run; it ends ``stopped`` at a consistent checkpoint."""
        self._ctl.stop()

    # -- human operations ----------------------------------------------------
    async def answer_gate(
        self,
        run_id: str,
        decision: Decision | str,
        *,
        reason: str = "",
        hunks: set[HunkRef] | None = None,
        reject_hunks: set[HunkRef] | None = None,
        comments: list[tuple[str, int, str]] | None = None,
        tasks_text: str | None = None,
    ) -> GateRecord:
        """Approve / reject (with a reason) / stop at the run's open gate.

        At a review gate approve can keep only ``hunks`` or drop ``reject_hunks``
        (refs with a content key match by content). ``comments`` are line comments
        ``(path, line, text)`` that reach the next prompts with the dropped hunks.
        At a plan gate approve can run ``tasks_text`` instead of the planned tasks
        (the text of :meth:`plan_text`, edited; see :mod:`engine.run.plan_edit`).
        """
        from engine.run.operations import answer_gate
        from engine.run.plan_edit import parse_task_text
        from engine.run.review_notes import LineComment

        return await self._on_engine(
            answer_gate,
            run_id,
            decision,
            reason=reason,
            hunks=hunks,
            reject_hunks=reject_hunks,
            comments=[LineComment(p, n, t) for p, n, t in comments or []],
            tasks=parse_task_text(tasks_text) if tasks_text is not None else None,
        )

    async def plan_text(self, run_id: str) -> str:
        """The run's current task list as editable text (one task per line)."""
        from engine.run.plan_edit import tasks_to_text

        def q(session: Session) -> str:
            run = session.store.get_run(run_id)
            cp = session.store.get_checkpoint(run["head_checkpoint_id"])
            state = session.store.get_blob(cp["state_hash"]) or {}
            return tasks_to_text(state.get("plan", {}).get("tasks", []))

        return await self._on_engine(q)

    async def always_allow(self, run_id: str, scope: str, prefix: str = "") -> str:
        """At a command gate: remember ``prefix`` here (``project``) or for the person
        (``user``) so matching commands stop asking; returns the prefix kept."""
        from engine.tools.approval_rules import remember_gate_command

        def q(session: Session) -> str:
            return remember_gate_command(session, run_id, scope, prefix).prefix

        return await self._on_engine(q)

    async def approval_rules(self) -> ApprovalRules:
        """The remembered "always allow" rules that apply in this repository."""
        from engine.readmodels import approval_rules

        return await self._on_engine(approval_rules)

    async def remove_approval_rule(self, prefix: str, scope: str) -> bool:
        """Forget a remembered rule (``project`` or ``user``); False if it was not there.
        The file's other entries and comments stay as they were."""
        from engine.tools.approval_rules import remove_rule

        def q(session: Session) -> bool:
            return remove_rule(prefix, scope, session.repo_root)

        return await self._on_engine(q)

    async def commit_run(self, run_id: str, branch: str | None = None) -> tuple[str, str]:
        """Commit a completed run's change (the person's identity, Co-authored-by the
        model); ``(sha, branch)``."""
        from engine.git.commit import commit_run

        def q(session: Session) -> tuple[str, str]:
            done = commit_run(session, run_id, branch=branch)
            return done.sha, done.branch

        return await self._on_engine(q)

    async def rewind(self, run_id: str, checkpoint_id: int) -> RewindResult:
        """Restore the tree to a checkpoint (current files kept in an undo checkpoint)."""
        from engine.run.operations import rewind

        res = await self._on_engine(rewind, run_id, checkpoint_id)
        return RewindResult(checkpoint_id, res.get("undo_checkpoint"))

    async def undo_rewind(self, run_id: str, undo_checkpoint: int) -> RewindResult:
        """Go back to the files a rewind replaced (its undo checkpoint)."""
        return await self.rewind(run_id, undo_checkpoint)

    async def retry(
        self, checkpoint_id: int, *, instruction: str = "", model: str | None = None
    ) -> None:
        """Redo the step that made ``checkpoint_id`` (optionally steered / another model)."""
        from engine.run.operations import retry

        await self._on_engine(retry, checkpoint_id, instruction=instruction, model=model)

    async def fork(self, checkpoint_id: int) -> str:
        """A new run starting from any checkpoint; its id."""
        from engine.run.operations import fork

        return await self._on_engine(fork, checkpoint_id)

    async def reopen(self, run_id: str) -> None:
        """Make a stopped run continuable (announced as a status change)."""
        from engine.run.operations import reopen

        await self._on_engine(reopen, run_id)

    async def resume(self, run_id: str) -> GateRecord | None:
        """Reopen a stopped run; the gate it waits at (None: ready to execute)."""
        from engine.readmodels import pending_gate
        from engine.run.operations import reopen

        def prep(session: Session) -> GateRecord | None:
            from engine.trust import require_trust

            require_trust(session.repo_root)
            reopen(session, run_id)
            return pending_gate(session, run_id)

        return await self._on_engine(prep)

    async def message_agent(self, run_id: str, text: str) -> None:
        """At a pause: a message that reaches the next model call as an instruction."""
        from engine.run.operations import message_agent

        await self._on_engine(message_agent, run_id, text)

    async def follow_up(self, run_id: str, goal: str) -> str:
        """A new run linked to a finished one, starting from its final tree; its id."""
        from engine.run.operations import follow_up

        return await self._on_engine(follow_up, run_id, goal)

    async def checkpoint_tests(self, checkpoint_id: int) -> dict[str, Any]:
        """The test result recorded in a checkpoint's run state ({} when none)."""

        def q(session: Session) -> dict[str, Any]:
            cp = session.store.get_checkpoint(checkpoint_id)
            state = session.store.get_blob(cp["state_hash"]) if cp and cp.get("state_hash") else {}
            return dict((state or {}).get("tests") or {})

        return await self._on_engine(q)

    async def checkpoint_spent(self, checkpoint_id: int) -> float:
        """USD the run had spent on model calls when the checkpoint was made (0 if unknown)."""

        def q(session: Session) -> float:
            cp = session.store.get_checkpoint(checkpoint_id)
            if not cp or not cp.get("run_id"):
                return 0.0
            spent = session.store.run_cost(cp["run_id"], until=cp["created_at"])
            return float(spent["cost_usd"])

        return await self._on_engine(q)

    async def set_flags(
        self,
        run_id: str,
        *,
        breakpoints: list[str] | None = None,
        single_step: bool | None = None,
    ) -> RunFlags:
        """Change breakpoints and/or single-step mode (from the next node on)."""
        from engine.run.operations import set_run_flags

        return await self._on_engine(
            set_run_flags, run_id, breakpoints=breakpoints, single_step=single_step
        )
