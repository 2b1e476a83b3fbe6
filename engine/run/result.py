"""A run's final result: what CI scripts read (``--output-format json``, the last JSON line).

One object per run answer: status, exit code, cost, tokens, the run's summary,
the diffstat from checkpoint 0 to the final checkpoint, and what a person is
needed for if the run is waiting.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from engine.records import RunStatus

# Version of the machine-readable output (JSON lines and the result object).
# Bump it when a field changes meaning or disappears; adding fields does not.
OUTPUT_SCHEMA = 1

EXIT_FOR_STATUS = {
    RunStatus.COMPLETED: 0,
    RunStatus.FAILED: 1,
    RunStatus.PAUSED: 3,
    RunStatus.STOPPED: 4,
}
# ``--approval never``: the run needed a person (a gate opened) and nobody may answer.
EXIT_NEEDS_PERSON = 5


class OutputFormat(StrEnum):
    """How run verbs print (``--output-format``; ``--json`` is ``stream-json``)."""

    TEXT = "text"
    JSON = "json"
    STREAM_JSON = "stream-json"


class ApprovalMode(StrEnum):
    """``--approval``: ask a person, or never (CI: what would ask stops with exit 5)."""

    ASK = "ask"
    NEVER = "never"


@dataclass(frozen=True)
class FileStat:
    path: str
    status: str
    additions: int
    deletions: int


@dataclass(frozen=True)
class RunResult:
    """The final object of a run's machine-readable output (``type: result``)."""

    run_id: str
    status: str
    exit_code: int
    reason: str
    flow: str
    goal: str
    model: str
    autonomy: str
    summary: str
    cost_usd: float
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    steps: int
    duration_s: float
    start_checkpoint_id: int | None
    final_checkpoint_id: int | None
    files_changed: int
    additions: int
    deletions: int
    files: list[FileStat] = field(default_factory=list)
    gate: dict[str, Any] | None = None
    needs_person: str | None = None
    continued_from: str | None = None
    commit: dict[str, str] | None = None  # {"sha", "branch"} after --commit / --branch

    def to_dict(self) -> dict[str, Any]:
        return {"schema": OUTPUT_SCHEMA, "type": "result", **asdict(self)}


def run_summary_text(state: dict[str, Any] | None) -> str:
    """The run's own summary: the last node output that has one (a summary node or finish())."""
    outputs = (state or {}).get("outputs") or {}
    for out in reversed(list(outputs.values())):
        if isinstance(out, str) and out.strip():  # an llm node's text answer
            return out.strip()
        if isinstance(out, dict):
            for key in ("summary", "text"):
                value = out.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()
    return ""


def build_result(
    session, run_id: str, *, status: str | None = None, reason: str = "", needs_person: str = ""
) -> RunResult:
    """Collect a run's result from the store (``status`` overrides the stored one)."""
    run = session.store.get_run(run_id)
    status = RunStatus(status or run["status"])
    exit_code = EXIT_NEEDS_PERSON if needs_person else EXIT_FOR_STATUS.get(status, 1)
    cost = session.store.run_cost(run_id)
    start = session.store.first_checkpoint(run_id)
    head_id = run.get("head_checkpoint_id")
    head = session.store.get_checkpoint(head_id) if head_id else None
    files: list[FileStat] = []
    if start and head and start["id"] != head["id"]:
        diff = session.checkpoints.diff(start["id"], head["id"])
        files = [FileStat(f.path, f.status, f.additions, f.deletions) for f in diff.files]
    state = session.store.get_blob(head["state_hash"]) if head and head.get("state_hash") else {}
    finished = run.get("finished_at") or time.time()
    gate = session.store.pending_gate(run_id)
    return RunResult(
        run_id=run_id,
        status=status,
        exit_code=exit_code,
        reason=reason or run.get("error") or "",
        flow=run["flow"],
        goal=run["goal"],
        model=run["model"],
        autonomy=run["autonomy"],
        summary=run_summary_text(state),
        cost_usd=float(cost.get("cost_usd") or 0.0),
        tokens_in=int(cost.get("tokens_in") or 0),
        tokens_out=int(cost.get("tokens_out") or 0),
        tokens_cached=int(cost.get("tokens_cached") or 0),
        steps=len(session.store.steps_for(run_id)),
        duration_s=round(max(0.0, finished - (run.get("created_at") or finished)), 3),
        start_checkpoint_id=start["id"] if start else None,
        final_checkpoint_id=head_id,
        files_changed=len(files),
        additions=sum(f.additions for f in files),
        deletions=sum(f.deletions for f in files),
        files=files,
        gate=(
            {
                "id": gate["id"],
                "kind": gate["kind"],
                "prompt": gate["prompt"],
                "checkpoint_id": gate.get("checkpoint_id"),
                # a review's diff is base → checkpoint; --hunks FILE:N counts hunks of it
                "base_checkpoint_id": (gate.get("payload") or {}).get("base_checkpoint_id"),
            }
            if gate
            else None
        ),
        needs_person=needs_person or None,
        continued_from=(run.get("config") or {}).get("follows"),
        commit=(run.get("config") or {}).get("commit"),
    )
