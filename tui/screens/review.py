"""The review part of the main screen: the diff on show, hunk choices, answering a gate,
editing a file, and talking to the agent.

A mixin of :class:`tui.screens.main.MainScreen` (which holds the bindings and the
state these actions read: ``gate``, ``busy``, ``status``, ``read_only``). The review
diff of an open gate is the step's base → the live working tree, refreshed when files
change on disk; hunk choices follow the hunks by content (``HunkRef.key``).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work

from engine.errors import UsageError
from engine.git.diffmodel import Diff, FileDiff, HunkRef
from engine.records import GateRecord
from tui.messages import TreeChanged
from tui.screens.modals import EditorModal, MessageModal, ReasonModal, language_for
from tui.widgets.diff_view import DiffView
from tui.widgets.file_list import FileList

if TYPE_CHECKING:
    from tui.widgets.plan_tree import PlanTree

#: What the person can do at each kind of pause (the engine's gate kinds).
REVIEW_KINDS = ("review",)  # a diff with hunks to choose
DECISION_KINDS = ("review", "gate", "command", "crash", "tests", "context", "plan")
STEP_KINDS = ("breakpoint",)  # continue / step / stop


def _ignore_path(path: str, root: str) -> bool:
    rel = os.path.relpath(path, root)
    first = rel.split(os.sep, 1)[0]
    return first in (".git", ".llmflows") or rel.endswith("~") or "__pycache__" in rel


# keys first: at 80 columns the dialog wraps the rest, the keys are never the part cut
MESSAGE_HINT = "ctrl+s send · escape cancel — it reaches the next model call as an instruction"
FOLLOW_UP_HINT = (
    "ctrl+s start · escape cancel — a new run, linked to this one, starts from its final tree"
)


class ReviewPart:
    """Diff, hunks, gate answers, edits and messages (mixed into MainScreen)."""

    # provided by MainScreen
    run_id: str
    read_only: bool
    gate: GateRecord | None
    status: str
    busy: bool
    app: Any
    diff_range: tuple[int | None, int | None] | None
    edited: bool
    gate_ready: bool
    _stop_watch: asyncio.Event | None

    if TYPE_CHECKING:

        def query_one(self, selector: Any, expect_type: Any = None) -> Any: ...
        def notify(self, message: str, **kw: Any) -> None: ...
        def post_message(self, message: Any) -> bool: ...
        def execute(self) -> None: ...
        @property
        def plan(self) -> PlanTree: ...

    @property
    def diff_view(self) -> DiffView:
        return self.query_one("#diff", DiffView)

    @property
    def gate_kind(self) -> str | None:
        """The open gate's kind (review, gate, command, crash, breakpoint), or None."""
        return self.gate.kind if self.gate is not None else None

    # ------------------------------------------------------------------ diff on show
    @work(group="diff", exclusive=True, exit_on_error=False)
    async def _load_diff(self, a: int | None, b: int | None, keep_rejected: bool = False) -> None:
        if a is None:
            return
        # The listing and the first screen's hunks; the view reads the rest as shown.
        diff = await self.app.api.diff(a, b, first_files=DiffView.FIRST_FILES)
        self._set_diff(diff, (a, b), keep_rejected)

    def _show(self, diff: Diff, rejected: set[HunkRef] | None = None) -> None:
        """Put ``diff`` in the diff pane, its hunks read through the engine as shown."""
        view = self.diff_view

        async def load(files: list[FileDiff]) -> None:
            await self.app.api.load_hunks(diff, files)

        view.loader = load
        view.set_diff(diff, rejected=rejected or ())

    def _set_diff(self, diff: Diff, rng: tuple[int | None, int | None], keep: bool) -> None:
        view = self.diff_view
        rejected = None
        if keep and self.diff_range == rng:
            # by content: an edit above a rejected hunk shifts indexes, not the choice
            rejected = view.diff.keyed(view.rejected_hunks())
        self.diff_range = rng
        self._show(diff, rejected)
        # The review diff of an open gate is on screen (tests and keys can rely on it).
        self.gate_ready = self.gate is not None and rng[1] is None
        self.query_one("#files", FileList).set_diff(diff)
        self._sync_rejected()
        label = f"Diff cp {rng[0]} → {'working tree' if rng[1] is None else f'cp {rng[1]}'}"
        label += f"  +{diff.additions} -{diff.deletions}"
        view.border_title = label

    @work(group="diff", exclusive=True, exit_on_error=False)
    async def _show_run_diff(self) -> None:
        """The whole change of the run so far: its first checkpoint → working tree (or head)."""
        res = await self.app.api.run_diff(
            self.run_id, to_head=self.read_only, first_files=DiffView.FIRST_FILES
        )
        if res is not None:
            self._set_diff(res.diff, (res.base, res.to), False)

    @work(group="diff", exclusive=True, exit_on_error=False)
    async def _show_clash_diff(self) -> None:
        """A crash gate over files changed since the step wrote them: its version → yours."""
        diff = await self.app.api.clash_diff(self.run_id)
        if diff is None:
            return
        self.diff_range = None  # not a checkpoint range: hunks are not chosen here
        self._show(diff)
        self.query_one("#files", FileList).set_diff(diff)
        self.diff_view.border_title = (
            f"Clash: - the step's version, + yours now  +{diff.additions} -{diff.deletions}"
        )
        self.gate_ready = self.gate is not None

    async def on_file_list_file_selected(self, event: Any) -> None:
        self.diff_view.focus()
        await self.diff_view.show_file(event.path)

    def on_diff_view_hunk_toggled(self, event: DiffView.HunkToggled) -> None:
        path = event.ref.path  # one toggle changes one file's row, whatever the diff size
        count = self.diff_view.rejected_in_file(path)
        self.query_one("#files", FileList).set_rejected_count(path, count)

    def on_diff_view_hunks_read(self, event: DiffView.HunksRead) -> None:
        files = self.query_one("#files", FileList)
        for path in event.paths:  # hunks rejected by key before they were read
            files.set_rejected_count(path, self.diff_view.rejected_in_file(path))

    def on_diff_view_current_hunk_changed(self, event: DiffView.CurrentHunkChanged) -> None:
        if event.ref is not None:
            self.query_one("#files", FileList).highlight_path(event.ref.path)

    def _sync_rejected(self) -> None:
        counts: dict[str, int] = {}
        for ref in self.diff_view.rejected_hunks():
            counts[ref.path] = counts.get(ref.path, 0) + 1
        self.query_one("#files", FileList).set_rejected_counts(counts)

    # ------------------------------------------------------------------ watching the tree
    def _start_watching(self) -> None:
        if self._stop_watch is not None or self.read_only:
            return
        self._stop_watch = asyncio.Event()
        self._watch(self._stop_watch)

    def _stop_watching(self) -> None:
        if self._stop_watch is not None:
            self._stop_watch.set()
            self._stop_watch = None

    @work(group="watch", exit_on_error=False)
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
        elif self.gate is not None and self.gate.kind == "crash":
            if (self.gate.payload or {}).get("versions"):  # the person's side changed again
                self._show_clash_diff()

    # ------------------------------------------------------------------ diff keys
    async def action_next_hunk(self) -> None:
        await self.diff_view.action_next_hunk()

    async def action_prev_hunk(self) -> None:
        await self.diff_view.action_prev_hunk()

    def action_toggle_hunk(self) -> None:
        self.diff_view.toggle_current_hunk()

    async def action_next_file(self) -> None:
        await self.diff_view.action_next_file()

    async def action_prev_file(self) -> None:
        await self.diff_view.action_prev_file()

    def action_toggle_diff_mode(self) -> None:
        self.diff_view.toggle_mode()

    def action_toggle_diff_wrap(self) -> None:
        self.diff_view.toggle_wrap()

    # ------------------------------------------------------------------ answering
    async def action_approve(self) -> None:
        if self.gate is None or self.gate_kind not in DECISION_KINDS:
            self.notify("Nothing to approve: the run is not waiting for a decision.")
            return
        drop = None
        view = self.diff_view
        unread = await view.read_rejected() if self.gate_kind in REVIEW_KINDS else []
        if unread:  # never approve hunks the person rejected because a read failed
            self.notify(f"could not read {unread[0]} (you rejected hunks there): approve again")
            return
        if self.gate_kind in REVIEW_KINDS and view.rejected_hunks():
            # by content: the engine finds the very hunks shown here, whatever their index
            drop = view.diff.keyed(view.rejected_hunks())
        self._answer("approve", reject_hunks=drop)

    def action_reject(self) -> None:
        if self.gate is None or self.gate_kind not in DECISION_KINDS:
            self.notify("Nothing to reject: the run is not waiting for a decision.")
            return

        def done(reason: str | None) -> None:
            if reason:
                self._answer("reject", reason=reason)

        self.app.push_screen(
            ReasonModal("Reject: why? (the model sees this)", "e.g. keep the public API"), done
        )

    @work(group="answer", exit_on_error=False)
    async def _answer(
        self,
        decision: str,
        *,
        reason: str = "",
        reject_hunks: Any = None,
        then_run: bool = True,
        tasks_text: str | None = None,
    ) -> None:
        if self.gate is None:
            return
        try:
            await self.app.api.answer_gate(
                self.run_id,
                decision,
                reason=reason,
                reject_hunks=reject_hunks,
                comments=self.take_comments() if decision != "stop" else None,  # type: ignore[attr-defined]
                tasks_text=tasks_text,
            )
        except UsageError as e:  # e.g. an edited plan with no task: the gate stays open
            self.notify(str(e), severity="error")
            return
        self.gate = None
        self.edited = False
        self._stop_watching()
        dropped = f" ({len(reject_hunks)} hunk(s) dropped)" if reject_hunks else ""
        if tasks_text is not None:
            dropped = " (your edited plan)"
        done = {
            "approve": "approved",
            "reject": "rejected (the reason goes to the model)",
            "stop": "stopped",
        }
        self.notify(done.get(decision, decision) + dropped)
        if decision != "stop" and then_run:
            self.execute()

    # ------------------------------------------------------------------ edit
    def action_edit(self) -> None:
        if self.gate_kind == "plan":
            self._edit_plan()
            return
        path = self.diff_view.current_file()
        if path is None:
            self.notify("No file selected in the diff.")
            return
        self._edit(path)

    @work(group="edit", exclusive=True, exit_on_error=False)
    async def _edit_plan(self) -> None:
        """At a plan gate: edit the task list; saving approves the edited plan."""
        text = await self.app.api.plan_text(self.run_id)
        new = await self.app.push_screen_wait(
            EditorModal(
                "the plan",
                text,
                None,
                hint="ctrl+s approve this plan · escape cancel (one task per line; "
                "indented lines describe it)",
            )
        )
        if new is not None and self.gate_kind == "plan":
            self._answer("approve", tasks_text=new)

    @work(group="edit", exclusive=True, exit_on_error=False)
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
        try:
            text = full.read_bytes().decode("utf-8") if full.exists() else ""
        except UnicodeDecodeError:
            # Saving would replace every undecodable byte with U+FFFD: refuse instead.
            self.notify(
                f"{rel} is not UTF-8 text; the in-app editor cannot save it unchanged. "
                "Set $EDITOR to edit it.",
                severity="warning",
            )
            return
        new = await self.app.push_screen_wait(EditorModal(rel, text, language_for(rel)))
        if new is not None and new != text:
            full.parent.mkdir(parents=True, exist_ok=True)
            full.write_text(new, encoding="utf-8")
            self.notify(f"saved {rel}: your edit becomes part of this step")
            self.refresh_diff()

    # ------------------------------------------------------------------ talking to the agent
    def is_finished(self) -> bool:
        """The run has ended: ``m`` starts a follow-up run instead of messaging the agent."""
        return self.status in ("completed", "failed") or (
            self.status == "stopped" and self.read_only
        )

    def action_message(self) -> None:
        """At a pause: a message for the next model call. On a finished run: a follow-up."""
        if self.busy:
            self.notify("The run is running: stop it (s) or wait for a pause to write to it.")
            return
        self._message()

    def action_follow_up(self) -> None:
        """A follow-up run on a finished run's result (the same dialog as a message)."""
        self.action_message()

    @work(group="message", exclusive=True, exit_on_error=False)
    async def _message(self) -> None:
        finished = self.is_finished()
        if finished:
            title, hint = "Follow-up: what next?", FOLLOW_UP_HINT
        else:
            title, hint = "Message to the agent", MESSAGE_HINT
        text = await self.app.push_screen_wait(MessageModal(title, hint))
        if not text:
            return
        if finished:
            self.app.follow_up_run(self.run_id, text)
            return
        await self.app.api.message_agent(self.run_id, text)
        self.notify("message kept: the agent gets it with its next model call")
