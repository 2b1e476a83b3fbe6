"""Small hooks of the main screen at a gate: "always allow" a command's prefix (here or
for me), a line comment in the diff for the model, and commit at the final review."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from engine.api import suggest_command_prefix
from engine.git.diffmodel import Diff, HunkRef
from engine.records import GateKind
from tui.screens.modals import ReasonModal

#: The actions of this part (MainScreen.check_action asks :meth:`extra_allowed`).
EXTRA_ACTIONS = ("always_allow", "line_comment", "commit")


class AlwaysAllowModal(ModalScreen[tuple[str, str] | None]):
    """Edit the suggested prefix; dismiss with ``(scope, prefix)`` or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, command: str) -> None:
        super().__init__()
        self.command = command

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(
                f"Always allow commands starting with… (now: {self.command})",
                classes="dialog-title",
            )
            yield Input(value=suggest_command_prefix(self.command), id="prefix")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Here (this repo)", id="project", variant="primary")
                yield Button("For me (everywhere)", id="user")
            yield Label(
                "enter: here · escape: cancel · edit later: llmflows-tui rules",
                classes="dialog-hint",
            )

    def _done(self, scope: str) -> None:
        prefix = self.query_one("#prefix", Input).value.strip()
        if prefix:
            self.dismiss((scope, prefix))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._done("project")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self._done(str(event.button.id))

    def action_cancel(self) -> None:
        self.dismiss(None)


def first_changed_line(diff: Diff | None, ref: HunkRef | None) -> int | None:
    """The line a comment on hunk ``ref`` points at: its first added line (new side),
    else the line where its deletion was."""
    if diff is None or ref is None:
        return None
    for f in diff.files:
        if f.path == ref.path and ref.index < len(f.hunks):
            h = f.hunks[ref.index]
            added = [ln.new_no for ln in h.lines if ln.kind == "+" and ln.new_no]
            return added[0] if added else max(h.new_start, 1)
    return None


def is_final_review(gate: Any) -> bool:
    return gate is not None and bool((gate.payload or {}).get("final"))


class GateExtrasPart:
    """Always-allow, line comments and commit (mixed into MainScreen)."""

    # provided by MainScreen
    run_id: str
    gate: Any
    status: str
    busy: bool
    app: Any
    diff_view: Any

    comments: list[tuple[str, int, str]]  # line comments sent with the next answer
    commit_when_done: bool  # C at the final review: commit once the run completes

    def init_extras(self) -> None:
        self.comments = []
        self.commit_when_done = False

    def extra_allowed(self, action: str) -> bool:
        kind = self.gate.kind if self.gate is not None else None
        if action == "commit":
            return is_final_review(self.gate) or (not self.busy and self.status == "completed")
        if action == "always_allow":
            return kind == GateKind.COMMAND
        return kind == GateKind.REVIEW

    def take_comments(self) -> list[tuple[str, int, str]]:
        out, self.comments = self.comments, []
        return out

    def action_always_allow(self) -> None:
        if self.gate is None or self.gate.kind != GateKind.COMMAND:
            return
        command = str((self.gate.payload or {}).get("command", ""))

        def done(choice: tuple[str, str] | None) -> None:
            if choice:
                self._always_allow(*choice)

        self.app.push_screen(AlwaysAllowModal(command), done)

    @work(group="answer", exit_on_error=False)
    async def _always_allow(self, scope: str, prefix: str) -> None:
        kept = await self.app.api.always_allow(self.run_id, scope, prefix)
        where = "here" if scope == "project" else "for you"
        self.notify(f"always allowed ({where}): {kept}")  # type: ignore[attr-defined]
        await self.action_approve()  # type: ignore[attr-defined]

    def action_line_comment(self) -> None:
        ref = self.diff_view.current_hunk()
        line = first_changed_line(self.diff_view.diff, ref)
        if ref is None or line is None:
            self.notify("Move to a hunk (j/k) to comment on it.")  # type: ignore[attr-defined]
            return

        def done(text: str | None) -> None:
            if text:
                self.comments.append((ref.path, line, text))
                self.notify(  # type: ignore[attr-defined]
                    f"comment on {ref.path}:{line} kept: it goes with your answer"
                )

        self.app.push_screen(ReasonModal(f"Comment on {ref.path}:{line}", "for the model"), done)

    async def action_commit(self) -> None:
        if is_final_review(self.gate):
            self.commit_when_done = True
            await self.action_approve()  # type: ignore[attr-defined]
        else:
            self._commit()

    def commit_if_asked(self, status: str) -> None:
        """Called when the run ends: the commit asked for at the final review."""
        if self.commit_when_done and status == "completed":
            self._commit()
        self.commit_when_done = False

    @work(group="commit", exclusive=True, exit_on_error=False)
    async def _commit(self) -> None:
        try:
            sha, branch = await self.app.api.commit_run(self.run_id)
        except Exception as e:
            self.notify(f"not committed: {e}", severity="error", timeout=10)  # type: ignore[attr-defined]
            return
        self.notify(f"committed {sha[:10]} on {branch or 'detached HEAD'}")  # type: ignore[attr-defined]
