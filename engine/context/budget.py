"""Fitting prompts into a model's context window, and saying so whenever something is cut.

The window comes from ``litellm.get_model_info`` (``max_input_tokens``), else the
model setting ``context_window``, else :data:`DEFAULT_CONTEXT_TOKENS`. Tokens are
counted with ``litellm.token_counter`` (a 4-characters-per-token estimate when the
tokenizer is unavailable). Text that does not fit is trimmed *in place* with a
marker that tells the model how to get it back::

    [... 340 lines omitted — read_file src/app.py 120-459]
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Used when neither litellm nor the settings know the model's window.
DEFAULT_CONTEXT_TOKENS = 32_768
#: Kept free for the answer when the settings give no ``max_output_tokens``.
DEFAULT_OUTPUT_RESERVE = 4_096
#: Agent loops compact old tool output once the conversation passes this share.
COMPACT_AT = 0.75
#: Tool results of the most recent turns are never compacted.
KEEP_RECENT_MESSAGES = 4
COMPACTED = "[tool output compacted to fit the context window: {lines} lines — call {tool} again if you still need it]"


def omitted_marker(path: str, start: int, end: int) -> str:
    """The in-place marker for lines ``start``..``end`` (1-based, inclusive) of ``path``."""
    n = end - start + 1
    return f"[... {n} line{'s' if n != 1 else ''} omitted — read_file {path} {start}-{end}]"


@dataclass
class ContextBudget:
    """Token accounting for one model: its window, what to keep free, how to count."""

    window: int
    reserve: int
    count_text: Callable[[str], int]
    count_messages: Callable[[list[dict[str, Any]], list[dict[str, Any]] | None], int]

    @property
    def input_limit(self) -> int:
        """Tokens a prompt may use (the window minus the answer's reserve)."""
        return max(1024, self.window - self.reserve)

    def retry_cap(
        self, cap: int, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> int:
        """The output cap for a retry of an answer cut at ``cap``: twice it, but no
        more than the window leaves beside the prompt (never less than ``cap``)."""
        room = self.window - self.count_messages(messages, tools)
        return max(cap, min(2 * cap, room))

    def trim(self, path: str, text: str, max_tokens: int) -> str:
        """``text`` cut to ``max_tokens`` keeping its start and end, with a marker between."""
        if self.count_text(text) <= max_tokens:
            return text
        lines = text.splitlines(keepends=True)
        # Chars per token of this text, to guess how many lines fit before counting.
        ratio = max(1.0, len(text) / max(1, self.count_text(text)))
        head_budget = tail_budget = max_tokens // 2
        head: list[str] = []
        used = 0
        for line in lines:
            cost = int(len(line) / ratio) + 1
            if used + cost > head_budget:
                break
            head.append(line)
            used += cost
        tail: list[str] = []
        used = 0
        for line in reversed(lines[len(head) :]):
            cost = int(len(line) / ratio) + 1
            if used + cost > tail_budget:
                break
            tail.append(line)
            used += cost
        tail.reverse()
        start, end = len(head) + 1, len(lines) - len(tail)
        if end < start:
            return text
        body = "".join(head)
        if body and not body.endswith("\n"):
            body += "\n"
        return body + omitted_marker(path, start, end) + "\n" + "".join(tail)

    def fit_files(self, files: dict[str, str], max_tokens: int) -> dict[str, str]:
        """Every file shown, each trimmed (with markers) so that all fit in ``max_tokens``.

        Smaller files are kept whole first; the rest share what is left equally.
        A file that gets no room at all is replaced by a one-line marker.
        """
        sizes = {name: self.count_text(text) for name, text in files.items()}
        out: dict[str, str] = {}
        left = max(0, max_tokens)
        order = sorted(files, key=lambda n: sizes[n])
        for i, name in enumerate(order):
            share = left // (len(order) - i)
            text = files[name]
            if sizes[name] <= share:
                out[name] = text
                left -= sizes[name]
                continue
            n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
            out[name] = (
                self.trim(name, text, share) if share > 64 else omitted_marker(name, 1, n_lines)
            )
            left -= min(share, self.count_text(out[name]))
        return {name: out[name] for name in files}  # the caller's priority order

    def compact(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        *,
        force: bool = False,
    ) -> bool:
        """Replace old tool results with a marker when near the window (or ``force``).

        Returns True when something was compacted. The first two messages (system,
        task) and the last :data:`KEEP_RECENT_MESSAGES` are kept as they are.
        """
        if not force and self.count_messages(messages, tools) < self.input_limit * COMPACT_AT:
            return False
        names = _tool_names_by_call(messages)
        changed = False
        for msg in messages[2 : max(2, len(messages) - KEEP_RECENT_MESSAGES)]:
            content = msg.get("content")
            if msg.get("role") != "tool" or not isinstance(content, str):
                continue
            if content.startswith("[tool output compacted"):
                continue
            tool = names.get(str(msg.get("tool_call_id")), "the tool")
            msg["content"] = COMPACTED.format(lines=content.count("\n") + 1, tool=tool)
            changed = True
        if force and not changed:
            changed = self._halve_longest(messages)
        return changed

    def _halve_longest(self, messages: list[dict[str, Any]]) -> bool:
        """Nothing left to compact: cut the middle out of the longest message's text."""
        texts = [m for m in messages if isinstance(m.get("content"), str)]
        if not texts:
            return False
        longest = max(texts, key=lambda m: len(m["content"]))
        lines = longest["content"].splitlines(keepends=True)
        if len(lines) < 8:
            return False
        keep = len(lines) // 4
        n = len(lines) - 2 * keep
        longest["content"] = (
            "".join(lines[:keep])
            + f"[... {n} lines omitted to fit the context window]\n"
            + "".join(lines[-keep:])
        )
        return True


def _tool_names_by_call(messages: list[dict[str, Any]]) -> dict[str, str]:
    names: dict[str, str] = {}
    for msg in messages:
        for call in msg.get("tool_calls") or []:
            fn = call.get("function") or {}
            args = fn.get("arguments") or ""
            try:
                path = json.loads(args).get("path") if args else None
            except (json.JSONDecodeError, AttributeError):
                path = None
            names[str(call.get("id"))] = (
                f"{fn.get('name')}({path})" if path else str(fn.get("name"))
            )
    return names


def _rough(text: str) -> int:
    return len(text) // 4 + 1


async def budget_for(client: Any) -> ContextBudget:
    """The budget of the model ``client`` calls (loads litellm off the event loop)."""
    from engine.models.loader import get_litellm, litellm_loaded

    if not litellm_loaded():
        await asyncio.to_thread(get_litellm)
    return budget_for_settings(client.settings)


def budget_for_settings(settings: Any) -> ContextBudget:
    """The budget for a ``ModelSettings`` (or anything with ``model``)."""
    from engine.models.client import litellm_model_name
    from engine.models.loader import get_litellm

    lm = get_litellm()
    name = litellm_model_name(settings.model, getattr(settings, "api_base", None))
    window = getattr(settings, "context_window", None)
    if not window:
        try:
            info = lm.get_model_info(name)
            window = info.get("max_input_tokens") or info.get("max_tokens")
        except Exception:  # noqa: BLE001 - unknown models raise; the fallback applies
            window = None
    reserve = getattr(settings, "max_output_tokens", None) or DEFAULT_OUTPUT_RESERVE

    def count_text(text: str) -> int:
        try:
            return int(lm.token_counter(model=name, text=text))
        except Exception:  # noqa: BLE001 - a tokenizer problem must not stop the run
            return _rough(text)

    def count_messages(messages: list[dict[str, Any]], tools: list[dict] | None) -> int:
        try:
            return int(lm.token_counter(model=name, messages=messages, tools=tools or None))
        except Exception:  # noqa: BLE001
            return _rough(json.dumps(messages, default=str))

    window = int(window or DEFAULT_CONTEXT_TOKENS)
    return ContextBudget(
        window=window,
        reserve=min(int(reserve), window // 2),
        count_text=count_text,
        count_messages=count_messages,
    )
