"""Terminal notifications when a run needs a person or ends: a bell and/or OSC 9.

OSC 9 (``ESC ] 9 ; message BEL``) shows a desktop notification in iTerm2, WezTerm,
Windows Terminal, kitty, foot and others; terminals that do not know it ignore it.
The mode comes from ``--notify``, else ``LLMFLOWS_NOTIFY``, else ``[notify] mode`` in
the user config, else ``bell``. Nothing is written unless the stream is a terminal.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import Any, TextIO

from engine.errors import UsageError
from engine.records import ENDED

ENV_NOTIFY = "LLMFLOWS_NOTIFY"


class NotifyMode(StrEnum):
    OFF = "off"
    BELL = "bell"
    OSC9 = "osc9"
    BOTH = "both"


NOTIFY_CHOICES: list[str] = [m.value for m in NotifyMode]


def notify_mode(flag: str | None = None) -> NotifyMode:
    """Flag > env > user config ``[notify] mode`` > bell; a bad value is a usage error."""
    from engine.models.settings import user_config_path

    value, where = flag, "--notify"
    if value is None and os.environ.get(ENV_NOTIFY):
        value, where = os.environ[ENV_NOTIFY], ENV_NOTIFY
    if value is None:
        import tomllib  # not for `--help`, which needs only NOTIFY_CHOICES

        path = user_config_path()
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8")).get("notify") or {}
        except FileNotFoundError:
            table = {}
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"{path}: {e}") from None
        value, where = table.get("mode") if isinstance(table, dict) else None, f"{path} [notify]"
    if value is None:
        return NotifyMode.BELL
    try:
        return NotifyMode(str(value))
    except ValueError:
        raise UsageError(
            f"{where}: notify mode {value!r}: use {', '.join(NOTIFY_CHOICES)}"
        ) from None


def message_for(event: Any) -> str | None:
    """What to say for an event, or None if it needs no one's attention."""
    if event.type == "gate_opened":
        first = (event.prompt or "").strip().splitlines()
        return f"llmflows-tui: {event.kind} gate — {first[0] if first else 'waiting for you'}"
    if event.type == "run_status" and event.status in ENDED:
        return f"llmflows-tui: run {event.run_id} {event.status}"
    return None


def sequence(mode: NotifyMode, message: str) -> str:
    """The bytes to write for ``message`` (control characters taken out of it)."""
    clean = "".join(ch for ch in message if ch.isprintable())[:200]
    osc = f"\x1b]9;{clean}\x07"
    return {
        NotifyMode.OFF: "",
        NotifyMode.BELL: "\a",
        NotifyMode.OSC9: osc,
        NotifyMode.BOTH: osc + "\a",
    }[mode]


class TerminalNotifier:
    """An event-bus subscriber writing notifications to a terminal stream."""

    def __init__(self, mode: NotifyMode, stream: TextIO | None = None):
        self.mode = mode
        self.stream = stream or sys.stderr

    def __call__(self, event: Any) -> None:
        if self.mode is NotifyMode.OFF or not self.stream.isatty():
            return
        message = message_for(event)
        if message:
            self.stream.write(sequence(self.mode, message))
            self.stream.flush()
