"""The main screen: plan tree | diff viewer | tests + cost + model transcript, live.

Engine events arrive as :class:`tui.messages.EngineEvent` (posted from the engine
thread by the app) and are applied to the panes here. Every engine call runs in a
worker, so keys keep answering while the run is busy; workers never exit the app
on an error (one handler shows it, :meth:`MainScreen.on_worker_state_changed`).

The screen is in parts: :class:`tui.screens.review.ReviewPart` (diff, hunks,
answers, edits, messages), :class:`tui.screens.timeline.TimelinePart` (rewind,
retry, fork, run control) and :class:`tui.widgets.transcript.Transcript` (the model
pane). The screen owns the state they share, as reactives (bindings refresh when it
changes) and the run status on screen (:attr:`status`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from engine.records import ENDED, FINISHED, GateRecord, RunRecord
from tui.messages import EngineEvent, RunEnded
from tui.screens.gate_extras import EXTRA_ACTIONS, GateExtrasPart
from tui.screens.review import DECISION_KINDS, REVIEW_KINDS, STEP_KINDS, ReviewPart
from tui.screens.timeline import TimelinePart, rewind_effect
from tui.widgets.cost_meter import CostMeter, fmt_usd
from tui.widgets.diff_view import DiffView
from tui.widgets.file_list import FileList
from tui.widgets.footer import Footer
from tui.widgets.plan_tree import PlanTree
from tui.widgets.status_line import StatusLine
from tui.widgets.test_output import TestOutput
from tui.widgets.transcript import Transcript

if TYPE_CHECKING:
    from textual import getters

    from tui.app import LlmflowsApp

__all__ = ["MainScreen", "rewind_effect"]


def _b(key: str, action: str, desc: str, help: str, show: bool = True, **kw: Any) -> Binding:
    """A binding whose ``tooltip`` is its line in the help screen (help = the bindings)."""
    return Binding(key, action, desc, show=show, tooltip=help, **kw)


def _moved_on(ev: Any) -> bool:
    """The run went on past a rewind: a step started, the person answered a gate (a
    rewind's own "superseded" answer is not one), or the run ended."""
    if ev.type == "step_started":
        return True
    if ev.type == "gate_answered":
        return str(ev.decision) != "superseded"
    return ev.type == "run_status" and str(ev.status) in ("completed", "failed")


class MainScreen(ReviewPart, TimelinePart, GateExtrasPart, Screen):
    """One run, live (or read-only for a finished run opened from history)."""

    if TYPE_CHECKING:
        app = getters.app(LlmflowsApp)

    BINDINGS: ClassVar[list[BindingType]] = [
        _b(
            "a",
            "approve",
            "Approve",
            "approve (at a review: hunks you reject leave the disk, your edits stay)",
        ),
        _b("r", "reject", "Reject", "reject with a reason (sent to the model)"),
        _b(
            "c",
            "continue_run",
            "Continue",
            "continue a paused or stopped run (at a breakpoint: run on)",
        ),
        _b("S", "step", "Step", "at a breakpoint / single-step pause: run one node"),
        _b("j", "next_hunk", "Next hunk", "next hunk (from any pane)", False, priority=True),
        _b("k", "prev_hunk", "Prev hunk", "previous hunk", False, priority=True),
        _b("space", "toggle_hunk", "Hunk", "accept / reject the current hunk", priority=True),
        _b("n", "next_file", "Next file", "next file in the diff", False, priority=True),
        _b("p", "prev_file", "Prev file", "previous file in the diff", False, priority=True),
        _b("w", "toggle_diff_wrap", "Wrap", "wrap long diff lines on / off", False, priority=True),
        _b("v", "toggle_diff_mode", "Unified/split", "unified / split diff", False, priority=True),
        _b("m", "message", "Message", "message the agent at a pause"),
        _b("m", "follow_up", "Follow-up", "a follow-up run when finished"),
        _b(
            "e",
            "edit",
            "Edit",
            "edit the current file ($EDITOR or in-app); edits while paused join the step; "
            "at a plan gate: edit the task list, then approve it",
            False,
        ),
        # the summary line above the diff says "z all panes": no footer room needed
        _b(
            "z",
            "toggle_focus",
            "Panes",
            "diff only / all panes (a review starts with the diff only)",
            False,
        ),
        _b("t", "toggle_transcript", "Tool output", "show tool results whole / one line", False),
        _b("b", "rewind", "Rewind", "rewind to the checkpoint selected in the plan tree"),
        _b("u", "undo_rewind", "Undo", "undo the last rewind"),
        _b("R", "retry", "Retry", "retry from the selected checkpoint with an instruction"),
        _b("s", "stop", "Stop", "stop the run (at a pause: stop there)"),
        _b(
            "B",
            "toggle_breakpoint",
            "Breakpoint",
            "toggle a breakpoint on the flow node selected in the plan tree",
            False,
        ),
        _b("T", "toggle_single_step", "Single-step", "toggle single-step mode", False),
        _b("f", "fork", "Fork", "fork a new run from the selected checkpoint"),
        _b("h", "history", "History", "history of runs", False),
        _b("P", "prompts", "Prompts", "what the model saw in the selected step", False),
        _b("A", "always_allow", "Always allow", "at a command gate: always allow its prefix"),
        _b("M", "line_comment", "Comment", "comment on the current hunk's line", False),
        _b("C", "commit", "Commit", "commit the run's change (at the final review: when done)"),
        _b("escape", "back", "Back", "back (read-only view)", False),
    ]

    KEY_HELP: ClassVar[list[tuple[str, str]]] = [
        ("← / →", "scroll the diff sideways when wrap is off (‹ › mark lines that go on)"),
    ]

    # State shared by the parts; a change refreshes which keys are active.
    gate: reactive[GateRecord | None] = reactive(None, bindings=True, init=False)
    busy: reactive[bool] = reactive(False, bindings=True, init=False)
    status: reactive[str] = reactive("…", bindings=True, init=False)
    last_undo: reactive[int | None] = reactive(None, bindings=True, init=False)
    single_step: reactive[bool] = reactive(False, bindings=True, init=False)
    stopping: reactive[bool] = reactive(False, init=False)
    focus_diff: reactive[bool] = reactive(False, bindings=True, init=False)
    message: reactive[str] = reactive("", init=False)

    def __init__(self, run_id: str, *, read_only: bool = False) -> None:
        super().__init__()
        self.run_id = run_id
        self.read_only = read_only
        self.init_extras()
        self.run: RunRecord | None = None
        self.diff_range: tuple[int | None, int | None] | None = None
        self.edited = False
        self.breakpoints: set[str] = set()
        self.gate_ready = False
        self._replayed = False
        self._max_seq = 0
        self._restored: int | None = None  # the checkpoint a rewind restored, until a step runs
        self._pending: list[Any] = []
        self._stop_watch: asyncio.Event | None = None
        self._focus_choice: bool | None = None  # the person's z, for this gate

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Static(id="summary")
        with Horizontal(id="panes"):
            yield PlanTree(id="plan")
            with Vertical(id="center"):
                yield FileList(id="files")
                yield DiffView(id="diff")
            with Vertical(id="right"):
                yield CostMeter(id="cost")
                yield TestOutput(id="tests")
                yield Transcript(id="tokens")
        yield StatusLine(id="status", clock=self.app.clock)
        yield Footer(compact=True)

    #: Below this width the footer has no room for "^p Commands" and "^q Quit" next to
    #: the run's keys: they are left out (the keys still work; help lists them).
    PALETTE_KEY_MIN_WIDTH = 100

    def on_resize(self, event: events.Resize) -> None:
        wide = event.size.width >= self.PALETTE_KEY_MIN_WIDTH
        self.query_one(Footer).show_command_palette = wide
        # Narrow, "^q Quit" leaves the footer too (ctrl+q still quits; help lists it): a
        # hidden screen binding for the key shadows the app's shown one.
        if wide:
            self._bindings.key_to_bindings.pop("ctrl+q", None)
        else:
            self._bindings.bind("ctrl+q", "app.quit", "Quit", show=False)
        self.refresh_bindings()

    def on_mount(self) -> None:
        for sel, title in (
            ("#plan", "Plan"),
            ("#files", "Files"),
            ("#diff", "Diff"),
            ("#tests", "Tests"),
            ("#cost", "Cost"),
            ("#tokens", "Model · t tool output"),
        ):
            self.query_one(sel).border_title = title
        self.plan.focus()
        self.status_line.set_autonomy(self.app.autonomy)
        self.watch(self.transcript, "waiting", lambda _w: self._render_status(), init=False)
        self.load()

    @property
    def plan(self) -> PlanTree:
        return self.query_one("#plan", PlanTree)

    @property
    def transcript(self) -> Transcript:
        return self.query_one("#tokens", Transcript)

    @property
    def status_line(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    # ------------------------------------------------------------------ workers
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one failure policy: an engine error in any worker is a notification."""
        if event.state != WorkerState.ERROR:
            return
        from engine.errors import EngineError

        err = event.worker.error
        if isinstance(err, EngineError):
            self.notify(str(err), severity="error", timeout=10)
        else:
            self.notify(f"{type(err).__name__}: {err}", severity="error", timeout=10)

    # ------------------------------------------------------------------ loading
    def load(self) -> None:
        self.run_worker(self._load(), group="load", exit_on_error=False)

    async def _load(self) -> None:
        """Show the flow, replay the run's stored events, then apply live ones."""
        data = await self.app.api.run_view(self.run_id)
        run = self.run = data.run
        config = run.config
        self.breakpoints = set(data.flags.breakpoints)
        self.single_step = data.flags.single_step
        if data.nodes:
            self.plan.set_flow_nodes([(n.id, n.kind, n.description) for n in data.nodes])
        self.plan.set_breakpoints(self.breakpoints)
        self.status_line.set_autonomy(run.autonomy)
        limits = config.get("limits") or {}
        self.query_one("#cost", CostMeter).set_budget(limits.get("max_cost_usd"))
        for ev in data.events:
            self._max_seq = max(self._max_seq, ev.seq or 0)
            self.apply(ev, replay=True)
        self._replayed = True
        for ev in self._pending:
            if ev.seq is None or ev.seq > self._max_seq:
                self.apply(ev)
        self._pending.clear()
        self.plan.set_here(run.head_checkpoint_id)
        if self._restored is not None and self._restored == run.head_checkpoint_id:
            self._after_rewind(self._restored)  # reopened after a rewind: the panes follow it
        self.status = run.status
        if data.gate is not None and not self.read_only:
            self._gate_opened(data.gate)
        elif self.read_only:
            self.message = run.error or self.message
            if run.status in ("failed", "crashed") and self.message:
                # the status line has one row: the whole reason, wrapped, in a toast
                self.notify(
                    self.message, title=f"This run {run.status}", severity="warning", timeout=15
                )
            self._show_run_diff()
            # replayed events would time the run by today's clock: use its stored times
            self.status_line.set_span(run.created_at, run.finished_at)
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
        if _moved_on(ev):  # `u` would now throw the newer work away
            self.last_undo = None
        self.transcript.apply_event(ev, replay=replay)
        if t in ("token", "model_waiting"):
            return
        self.plan.apply_event(ev)
        self.status_line.apply_event(ev)
        if t in ("test_output", "output_chunk", "command_output", "test_result"):
            self.query_one("#tests", TestOutput).apply_event(ev)
        if t in ("cost", "test_result"):
            self.query_one("#cost", CostMeter).apply_event(ev)
        if t == "run_status":
            self.status = ev.status
            self.message = ev.reason
            if ev.status == "running":
                self.gate = None
        elif t == "step_started":
            self._restored = None
            self.query_one("#cost", CostMeter).set_restored(None)
            if self.status in ("paused", "…"):
                self.status = "running"
        elif t == "rewound":
            self._restored = ev.checkpoint_id
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

    def _fetch_gate(self) -> None:
        async def fetch() -> None:
            gate = await self.app.api.pending_gate(self.run_id)
            if gate is not None:
                self._gate_opened(gate)

        self.run_worker(fetch(), group="gate", exit_on_error=False)

    def _gate_opened(self, gate: GateRecord) -> None:
        self.gate = gate
        self.gate_ready = False
        self.status = "paused"
        payload = gate.payload or {}
        if gate.kind in REVIEW_KINDS and payload.get("base_checkpoint_id") is not None:
            self._load_diff(payload["base_checkpoint_id"], None)
        elif gate.kind == "crash" and payload.get("versions"):
            self._show_clash_diff()
        else:
            self._show_run_diff()
        self._focus_choice = None
        self._apply_focus()
        if gate.kind in REVIEW_KINDS:
            self.diff_view.focus()
        self._start_watching()
        self._render_status()

    def on_run_ended(self, message: RunEnded) -> None:
        self.busy = False
        if message.error is not None:
            from engine.errors import EngineError

            err = message.error
            text = str(err) if isinstance(err, EngineError) else f"{type(err).__name__}: {err}"
            self.notify(f"run error: {text}", severity="error", timeout=10)
        elif message.outcome is not None:
            was_asked = self.stopping
            outcome = message.outcome
            self.status = outcome.status
            if outcome.status in FINISHED:
                self.message = outcome.reason or f"run {outcome.status}"
                self._show_run_diff()
            if outcome.status == "stopped" and outcome.reason and not was_asked:
                # the engine stopped it (budget, unreachable model): say why, once
                self.notify(f"{outcome.reason} (c continues)", severity="warning", timeout=15)
            self.commit_if_asked(outcome.status)
        self.stopping = False
        self._render_status()

    def execute(self) -> None:
        """Continue the run from its head (in the engine thread)."""
        if self.read_only:
            return
        self.busy = True
        self.status = "running"
        self.app.execute_run(self.run_id)

    # ------------------------------------------------------------------ reactives
    def watch_gate(self) -> None:
        self._apply_focus()
        self._render_status()

    def watch_status(self, status: str) -> None:
        # The screen owns the run status on screen; the status line shows it.
        line = self.status_line
        if status != "…" and line.state != status:
            line.state = status
            line.refresh()
        self._render_status()

    def watch_stopping(self) -> None:
        self._render_status()

    def watch_single_step(self) -> None:
        self._render_status()

    def watch_message(self) -> None:
        self._render_status()

    def watch_focus_diff(self, on: bool) -> None:
        self.set_class(on, "-focus-diff")
        self._render_summary()

    def _apply_focus(self) -> None:
        """At a review gate the diff gets the screen unless the person chose otherwise (z);
        elsewhere all panes, unless the person asked for the diff alone with z."""
        if self.gate is None or self.gate_kind not in REVIEW_KINDS:
            self.focus_diff = bool(self._focus_choice)
            return
        self.focus_diff = True if self._focus_choice is None else self._focus_choice

    def action_toggle_focus(self) -> None:
        self._focus_choice = not self.focus_diff
        self.focus_diff = self._focus_choice

    def action_toggle_transcript(self) -> None:
        self.transcript.toggle_expanded()

    def _render_summary(self) -> None:
        """The one-line summary of the collapsed panes (plan, tests, cost)."""
        if not self.focus_diff:
            return
        tests = self.query_one("#tests", TestOutput).summary_text().split("  (")[0]
        cost = self.query_one("#cost", CostMeter).run_cost
        node = self.plan.current_node or (self.gate.node if self.gate else None)
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(" Plan ", style="bold reverse")
        if node is None and self.status in ENDED:  # where the run is: it has ended
            t.append(f" {'✓' if self.status == 'completed' else '✗'} {self.status}  ")
        else:
            t.append(f" ▶ {node or '—'}  ")
        t.append(f"{tests}  ", style="dim")
        t.append(f"{fmt_usd(cost)}  ")
        t.append("z all panes", style="bold")
        self.query_one("#summary", Static).update(t)

    # ------------------------------------------------------------------ after a rewind
    def _after_rewind(self, checkpoint_id: int) -> None:
        """The panes follow the restored checkpoint: tests as they were there, and what
        had been spent to reach it next to the run's total (rewinds do not refund it)."""
        self._show_run_diff()

        async def tests_then() -> None:
            tests = await self.app.api.checkpoint_tests(checkpoint_id)
            pane = self.query_one("#tests", TestOutput)
            meter = self.query_one("#cost", CostMeter)
            pane.clear()
            pane.write_line(f"── as at checkpoint {checkpoint_id} ──")
            from engine.events import TestResult

            # step 0: not a step of this line, the restored checkpoint's result
            result = TestResult.from_summary(
                tests, step_id=0, command=str(tests.get("command", ""))
            )
            if tests:
                pane.apply_event(result)
                for line in str(tests.get("output", "")).splitlines()[-200:]:
                    pane.write_line(line)
            meter.apply_event(result)  # "per passing test" counts the checkpoint's passes
            meter.set_restored(checkpoint_id, await self.app.api.checkpoint_spent(checkpoint_id))

        self.run_worker(tests_then(), group="rewind-panes", exclusive=True, exit_on_error=False)

    # ------------------------------------------------------------------ status
    def _render_status(self) -> None:
        """The status line's message: what is happening, and what is expected of you."""
        kind = self.gate_kind
        if self.read_only:
            keys = "escape back · f fork · m follow-up"
            # a run that failed says why first (the reason is otherwise only in the log)
            failed = self.status in ("failed", "crashed") and self.message
            msg = f"{self.status}: {self.message} · {keys}" if failed else f"read-only: {keys}"
        elif self.stopping:
            msg = "stop requested: stopping at the next safe point…"
        elif kind in STEP_KINDS:
            first = ((self.gate.prompt if self.gate else "") or "").splitlines()
            msg = f"{first[0] if first else 'paused'}  c continue · S step · s stop"
        elif kind == "plan":
            msg = "plan: a approve · e edit the tasks · r reject and plan again"
        elif kind is not None:
            first = ((self.gate.prompt if self.gate else "") or "").splitlines()
            said = first[0] if first else ""
            # "review: Review the changes…" says the kind twice
            msg = said if said.lower().startswith(kind.lower()) else f"{kind}: {said}"
        elif self.status == "running" and self.transcript.waiting:
            msg = self.transcript.waiting
        elif self.status == "running" and self.transcript.tokens:
            msg = f"streaming… {self.transcript.tokens} chunks"
        else:
            msg = self.message
        if self.single_step:
            msg = f"[single-step] {msg}"
        try:
            line = self.status_line
        except Exception:
            return
        if line.message != msg:
            line.set_message(msg)
        self._render_summary()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only what can be done now is active (and shown in the footer and the palette).

        Each key means one thing: decision keys only at a decision, hunk keys only at
        a review, continue / step at a breakpoint pause.
        """
        kind = self.gate_kind
        idle = not self.busy
        diff_keys = (
            "next_hunk",
            "prev_hunk",
            "next_file",
            "prev_file",
            "toggle_diff_mode",
            "toggle_diff_wrap",
        )
        if action in diff_keys:
            return bool(self.diff_view.diff.files) if self.is_mounted else True
        if action in ("history", "toggle_transcript", "toggle_focus", "prompts"):
            return True  # looking, never changing: also in the read-only view
        if action == "back":
            return self.read_only
        if action == "fork":
            return idle and kind is None and not self.focus_diff
        if action in ("message", "follow_up"):  # one key, named for what it does now
            usable = idle and self.status not in ("…", "running")
            return usable and (action == "follow_up") == self.is_finished()
        if self.read_only:
            return False
        if action in EXTRA_ACTIONS:
            return self.extra_allowed(action)
        if action in ("approve", "reject"):
            return kind in DECISION_KINDS
        if action == "toggle_hunk":
            return kind in REVIEW_KINDS
        if action == "step":
            return kind in STEP_KINDS
        if action == "continue_run":
            if kind is not None:
                return kind in STEP_KINDS
            return idle and self.status in ("paused", "stopped")
        if action == "stop":
            return self.busy or kind is not None
        if action == "undo_rewind":
            return idle and self.last_undo is not None
        if action in ("rewind", "retry"):
            return idle and not self.focus_diff  # they act on the plan tree's selection
        if action == "edit":
            return idle
        return True

    def action_history(self) -> None:
        self.app.action_history()

    def action_prompts(self) -> None:
        """Show what the model saw in the step under the plan tree's cursor."""
        node = self.plan.cursor_node
        item = node.data if node is not None else None
        if item is None or item.kind != "step":
            self.notify("Select a step (#N) in the plan tree first.")
            return
        self.run_worker(self._show_prompts(int(item.key), item.label), group="prompts")

    async def _show_prompts(self, step_id: int, label: str) -> None:
        from tui.screens.prompt_view import PromptView

        text = await self.app.api.step_prompts(step_id)
        self.app.push_screen(PromptView(f"What the model saw: {label} #{step_id}", text))

    def action_back(self) -> None:
        if self.read_only:
            self.dismiss()
