"""Replaying a person's gate decisions from a scripted model's ``decisions:`` list.

A run on ``scripted:PATH`` whose script lists decisions (``export-script`` writes
them) has its gates answered from that list, in order: the n-th gate a person
would answer gets the n-th decision. A decision written for another kind of gate
(or another node) than the one open is not applied: the run stays paused and a
warning says why, so a replay that went another way never guesses.
"""

from __future__ import annotations

from typing import Any

from engine.events import LogMessage
from engine.git.diffmodel import HunkRef
from engine.models.scripted import SCRIPTED_GATE_KINDS, ScriptDecision, load_script
from engine.models.scripted_names import is_scripted, scripted_path
from engine.run import ledger


def decision_from_gate(gate: dict[str, Any]) -> ScriptDecision | None:
    """A recorded gate answer as a script decision (None for session-only pauses)."""
    if gate["kind"] not in SCRIPTED_GATE_KINDS or gate.get("decision") == "superseded":
        return None
    answer = gate.get("answer") or {}
    tasks = answer.get("tasks")
    return ScriptDecision(
        gate=gate["kind"],
        decision=gate["decision"],
        node=gate.get("node"),
        reason=gate.get("reason") or "",
        drop_hunks=tuple((p, int(i), k) for p, i, k in answer.get("dropped") or []),
        tasks=tuple({k: t[k] for k in ("title", "description", "files") if t.get(k)} for t in tasks)
        if tasks
        else None,
    )


def recorded_decisions(session, run_id: str) -> list[ScriptDecision]:
    """The person's answers to the run's gates, in order, as script decisions."""
    found = (decision_from_gate(g) for g in session.store.answered_gates(run_id))
    return [d for d in found if d is not None]


def answer_from_script(session, run_id: str) -> ScriptDecision | None:
    """Answer the run's open gate with its script's next decision; None if none applies."""
    from engine.run.operations import answer_gate

    run = session.store.get_run(run_id)
    gate = session.store.pending_gate(run_id)
    model = run.get("model") or ""
    if gate is None or not is_scripted(model) or gate["kind"] not in SCRIPTED_GATE_KINDS:
        return None
    decisions = load_script(scripted_path(model)).decisions
    done = sum(g["kind"] in SCRIPTED_GATE_KINDS for g in session.store.answered_gates(run_id))
    if done >= len(decisions):
        return None
    d = decisions[done]
    if d.gate != gate["kind"] or (d.node is not None and d.node != gate.get("node")):
        where = f" at {gate['node']}" if gate.get("node") else ""
        ledger.emit(
            session,
            run_id,
            LogMessage(
                level="warning",
                message=f"script decision {done + 1} is {d.describe()}, but the run waits at "
                f"a {gate['kind']} gate{where}: answer it yourself",
            ),
        )
        return None
    answer_gate(
        session,
        run_id,
        d.decision,
        reason=d.reason,
        reject_hunks={HunkRef(p, i, k or "") for p, i, k in d.drop_hunks} or None,
        tasks=[dict(t) for t in d.tasks] if d.tasks is not None else None,
    )
    return d
