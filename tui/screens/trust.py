"""The trust prompt: what a repository's .llmflows/ files set, approve or deny.

Shown by the start screen when ``EngineAPI.trust_check`` says the project files
are untrusted or changed since trusted (engine/trust.py). Deny is the default
focus: the files came with the repository, maybe from someone else.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Button

from engine.api import TrustPrompt
from tui.screens.modals import ConfirmModal


def trust_body(prompt: TrustPrompt) -> Text:
    """The modal's text: why it asks, then each line of what the files set."""
    why = (
        "These project files changed since you trusted them."
        if prompt.state == "changed"
        else "This repository carries its own llmflows configuration."
    )
    body = Text(f"{why} They choose the model, the flows (whose `run` steps execute ")
    body.append(
        "commands, in the sandbox) and extra command denies. Read them before trusting:\n\n"
    )
    for line in prompt.lines:
        style = "yellow" if "shadows built-in" in line or "[ignored" in line else ""
        body.append(line + "\n", style=style)
    body.append(
        "\nEven trusted, a project never sets api_base, api_key_env or widens the command "
        "allowlist. Until you trust them, runs in this repository are refused "
        "(headless: `llmflows-tui trust`).",
        style="dim",
    )
    return body


class TrustModal(ConfirmModal):
    """Approve (True) or deny (False) the repository's project files."""

    def __init__(self, prompt: TrustPrompt) -> None:
        super().__init__("Trust this repository's .llmflows/ files?", trust_body(prompt), "Trust")

    def on_mount(self, event: events.Mount) -> None:  # type: ignore[override]  # needs the event
        event.prevent_default()  # not ConfirmModal's: it focuses "yes"
        deny = self.query_one("#no", Button)
        deny.label = "Don't trust (n)"
        deny.focus()
