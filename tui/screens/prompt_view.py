"""What the model saw for one step: its prompts, answers and tool results."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TextArea


class PromptView(ModalScreen[None]):
    """Read-only text of a step's model calls (stored scrubbed, see engine.context.prompts)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            yield TextArea(self.text, read_only=True, id="prompt-text", soft_wrap=True)
            yield Label("escape: close", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
