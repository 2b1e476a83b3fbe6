"""The main screen: plan tree | diff viewer | tests + cost + model output, live.

Engine events arrive as :class:`tui.messages.EngineEvent` (posted from the
engine thread by the app) and are applied to the panes here. Every engine call
goes through ``self.app.engine_call`` in a worker, so keys keep answering while
the run is busy. Review keys act on the open gate; rewind/retry act on the
checkpoint selected in the plan tree.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Log

from engine.records import FINISHED, GateKind, GateRecord, RunRecord
from tui.messages import EngineEvent, RunEnded, TreeChanged
from tui.screens.modals import ConfirmModal, EditorModal, ReasonModal, RetryModal, language_for
from tui.widgets.cost_meter import CostMeter
from tui.widgets.diff_view import DiffView
from tui.widgets.file_list import FileList
from tui.widgets.plan_tree import PlanTree
from tui.widgets.status_line import StatusLine
from tui.widgets.test_output import TestOutput

if TYPE_CHECKING:
    from textual import getters

    from tui.app import LlmflowsApp


def _ignore_path(path: str, root: str) -> bool:
    rel = os.path.relpath(path, root)
    first = rel.split(os.sep, 1)[0]
    return first in (".git", ".llmflows") or rel.endswith("~") or "__pycache__" in rel


class MainScreen(Screen):
    """One run, live (or read-only for a finished run opened from history)."""

    if TYPE_CHECKING:
        app = getters.app(LlmflowsApp)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject"),
        Binding("e", "edit", "Edit"),
        Binding("j", "next_hunk", "Next hunk", show=False, priority=True),
        Binding("k", "prev_hunk", "Prev hunk", show=False, priority=True),
        Binding("space", "toggle_hunk", "Toggle hunk", priority=True),
        Binding("b", "rewind", "Rewind"),
        Binding("u", "undo_rewind", "Undo rewind"),
        Binding("R", "retry", "Retry"),
        Binding("c", "continue_run", "Continue"),
        Binding("s", "stop", "Stop"),
        Binding("B", "toggle_breakpoint", "Breakpoint", show=False),
        Binding("S", "toggle_single_step", "Single-step", show=False),
        Binding("f", "fork", "Fork"),
        Binding("h", "history", "History"),
        Binding("escape", "back", "Back", show=False),
    ]

    KEY_HELP: ClassVar[list[tuple[str, str]]] = [
        ("a", "approve the open gate (only accepted hunks are kept)"),
        ("r", "reject with a reason (sent to the model)"),
        ("j / k", "next / previous hunk"),
        ("space", "accept / reject the current hunk"),
        ("n / p", "next / previous file"),
        ("v", "unified / split diff"),
        ("e", "edit the current file ($EDITOR, or the in-app editor)"),
        ("b", "rewind to the checkpoint selected in the plan tree"),
        ("u", "undo the last rewind"),
        ("R", "retry from the selected checkpoint with an instruction"),
        ("c", "continue a paused or stopped run"),
        ("s", "stop the run"),
        ("B", "toggle a breakpoint on the selected flow node"),
        ("S", "toggle single-step mode"),
        ("f", "fork a new run from the selected checkpoint"),
        ("h", "history of runs"),
        ("escape", "back (read-only view)"),
    ]

    def __init__(self, run_id: str, *, read_only: bool = False) -> None:
        super().__init__()
        self.run_id = run_id
        self.read_only = read_only
        self.run: RunRecord | None = None
        self.status = "…"
        self.node: str | None = None
        self.gate: GateRecord | None = None
        self.diff_range: tuple[int | None, int | None] | None = None
        self.edited = False
        self.busy = False
        self.breakpoints: set[str] = set()
        self.single_step = False
        self.last_undo: int | None = None
        self.cp_parent: dict[int, int | None] = {}
        self.tokens = 0
        self.message = ""
        self._replayed = False
        self._max_seq = 0
        self._pending: list[Any] = []
        self._stop_watch: asyncio.Event | None = None
        self._wrap = StreamWrap()
        self.gate_ready = False
        self._token_buf: list[str] = []
        self._token_flush_pending = False

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            yield PlanTree(id="plan")
            with Vertical(id="center"):
                yield FileList(id="files")
                yield DiffView(id="diff")
            with Vertical(id="right"):
                yield CostMeter(id="cost")
                yield TestOutput(id="tests")
                yield Log(id="tokens", max_lines=2000)
        yield StatusLine(id="status", clock=self.app.clock)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#plan").border_title = "Plan"
        self.query_one("#files").border_title = "Files"
        self.query_one("#diff").border_title = "Diff"
        self.query_one("#tests").border_title = "Tests"
        self.query_one("#cost").border_title = "Cost"
        self.query_one("#tokens").border_title = "Model output"
        self.query_one("#plan").focus()
        self.query_one("#status", StatusLine).set_autonomy(self.app.autonomy)
        self.load()

    @property
    def diff_view(self) -> DiffView:
        return self.query_one("#diff", DiffView)

    @property
    def plan(self) -> Any:
        return self.query_one("#plan")

    # ------------------------------------------------------------------ loading
    @work(group="load")
    async def load(self) -> None:
        """Show the flow, replay the run's stored events, then apply live ones."""
        run_id = self.run_id
        try:
            data = await self.app.api.run_view(run_id)
        except Exception as e:
            self.app.notify(f"could not load run {run_id}: {e}", severity="error")
            return
        run = self.run = data.run
        config = run.config
        self.breakpoints = set(config.get("breakpoints") or [])
        self.single_step = bool(config.get("single_step"))
        self.status = run.status
        tree = self.plan
        if data.nodes:
            tree.set_flow_nodes([(n.id, n.kind, n.description) for n in data.nodes])
        self.query_one("#status", StatusLine).set_autonomy(run.autonomy)
        limits = config.get("limits") or {}
        cost = self.query_one("#cost")
        if hasattr(cost, "set_budget"):
            cost.set_budget(limits.get("max_cost_usd"))
        for ev in data.events:
            self._max_seq = max(self._max_seq, ev.seq or 0)
            self.apply(ev, replay=True)
        self._replayed = True
        for ev in self._pending:
            if ev.seq is None or ev.seq > self._max_seq:
                self.apply(ev)
        self._pending.clear()
        self.status = run.status
        if data.gate is not None and not self.read_only:
            self._gate_opened(data.gate)
        elif self.read_only:
            self._show_run_diff()
            # replayed events would time the run by today's clock: use its stored times
            self.query_one("#status", StatusLine).set_span(run.created_at, run.finished_at)
        self._render_status()

    def on_engine_event(self, message: EngineEvent) -> None:
        ev = message.event
        if ev.run_id != self.run_id:
            return
        if not self._replayed:
            self._pending.append(ev)
            return
        self.apply(ev)

    # ------------------------------------------------------------------ events
    def apply(self, ev: Any, replay: bool = False) -> None:
        """Apply one engine event to the panes (live or replayed from the store)."""
        t = ev.type
        if t == "token":
            # Streams can be thousands of events a second: batch the pane writes.
            self.tokens += 1
            self._token_buf.append(ev.text)
            if not self._token_flush_pending:
                self._token_flush_pending = True
                self.set_timer(0.05, self._flush_tokens)
            return
        self.plan.apply_event(ev)
        self.query_one("#status", StatusLine).apply_event(ev)
        if t in ("test_output", "test_result"):
            self.query_one("#tests", TestOutput).apply_event(ev)
        elif t == "cost":
            self.query_one("#cost", CostMeter).apply_event(ev)
            self._end_token_line()  # one model answer per line block
        elif t == "tool_call":
            args = ", ".join(
                f"{k}={str(v)[:30]}".replace("\n", "⏎") for k, v in ev.arguments.items()
            )
            self._token_line(f"  → {ev.name}({args})" + ("" if ev.ok else "  ✗ " + ev.summary[:60]))
        elif t == "checkpoint":
            self.cp_parent[ev.checkpoint_id] = ev.parent_id
        elif t == "step_started":
            self.node = ev.node
            self.tokens = 0
            self._token_line(f"── {ev.node} (attempt {ev.attempt})")
        elif t == "step_finished":
            if ev.error:
                self._token_line(f"   {ev.status}: {ev.error}")
        elif t == "run_status":
            self.status = ev.status
            if ev.node:
                self.node = ev.node
            self.message = ev.reason
            if ev.status == "running":
                self.gate = None
        elif t == "diff_ready" and not replay:
            if self.gate is None:
                self._load_diff(ev.from_checkpoint, ev.to_checkpoint)
        elif t == "gate_opened" and not replay and not self.read_only:
            self._fetch_gate()
        elif t == "gate_answered":
            if self.gate is not None and self.gate.id == ev.gate_id:
                self.gate = None
                self._stop_watching()
        elif t == "log" and ev.level in ("warning", "error") and not replay:
            self.notify(ev.message, severity="error" if ev.level == "error" else "warning")
        if not replay:
            self._render_status()
            self.refresh_bindings()

    def _flush_tokens(self) -> None:
        self._token_flush_pending = False
        if self._token_buf:
            text, self._token_buf = "".join(self._token_buf), []
            self._write_tokens(text)
            self._render_status()

    def _end_token_line(self) -> None:
        self._flush_tokens()
        log = self.query_one("#tokens", Log)
        log.write(self._wrap.flush(self._token_width()))
        if self._wrap.col:
            log.write("\n")
            self._wrap.col = 0

    def _token_line(self, line: str) -> None:
        self._end_token_line()
        self.query_one("#tokens", Log).write(line + "\n")

    def _token_width(self) -> int:
        log = self.query_one("#tokens", Log)
        return max(20, log.scrollable_content_region.width - 1)

    def _write_tokens(self, text: str) -> None:
        """Append streamed text, wrapped at word boundaries to the pane (Log does not wrap)."""
        self.query_one("#tokens", Log).write(self._wrap.feed(text, self._token_width()))

    @work(group="gate")
    async def _fetch_gate(self) -> None:
        gate = await self.app.api.pending_gate(self.run_id)
        if gate is not None:
            self._gate_opened(gate)

    def _gate_opened(self, gate: GateRecord) -> None:
        self.gate = gate
        self.gate_ready = False
        self.status = "paused"
        self.node = gate.node or self.node
        payload = gate.payload or {}
        if gate.kind == GateKind.REVIEW and payload.get("base_checkpoint_id") is not None:
            self._load_diff(payload["base_checkpoint_id"], None)
        else:
            self._show_run_diff()
        self.diff_view.focus()
        self._start_watching()
        self._render_status()
        self.refresh_bindings()

    def on_run_ended(self, message: RunEnded) -> None:
        self.busy = False
        if message.error is not None:
            self.notify(f"run error: {message.error}", severity="error", timeout=10)
        elif message.outcome is not None:
            self.status = message.outcome.status
            if message.outcome.status in FINISHED:
                self.message = message.outcome.reason or f"run {message.outcome.status}"
                self._show_run_diff()
        self._render_status()
        self.refresh_bindings()

    # ------------------------------------------------------------------ diff
    @work(group="diff", exclusive=True)
    async def _load_diff(self, a: int | None, b: int | None, keep_rejected: bool = False) -> None:
        if a is None:
            return
        diff = await self.app.api.diff(a, b)
        self._set_diff(diff, (a, b), keep_rejected)

    def _set_diff(self, diff: Any, rng: tuple[int | None, int | None], keep: bool) -> None:
        view = self.diff_view
        accepted = None
        if keep and self.diff_range == rng:
            # by content: an edit above a rejected hunk shifts indexes, not the choice
            gone = {r.key for r in view.diff.keyed(view.rejected_hunks())}
            accepted = {r for r in diff.refs() if r.key not in gone}
        self.diff_range = rng
        view.set_diff(diff, accepted)
        # The review diff of an open gate is on screen (tests and keys can rely on it).
        self.gate_ready = self.gate is not None and rng[1] is None
        self.query_one("#files", FileList).set_diff(diff)
        self._sync_rejected()
        label = f"Diff cp {rng[0]} → {'working tree' if rng[1] is None else f'cp {rng[1]}'}"
        label += f"  +{diff.additions} -{diff.deletions}"
        view.border_title = label

    @work(group="diff", exclusive=True)
    async def _show_run_diff(self) -> None:
        """The whole change of the run so far: checkpoint 0 → working tree (or head)."""

        res = await self.app.api.run_diff(self.run_id, to_head=self.read_only)
        if res is not None:
            self._set_diff(res.diff, (res.base, res.to), False)

    @on(FileList.FileSelected)
    def _file_selected(self, event: Any) -> None:
        self.diff_view.jump_to_file(event.path)
        self.diff_view.focus()

    @on(PlanTree.CheckpointSelected)
    def _checkpoint_highlighted(self, event: PlanTree.CheckpointSelected) -> None:
        if self.gate is not None:
            return  # the review diff stays while a gate is open
        cp = event.checkpoint_id
        if self.cp_parent.get(cp) is not None:
            self._load_diff(self.cp_parent[cp], cp)

    @on(DiffView.HunkToggled)
    def _hunk_toggled(self, event: DiffView.HunkToggled) -> None:
        path = event.ref.path  # one toggle changes one file's row, whatever the diff size
        count = self.diff_view.rejected_in_file(path)
        self.query_one("#files", FileList).set_rejected_count(path, count)

    @on(DiffView.CurrentHunkChanged)
    def _current_hunk(self, event: DiffView.CurrentHunkChanged) -> None:
        if event.ref is not None:
            self.query_one("#files", FileList).highlight_path(event.ref.path)

    def _sync_rejected(self) -> None:
        counts: dict[str, int] = {}
        for ref in self.diff_view.rejected_hunks():
            counts[ref.path] = counts.get(ref.path, 0) + 1
        self.query_one("#files", FileList).set_rejected_counts(counts)

    # ------------------------------------------------------------------ watching
    def _start_watching(self) -> None:
        if self._stop_watch is not None or self.read_only:
            return
        self._stop_watch = asyncio.Event()
        self._watch(self._stop_watch)

    def _stop_watching(self) -> None:
        if self._stop_watch is not None:
            self._stop_watch.set()
            self._stop_watch = None

    @work(group="watch")
    async def _watch(self, stop: asyncio.Event) -> None:
        """Edits in the user's own editor while paused show up in the diff."""
        from watchfiles import awatch

        root = str(self.app.repo_root)
        try:
            async for changes in awatch(
                root,
                stop_event=stop,
                watch_filter=lambda _c, p: not _ignore_path(p, root),
                debounce=200,
                step=50,
            ):
                paths = sorted({os.path.relpath(p, root) for _c, p in changes})
                self.post_message(TreeChanged(paths))
        except Exception:  # the watcher is a convenience; never take the screen down
            return

    def on_tree_changed(self, message: TreeChanged) -> None:
        self.refresh_diff()

    def refresh_diff(self) -> None:
        """Recompute the diff on show against the live tree (keeps hunk choices)."""
        if self.diff_range is not None and self.diff_range[1] is None:
            self.edited = True
            self._load_diff(self.diff_range[0], None, keep_rejected=True)

    # ------------------------------------------------------------------ status
    def _render_status(self) -> None:
        """Extra status-line message (the StatusLine itself follows the events)."""
        if self.read_only:
            msg = "read-only: escape back · f fork from the selected checkpoint"
        elif self.gate is not None:
            prompt = (self.gate.prompt or "").splitlines()
            msg = f"{self.gate.kind}: {prompt[0] if prompt else ''}"
        elif self.status == "running" and self.tokens:
            msg = f"streaming… {self.tokens} chunks"
        elif self.message:
            msg = self.message
        else:
            msg = ""
        if self.single_step:
            msg = f"[single-step] {msg}"
        try:
            status = self.query_one("#status", StatusLine)
        except Exception:
            return
        if status.message != msg:
            status.set_message(msg)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only what can be done now is active (and shown in the footer and the palette).

        The footer has room for about ten keys at 120 columns: keys that do nothing in
        the current state are hidden rather than dimmed.
        """
        at_gate = self.gate is not None
        idle = not self.busy
        if self.read_only:
            if action in ("approve", "reject", "edit", "rewind", "retry", "continue_run", "stop"):
                return False
            if action in ("toggle_hunk", "undo_rewind", "toggle_breakpoint", "toggle_single_step"):
                return False
            return True
        if action in ("approve", "reject", "toggle_hunk"):
            return at_gate
        if action == "continue_run":
            return idle and not at_gate and self.status not in ("completed", "failed", "…")
        if action == "stop":
            return self.busy or at_gate
        if action == "undo_rewind":
            return idle and self.last_undo is not None
        if action == "fork":
            return idle and not at_gate  # at a gate: decide first (keeps the footer short)
        if action in ("edit", "rewind", "retry"):
            return idle
        if action == "back":
            return False
        return True

    # ------------------------------------------------------------------ review
    def _require_gate(self) -> GateRecord | None:
        if self.gate is None:
            self.notify("Nothing to answer: the run is not waiting at a gate.")
        return self.gate

    def action_next_hunk(self) -> None:
        self.diff_view.next_hunk()

    def action_prev_hunk(self) -> None:
        self.diff_view.prev_hunk()

    def action_toggle_hunk(self) -> None:
        self.diff_view.toggle_current_hunk()

    def action_approve(self) -> None:
        gate = self._require_gate()
        if gate is None:
            return
        drop = None
        view = self.diff_view
        if gate.kind == GateKind.REVIEW and view.rejected_hunks() and view.diff is not None:
            # by content: the engine finds the very hunks shown here, whatever their index
            drop = view.diff.keyed(view.rejected_hunks())
        self._answer("approve", reject_hunks=drop)

    def action_reject(self) -> None:
        if self._require_gate() is None:
            return

        def done(reason: str | None) -> None:
            if reason:
                self._answer("reject", reason=reason)

        self.app.push_screen(
            ReasonModal("Reject: why? (the model sees this)", "e.g. keep the public API"), done
        )

    @work(group="answer")
    async def _answer(self, decision: str, *, reason: str = "", reject_hunks: Any = None) -> None:
        gate = self.gate
        if gate is None:
            return
        try:
            await self.app.api.answer_gate(
                self.run_id, decision, reason=reason, reject_hunks=reject_hunks
            )
        except Exception as e:
            self.notify(f"could not {decision}: {e}", severity="error")
            return
        self.gate = None
        self.edited = False
        self._stop_watching()
        kept = f" ({len(reject_hunks)} hunk(s) dropped)" if reject_hunks else ""
        done = {
            "approve": "approved",
            "reject": "rejected (the reason goes to the model)",
            "stop": "stopped",
        }
        self.notify(done.get(decision, decision) + kept)
        if decision != "stop":
            self.execute()
        self.refresh_bindings()

    def execute(self) -> None:
        """Continue the run from its head (in the engine thread)."""
        if self.read_only:
            return
        self.busy = True
        self.status = "running"
        self.app.execute_run(self.run_id)
        self.refresh_bindings()

    # ------------------------------------------------------------------ edit
    def action_edit(self) -> None:
        path = self.diff_view.current_file()
        if path is None:
            self.notify("No file selected in the diff.")
            return
        self._edit(path)

    @work(group="edit", exclusive=True)
    async def _edit(self, rel: str) -> None:
        full = Path(self.app.repo_root or ".") / rel
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if editor:
            try:
                with self.app.suspend():
                    subprocess.call([*shlex.split(editor), str(full)])
            except Exception as e:  # suspend not supported (e.g. headless): in-app editor
                self.notify(f"$EDITOR unavailable here ({e}); using the in-app editor")
            else:
                self.refresh_diff()
                return
        text = full.read_text(encoding="utf-8", errors="replace") if full.exists() else ""
        new = await self.app.push_screen_wait(EditorModal(rel, text, language_for(rel)))
        if new is not None and new != text:
            full.parent.mkdir(parents=True, exist_ok=True)
            full.write_text(new, encoding="utf-8")
            self.notify(f"saved {rel}: your edit becomes part of this step")
            self.refresh_diff()

    # ------------------------------------------------------------------ rewind / retry
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

    @work(group="rewind", exclusive=True)
    async def _confirm_rewind(self, cp: int) -> None:
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
        try:
            res = await self.app.api.rewind(self.run_id, cp)
        except Exception as e:
            self.notify(f"{'undo' if undo else 'rewind'} failed: {e}", severity="error")
            return
        self.gate = None
        self._stop_watching()
        # The pre-restore checkpoint reaches the plan tree as the engine's CheckpointMade.
        self.last_undo = res.undo_checkpoint
        self.status = "paused"
        if undo:
            msg = f"Rewind undone: files are back as they were (checkpoint {cp})."
        else:
            msg = f"Rewound to checkpoint {cp}. Your files before it are in checkpoint "
            msg += f"{self.last_undo}: u undoes, c continues from here."
        self.notify(msg, timeout=10)
        self._show_run_diff()
        self._render_status()
        self.refresh_bindings()

    def action_undo_rewind(self) -> None:
        if self.last_undo is None:
            self.notify("No rewind to undo.")
            return
        self._undo(self.last_undo)

    @work(group="rewind", exclusive=True)
    async def _undo(self, cp: int) -> None:
        await self._rewind(cp, undo=True)

    def action_retry(self) -> None:
        if self.busy:
            self.notify("Stop the run first (s).", severity="warning")
            return
        cp = self._selected_cp()
        if cp is not None:
            self._retry(cp)

    @work(group="retry", exclusive=True)
    async def _retry(self, cp: int) -> None:
        model = self.run.model if self.run is not None else ""
        opts = await self.app.push_screen_wait(RetryModal(cp, model or ""))
        if opts is None:
            return
        try:
            await self.app.api.retry(cp, instruction=opts["instruction"], model=opts["model"])
        except Exception as e:
            self.notify(f"retry failed: {e}", severity="error")
            return
        self.gate = None
        self._stop_watching()
        self.notify(f"retrying from checkpoint {cp}")
        self.execute()

    # ------------------------------------------------------------------ run control
    def action_stop(self) -> None:
        if self.busy:
            self.app.api.stop()
            self.notify("stopping…")
        elif self.gate is not None:
            self._answer("stop", reason="stopped by the user")
        else:
            self.notify("The run is not running.")

    def action_continue_run(self) -> None:
        if self.busy:
            self.notify("The run is already running.")
        elif self.gate is not None:
            self.notify("The run waits at a gate: a approves, r rejects.")
        elif self.status in ("completed", "failed"):
            self.notify(f"The run has {self.status}.")
        else:
            self._continue()

    @work(group="answer")
    async def _continue(self) -> None:
        if self.status == "stopped":
            # a stopped run continues like `resume`: paused first, then execute
            await self.app.api.reopen(self.run_id)
        self.execute()

    def action_toggle_breakpoint(self) -> None:
        node = self._selected_flow_node()
        if node is None:
            self.notify("Select a flow node in the plan tree first.")
            return
        if node in self.breakpoints:
            self.breakpoints.discard(node)
        else:
            self.breakpoints.add(node)
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
        self._render_status()

    @work(group="flags")
    async def _save_run_flags(self) -> None:
        if not self.read_only:
            await self.app.api.set_flags(
                self.run_id, breakpoints=sorted(self.breakpoints), single_step=self.single_step
            )

    def action_history(self) -> None:
        self.app.action_history()

    def action_back(self) -> None:
        if self.read_only:
            self.dismiss()

    def action_fork(self) -> None:
        """Start a new run from the checkpoint selected in the plan tree."""
        cp = self.plan.selected_checkpoint()
        if cp is None:
            self.notify("Select a checkpoint in the plan tree first.")
            return
        self.app.fork_run(cp)


class StreamWrap:
    """Word wrapping for text that arrives in pieces (model tokens).

    :meth:`feed` returns what can be written now: whole words, with a newline put
    before a word that would cross ``width``; the word still being streamed waits
    for its end (or :meth:`flush`). Words longer than a line are cut.
    """

    def __init__(self) -> None:
        self.col = 0
        self.word = ""
        self.soft = False  # the current line began with a wrap (not a newline)

    def _place(self, width: int) -> str:
        word, self.word = self.word, ""
        if not word:
            return ""
        out = []
        if self.col and self.col + len(word) > width:
            out.append("\n")
            self.col = 0
        while self.col + len(word) > width:
            cut = width - self.col
            out.append(word[:cut] + "\n")
            word, self.col = word[cut:], 0
        out.append(word)
        self.col += len(word)
        self.soft = False
        return "".join(out)

    def feed(self, text: str, width: int) -> str:
        out: list[str] = []
        for ch in text:
            if ch == "\n":
                out.append(self._place(width) + "\n")
                self.col, self.soft = 0, False
            elif ch in " \t":
                out.append(self._place(width))
                if self.col >= width:
                    out.append("\n")  # the space ends the line
                    self.col, self.soft = 0, True
                elif self.col or not self.soft:  # indentation kept, not after a soft break
                    out.append(" ")
                    self.col += 1
            else:
                self.word += ch
                if len(self.word) >= width:
                    out.append(self._place(width))
        return "".join(out)

    def flush(self, width: int) -> str:
        return self._place(width)


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
