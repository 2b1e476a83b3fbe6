"""The timeline part of the main screen: rewind / undo, retry, fork, and run control
(continue, step, stop, breakpoints, single-step).

A mixin of :class:`tui.screens.main.MainScreen`; rewind / retry / fork act on the
checkpoint selected in the plan tree, breakpoints on the flow node selected there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work

from engine.records import GateRecord, RunRecord
from tui.screens.modals import ConfirmModal, RetryModal

if TYPE_CHECKING:
    from tui.widgets.plan_tree import PlanTree


class TimelinePart:
    """Going back and forth in a run's history, and driving it (mixed into MainScreen)."""

    # provided by MainScreen
    run_id: str
    read_only: bool
    gate: GateRecord | None
    status: str
    busy: bool
    stopping: bool
    single_step: bool
    last_undo: int | None
    breakpoints: set[str]
    run: RunRecord | None
    app: Any

    if TYPE_CHECKING:

        def notify(self, message: str, **kw: Any) -> None: ...
        def execute(self) -> None: ...
        def _stop_watching(self) -> None: ...
        def _answer(self, decision: str, **kw: Any) -> Any: ...
        def _after_rewind(self, checkpoint_id: int) -> None: ...
        def _gate_opened(self, gate: GateRecord) -> None: ...
        @property
        def plan(self) -> PlanTree: ...
        @property
        def gate_kind(self) -> str | None: ...

    # ------------------------------------------------------------------ rewind / undo
    def _selected_cp(self) -> int | None:
        cp = self.plan.selected_checkpoint()
        if cp is None:
            self.notify("Select a checkpoint (◆) in the plan tree first.")
        return cp

    def action_rewind(self) -> None:
        if self.busy:
            self.notify("Stop the run first (s).", severity="warning")
            return
        cp = self._selected_cp()
        if cp is not None:
            self._confirm_rewind(cp)

    @work(group="rewind", exclusive=True, exit_on_error=False)
    async def _confirm_rewind(self, cp: int) -> None:
        # target vs the tree as it is now: what will change on disk
        preview = await self.app.api.rewind_preview(self.run_id, cp)
        diff, head = preview.diff, preview.head
        body = Text()
        body.append(f"Restore the working tree to checkpoint {cp} (head is {head}).\n")
        body.append("Your current files are kept in an undo checkpoint first.\n\n")
        if not diff.files:
            body.append("No file changes: only the run's position moves.\n")
        for f in diff.files:
            body.append(f"  {f.path}", style="bold")
            body.append(f"  {rewind_effect(f)}\n", style="dim")
        ok = await self.app.push_screen_wait(ConfirmModal(f"Rewind to checkpoint {cp}?", body))
        if ok:
            await self._rewind(cp)

    async def _rewind(self, cp: int, undo: bool = False) -> None:
        res = await self.app.api.rewind(self.run_id, cp)
        self.gate = None
        self._stop_watching()
        self.last_undo = res.undo_checkpoint
        self.status = "paused"
        if undo:
            msg = f"Undone: the files are as they were before the last rewind (checkpoint {cp}); "
            msg += f"u again undoes this too (checkpoint {self.last_undo})."
        else:
            msg = f"Rewound to checkpoint {cp}. Your files before it are in checkpoint "
            msg += f"{self.last_undo}: u undoes, c continues from here."
        # short: the status line keeps "rewound to …: c continues with …" on screen; the
        # previous rewind's notice would now say something untrue
        self.app.clear_notifications()
        self.notify(msg, timeout=6)
        self._after_rewind(cp)
        # Back where a gate was open (an undo at a review): it is asked again. Read it
        # here: its GateOpened event may have been handled before `gate = None` above.
        reopened = await self.app.api.pending_gate(self.run_id)
        if reopened is not None:
            self._gate_opened(reopened)

    def action_undo_rewind(self) -> None:
        if self.last_undo is None:
            self.notify("No rewind to undo.")
            return
        self._undo(self.last_undo)

    @work(group="rewind", exclusive=True, exit_on_error=False)
    async def _undo(self, cp: int) -> None:
        await self._rewind(cp, undo=True)

    # ------------------------------------------------------------------ retry / fork
    def action_retry(self) -> None:
        if self.busy:
            self.notify("Stop the run first (s).", severity="warning")
            return
        cp = self._selected_cp()
        if cp is not None:
            self._retry(cp)

    @work(group="retry", exclusive=True, exit_on_error=False)
    async def _retry(self, cp: int) -> None:
        model = self.run.model if self.run is not None else ""
        opts = await self.app.push_screen_wait(RetryModal(cp, model or ""))
        if opts is None:
            return
        await self.app.api.retry(cp, instruction=opts["instruction"], model=opts["model"])
        self.gate = None
        self._stop_watching()
        self.notify(f"retrying from checkpoint {cp}")
        self.execute()

    def action_fork(self) -> None:
        """Start a new run from the checkpoint selected in the plan tree."""
        cp = self._selected_cp()
        if cp is not None:
            self.app.fork_run(cp)

    # ------------------------------------------------------------------ run control
    def action_stop(self) -> None:
        if self.busy:
            self.app.api.stop()
            self.stopping = True
            self.notify("stop requested: the run stops at the next safe point")
        elif self.gate is not None:
            self._answer("stop", reason="stopped by the user")
        else:
            self.notify("The run is not running.")

    def action_continue_run(self) -> None:
        if self.busy:
            self.notify("The run is already running.")
        elif self.gate is not None and self.gate_kind != "breakpoint":
            self.notify("The run waits for a decision: a approves, r rejects.")
        elif self.status in ("completed", "failed"):
            self.notify(f"The run has {self.status}: m asks a follow-up.")
        else:
            self._continue(step=False)

    def action_step(self) -> None:
        """At a breakpoint / single-step pause: run the next node, then pause again."""
        if self.gate_kind != "breakpoint":
            self.notify("Step works at a breakpoint or single-step pause.")
            return
        self._continue(step=True)

    @work(group="answer", exit_on_error=False)
    async def _continue(self, step: bool) -> None:
        if self.gate_kind == "breakpoint":
            if step != self.single_step:
                self.single_step = step
                await self._save_flags()
            await self._answer("approve").wait()
            return
        if self.status == "stopped":
            # a stopped run continues like `resume`: paused first, then execute
            await self.app.api.reopen(self.run_id)
        self.execute()

    def action_toggle_breakpoint(self) -> None:
        node = self._selected_flow_node()
        if node is None:
            self.notify("Select a flow node in the plan tree first.")
            return
        self.breakpoints = self.breakpoints ^ {node}
        self.plan.set_breakpoints(self.breakpoints)
        self._save_run_flags()
        on_off = "on" if node in self.breakpoints else "off"
        bps = ", ".join(sorted(self.breakpoints)) or "none"
        self.notify(f"breakpoint {on_off}: {node} (breakpoints: {bps})")

    def _selected_flow_node(self) -> str | None:
        """The flow node under (or above) the plan tree's cursor."""
        node = self.plan.cursor_node
        while node is not None:
            item = node.data
            if item is not None and item.kind == "flow":
                return str(item.key)
            if item is not None and item.extra.get("node"):
                return str(item.extra["node"])
            node = node.parent
        return None

    def action_toggle_single_step(self) -> None:
        self.single_step = not self.single_step
        self._save_run_flags()
        self.notify(f"single-step {'on' if self.single_step else 'off'}")

    @work(group="flags", exit_on_error=False)
    async def _save_run_flags(self) -> None:
        await self._save_flags()

    async def _save_flags(self) -> None:
        if not self.read_only:
            await self.app.api.set_flags(
                self.run_id, breakpoints=sorted(self.breakpoints), single_step=self.single_step
            )


def rewind_effect(f: Any) -> str:
    """What a rewind does to one file, from ``diff(target, working tree)``."""
    if f.status == "added":  # exists now, not at the checkpoint
        return "deleted (it did not exist then)"
    if f.status == "deleted":
        return "restored (deleted since)"
    if f.status == "renamed":
        return f"renamed back to {f.old_path}"
    if f.binary:
        return "restored to its earlier content (binary)"
    parts = []
    if f.additions:
        parts.append(f"loses {f.additions} line{'s' if f.additions != 1 else ''}")
    if f.deletions:
        parts.append(f"gets back {f.deletions} line{'s' if f.deletions != 1 else ''}")
    return ", ".join(parts) or "mode restored"
