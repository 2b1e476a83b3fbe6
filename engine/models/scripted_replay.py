"""The model factory of a run on a scripted model: its script cursor lives here.

A scripted model answers each call with the first unused script entry, so a
run must know which entries its earlier calls used — also after a pause or a
crash, in a new process. :class:`ScriptedModels` rebuilds that cursor from the
run's journal (every model call it paid for records the entries it consumed)
and hands out clients that read and advance it. The executor just asks its
model factory for a client; it keeps no script state of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.models.client import ModelClient, ModelResponse
from engine.models.scripted import ScriptCursor
from engine.models.scripted_names import is_scripted
from engine.models.settings import ModelSettings


def entries_used(result: dict[str, Any]) -> list[int]:
    """Script entries one journaled model answer consumed (injected errors first)."""
    used = [int(i) for i in result.get("script_consumed") or []]
    if not used and result.get("script_index") is not None:
        used = [int(result["script_index"])]
    return used


def cursor_from_journal(store, run_id: str) -> ScriptCursor:
    """The run's place in its script: entries used by the model calls it paid for."""
    used: list[int] = []
    for e in store.effects_for_run(run_id):
        if e["kind"] != "llm" or e["status"] != "done":
            continue
        if (e.get("request") or {}).get("copied"):
            continue  # a reused answer: its entries were counted where it was first given
        used.extend(entries_used(e.get("result") or {}))
    return ScriptCursor(used)


class CursorClient(ModelClient):
    """A client whose scripted calls continue from (and advance) the run's cursor."""

    def __init__(self, settings: ModelSettings, cursor: ScriptCursor) -> None:
        super().__init__(settings)
        self._cursor = cursor

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        on_delta: Callable[[str], None] | None = None,
        metadata: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
    ) -> ModelResponse:
        meta = dict(metadata or {})
        meta["scripted_consumed"] = [*self._cursor.consumed(), *meta.get("scripted_consumed", [])]
        resp = await super().complete(
            messages, tools=tools, on_delta=on_delta, metadata=meta, options=options
        )
        self._cursor.advance(entries_used(resp.to_dict()))
        return resp


class ScriptedModels:
    """Model factory for one run: scripted models share the cursor rebuilt from its journal.

    Other models get a plain :class:`ModelClient`.
    """

    def __init__(self, store, run_id: str) -> None:
        self.cursor = cursor_from_journal(store, run_id)

    def __call__(self, settings: dict[str, Any]) -> ModelClient:
        s = ModelSettings(**settings)
        if is_scripted(s.model):
            return CursorClient(s, self.cursor)
        return ModelClient(s)
