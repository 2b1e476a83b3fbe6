"""The effects journal: intent before a side effect, result after.

Every LLM call, tool call and command of a step goes through
:meth:`Journal.effect`. Keys are deterministic (``<step>:<n>``), so when a
step is re-entered after a pause or a crash, effects that are already done
are replayed from the journal instead of being executed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from engine.errors import JournalMismatchError
from engine.git.blobs import blob_ids
from engine.records import EffectRecord
from engine.run.crashpoints import crash_point


class Journal:
    """Journals the side effects of one step."""

    def __init__(self, store, run_id: str, step_id: int, replay_llm_from: int | None = None):
        self.store = store
        self.run_id = run_id
        self.step_id = step_id
        self.n = 0
        self.replayed = 0
        self.executed = 0
        # Recovery after a crash mid-effect: model answers of the crashed attempt are
        # reused in order (they cost money and are not tied to the restored tree).
        self._llm_replay: list[dict] = []
        if replay_llm_from is not None:
            self._llm_replay = [
                e["result"]
                for e in store.effects_for_step(replay_llm_from)
                if e["kind"] == "llm" and e["status"] == "done"
            ]

    async def effect(
        self,
        kind: str,
        request: dict[str, Any],
        run: Callable[[], Awaitable[dict[str, Any]]],
        *,
        idempotent: bool = False,
        on_done: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Run ``run()`` once, durably; on re-entry return the journaled result.

        ``on_done(result)`` writes what belongs with the result (e.g. the model call's
        cost row) in the same transaction as ``effect_done``: a kill between them
        cannot lose it. A replayed entry must be the same effect as the one asked for
        now (:class:`JournalMismatchError` otherwise), never the answer to another.
        """
        key = f"{self.step_id}:{self.n}"
        self.n += 1
        row = self.store.find_effect(self.run_id, key)
        if row is not None and row["status"] == "done":
            _check_same(self.step_id, self.n - 1, row, kind, request)
            self.replayed += 1
            return row["result"]
        if row is not None:  # a failed or abandoned earlier try of this same effect
            self.store.discard_effect(row["id"])
        if kind == "llm" and self._llm_replay:
            result = self._llm_replay.pop(0)
            # Marked as a copy: the answer was consumed (and paid for) once already.
            copied = {**request, "copied": True}
            eid = self.store.effect_intent(self.run_id, self.step_id, key, kind, copied, True)
            self.store.effect_done(eid, result)
            self.replayed += 1
            return result
        eid = self.store.effect_intent(self.run_id, self.step_id, key, kind, request, idempotent)
        crash_point(f"intent-{kind}")
        try:
            result = await run()
        except BaseException as e:
            self.store.effect_failed(eid, f"{type(e).__name__}: {e}")
            raise
        with self.store.transaction():
            self.store.effect_done(eid, result)
            if on_done is not None:
                on_done(result)
        self.executed += 1
        crash_point(f"done-{kind}")
        return result


def _identity(kind: str, request: dict[str, Any]) -> tuple[str, str]:
    """What must match on replay: the kind, and a digest of the request.

    A model call is identified by its model and node: its messages are rebuilt from
    files the step itself may have written before the crash, so their digest may
    differ on re-entry while the call is the same one. Tools and commands are
    identified by their whole request (name and arguments, or the command line).
    """
    req = {k: v for k, v in request.items() if k != "copied"}
    if kind == "llm":
        req = {"model": req.get("model"), "node": req.get("node")}
    return kind, digest(req)


def _check_same(step_id: int, index: int, row: dict[str, Any], kind, request) -> None:
    recorded = _identity(row["kind"], row.get("request") or {})
    expected = _identity(kind, request)
    if recorded == expected:
        return
    raise JournalMismatchError(
        f"step {step_id}, effect {index}: the journal recorded a {row['kind']} effect "
        f"{_brief(row.get('request') or {})} (digest {recorded[1]}), but the step now asks for "
        f"a {kind} effect {_brief(request)} (digest {expected[1]}). The flow or its inputs "
        "changed since; its recorded answer is not replayed. Rewind or retry the step"
    )


def _brief(request: dict[str, Any]) -> str:
    text = json.dumps({k: v for k, v in request.items() if k != "copied"}, default=str)
    return text if len(text) <= 120 else text[:119] + "…"


def digest(obj: Any) -> str:
    """Short stable digest of a JSON-able request (messages are not stored whole)."""
    raw = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def clashing_files(root: Path, done: list[EffectRecord], unknown: list[EffectRecord]) -> list[str]:
    """Files a step's done effects wrote that now hold something else.

    After a crash, such a file was changed by someone else (the person) since the
    step wrote it: recovery must not pick one version silently. Files the
    unfinished effects were writing are left out (their state is unknown anyway).
    """
    wrote = written_versions(done)
    busy = {str(((e.request or {}).get("arguments") or {}).get("path", "")) for e in unknown}
    mine = [p for p in wrote if p not in busy]
    now = blob_ids(root, mine)
    return sorted(p for p in mine if now[p] != wrote[p])


#: What engine.tools.files.atomic_write leaves beside a file if killed before its rename.
_WRITE_TEMP_RE = r"\.{name}\.[0-9a-f]{{8}}\.llmflows-tmp"


def remove_write_leftovers(root: Path, effects: list[EffectRecord]) -> list[str]:
    """Delete the temp files of the step's file writes a dead process left unrenamed.

    A write goes to a temp file beside its target, then is renamed over it: a kill
    in between leaves that temp file, which is never the step's or the person's
    work. Only files named exactly as ``atomic_write`` names them are removed.
    Returns their repository-relative paths.
    """
    top = root.resolve()
    removed: list[str] = []
    for e in effects:
        path = ((e.request or {}).get("arguments") or {}).get("path")
        if not isinstance(path, str) or not path:
            continue
        target = (top / path).resolve()
        if not target.is_relative_to(top) or target == top:
            continue  # the tool refused such a path; nothing of ours can be there
        pattern = re.compile(_WRITE_TEMP_RE.format(name=re.escape(target.name)))
        if not target.parent.is_dir():
            continue
        for tmp in target.parent.iterdir():
            if pattern.fullmatch(tmp.name) and tmp.is_file() and not tmp.is_symlink():
                os.unlink(tmp)
                removed.append(str(tmp.relative_to(top)))
    return removed


def written_versions(done: list[EffectRecord]) -> dict[str, str | None]:
    """``path → blob id`` of what a step's done tool effects last wrote to each file."""
    wrote: dict[str, str | None] = {}
    for e in done:
        wrote.update((e.result or {}).get("after") or {})
    return wrote
