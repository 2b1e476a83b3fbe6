"""Modal dialogs: reason input, rewind confirmation, retry, in-app editor, help."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ReasonModal(ModalScreen[str | None]):
    """Ask for a line of text (a rejection reason); dismisses with it, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, placeholder: str = "", value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(value=self.value, placeholder=self.placeholder, id="reason")
            yield Label("enter: send · escape: cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text:
            self.dismiss(text)
        else:
            self.notify("Type a reason: it is sent to the model.", severity="warning")

    def action_cancel(self) -> None:
        self.dismiss(None)


class RetryModal(ModalScreen[dict | None]):
    """Edited instruction (and optional model) for a retry."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, checkpoint_id: int, model: str = "") -> None:
        super().__init__()
        self.checkpoint_id = checkpoint_id
        self.model = model

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Retry from checkpoint {self.checkpoint_id}", classes="dialog-title")
            yield Input(placeholder="instruction for the model (optional)", id="instruction")
            yield Input(value=self.model, placeholder="model (blank: same)", id="model")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Retry", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def _result(self) -> dict:
        model = self.query_one("#model", Input).value.strip()
        return {
            "instruction": self.query_one("#instruction", Input).value.strip(),
            "model": model if model and model != self.model else None,
        }

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(self._result())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self._result() if event.button.id == "ok" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmModal(ModalScreen[bool]):
    """Yes/no with a body (e.g. what a rewind will change)."""

    BINDINGS = [
        Binding("escape,n", "no", "No"),
        Binding("y", "yes", "Yes"),
    ]

    def __init__(self, title: str, body: str | Text, yes: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="warning", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class EditorModal(ModalScreen[str | None]):
    """In-app editor (used when $EDITOR is unset): ctrl+s saves, escape cancels."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(
        self,
        path: str,
        text: str,
        language: str | None = None,
        hint: str = "ctrl+s save · escape cancel",
    ) -> None:
        super().__init__()
        self.path = path
        self.text = text
        self.language = language
        self.hint = hint

    def compose(self) -> ComposeResult:
        from textual.widgets import TextArea  # heavy; only when editing

        with Vertical(classes="dialog editor"):
            yield Label(f"Editing {self.path} — {self.hint}", classes="dialog-title")
            try:
                area = TextArea.code_editor(self.text, language=self.language, id="editor")
            except Exception:  # language not available: plain text
                area = TextArea.code_editor(self.text, id="editor")
            yield area

    def on_mount(self) -> None:
        self.query_one("#editor").focus()

    def action_save(self) -> None:
        from textual.widgets import TextArea

        self.dismiss(self.query_one("#editor", TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class MessageModal(ModalScreen[str | None]):
    """A multi-line message to the agent: ctrl+s sends, escape cancels."""

    BINDINGS = [
        Binding("ctrl+s", "send", "Send", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, title: str, hint: str) -> None:
        super().__init__()
        self.title_text = title
        self.hint = hint

    def compose(self) -> ComposeResult:
        from textual.widgets import TextArea  # heavy; only when writing

        with Vertical(classes="dialog wide message"):
            yield Label(self.title_text, classes="dialog-title")
            yield TextArea(id="message", soft_wrap=True, show_line_numbers=False)
            yield Label(self.hint, classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#message").focus()

    def action_send(self) -> None:
        from textual.widgets import TextArea

        text = self.query_one("#message", TextArea).text.strip()
        self.dismiss(text or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


_KEY_NAMES = {"question_mark": "?", "escape": "escape", "space": "space"}


def key_label(key: str) -> str:
    """How a binding's key is written in the help and README (``ctrl+s``, ``?``)."""
    return " / ".join(_KEY_NAMES.get(k, k) for k in key.split(","))


def help_for(screen_cls: Any) -> list[tuple[str, str]]:
    """A screen's help lines, generated from its bindings (``tooltip``, else the
    description), then any ``KEY_HELP`` lines for keys that are not bindings (enter, tab…)."""
    lines: list[tuple[str, str]] = []
    seen: set[str] = set()
    for b in getattr(screen_cls, "BINDINGS", []):
        if not isinstance(b, Binding) or b.system:
            continue
        key = b.key_display or key_label(b.key)
        text = b.tooltip or b.description
        at = next((i for i, (k, _) in enumerate(lines) if k == key), None)
        if at is not None:  # one key, two actions by state (m: message / follow-up)
            lines[at] = (key, f"{lines[at][1]}; {text}")
        else:
            lines.append((key, text))
        seen |= {key_label(k) for k in b.key.split(",")}
    extra = getattr(screen_cls, "KEY_HELP", None)
    for key, text in extra if isinstance(extra, list) else []:
        if key not in seen:
            lines.append((key, text))
    return lines


class HelpScreen(ModalScreen[None]):
    """Every key of the app, grouped by screen."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        from rich.console import Group
        from rich.table import Table

        parts: list[Any] = []
        key_width = max((len(k) for _, keys in self.sections for k, _ in keys), default=1)
        for title, keys in self.sections:
            parts.append(Text(title, style="bold underline"))
            # a grid: a long description wraps under its own column, not to the margin
            grid = Table.grid(padding=(0, 1, 0, 2), expand=True)
            grid.add_column(width=key_width, style="bold cyan", no_wrap=True)
            grid.add_column(ratio=1)
            for key, desc in keys:
                grid.add_row(key, desc)
            parts += [grid, Text()]
        with Vertical(classes="dialog wide help"):
            yield Label("Keys — escape closes", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(Group(*parts), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)


def language_for(path: str) -> str | None:
    """TextArea language name for a file path, when it has one."""
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return {
        "py": "python",
        "md": "markdown",
        "json": "json",
        "toml": "toml",
        "yaml": "yaml",
        "yml": "yaml",
        "js": "javascript",
        "rs": "rust",
        "go": "go",
        "html": "html",
        "css": "css",
        "sh": "bash",
        "sql": "sql",
    }.get(ext)


def describe(obj: Any) -> str:  # pragma: no cover - tiny helper
    return str(obj)
