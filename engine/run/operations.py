"""Human operations on runs, as durable engine API (the TUI and the CLI call these).

Each operation records the decision in SQLite and moves the run's head
checkpoint; the executor then simply continues from the head. Nothing here
deletes history: rejected attempts, rewound trees and user edits all stay
reachable as checkpoints.
"""

from __future__ import annotations

from typing import Any

from engine.errors import CheckpointNotFoundError, RepoMovedError, RunNotFoundError, UsageError
from engine.events import GateAnswered, LogMessage, PlanUpdated, Rewound
from engine.git.diffmodel import HunkRef
from engine.records import (
    AUTONOMY_CHOICES,
    FINISHED,
    HUMAN_DECISIONS,
    IN_FLIGHT_STEPS,
    Autonomy,
    CheckpointRecord,
    Decision,
    GateRecord,
    RunFlags,
    RunRecord,
    RunStatus,
    StepRecord,
    gate_label,
)
from engine.run import ledger, preflight
from engine.run.review_notes import LineComment
from engine.run.state import END, FAIL, clone, initial_state


def get_run(session, run_id: str) -> dict[str, Any]:
    run = session.store.get_run(run_id)
    if run is None:
        raise RunNotFoundError(f"no run {run_id!r} in this repository (see `llmflows-tui runs`)")
    return run


def _run(session, run_id: str) -> RunRecord:
    return RunRecord.from_row(get_run(session, run_id))


def _cp(session, checkpoint_id: int | None) -> CheckpointRecord:
    return CheckpointRecord.from_row(session.store.get_checkpoint(checkpoint_id))


def _pending_gate(session, run_id: str) -> GateRecord | None:
    row = session.store.pending_gate(run_id)
    return None if row is None else GateRecord.from_row(row)


def _steps(session, run_id: str) -> list[StepRecord]:
    return [StepRecord.from_row(r) for r in session.store.steps_for(run_id)]


def _head(session, run: RunRecord) -> tuple[CheckpointRecord, dict[str, Any]]:
    cp = _cp(session, run.head_checkpoint_id)
    return cp, session.store.get_blob(cp.state_hash)


def create_run(
    session,
    flow_name: str,
    goal: str,
    *,
    model: str,
    model_settings: dict[str, Any] | None = None,
    autonomy: str = "review",
    limits: dict[str, Any] | None = None,
    breakpoints: list[str] | None = None,
    single_step: bool = False,
    settings: dict[str, Any] | None = None,
) -> str:
    """Validate the flow, record the run and take checkpoint 0 (the user's work as it is)."""
    from engine.events import RunStarted
    from engine.flow.spec import get_flow
    from engine.tools.testdetect import resolve_test_settings

    _check_autonomy(autonomy)
    if not goal.strip():
        raise UsageError("the goal is empty: say what the agent should do")
    flow = get_flow(flow_name, session.repo_root)
    settings = _loop_bounds(flow, settings)
    unknown = [b for b in breakpoints or [] if b not in flow.nodes]
    if unknown:
        raise UsageError(f"breakpoint on unknown node(s): {', '.join(unknown)}")
    config = {
        "policy": _project_policy(session.repo_root),
        "flow_path": str(flow.path) if flow.source != "builtin" else None,
        "limits": limits or {},
        "model_settings": model_settings or {"model": model},
    }
    settings, found = resolve_test_settings(session.repo_root, flow.settings, settings)
    if found is not None:
        config["test_command"] = {
            "command": found.command,
            "source": found.source,
            "reason": found.reason,
        }
    # Everything that can be wrong is checked before a run row exists.
    preflight.check_start(session.repo_root, config)
    # The run row and checkpoint 0 exist together or not at all (a kill in between
    # must not leave a run without a head).
    with session.store.transaction():
        run_id = session.store.create_run(flow.name, goal, model, autonomy, config)
        _set_flags(session, run_id, breakpoints or [], single_step)
        ledger.emit(
            session,
            run_id,
            RunStarted(flow=flow.name, goal=goal, model=model, autonomy=Autonomy(autonomy)),
        )
        state = initial_state(flow, goal, settings)
        ledger.record_checkpoint(
            session, run_id, None, "start", "your work before the run", state, None
        )
        session.store.update_run(run_id, status="paused")
        ledger.note_user_git(session, run_id, start=True)
    return run_id


def _loop_bounds(flow, settings: dict[str, Any] | None) -> dict[str, Any] | None:
    """``settings`` with each loop-bounding value (``--set NAME=N``) a whole number >= 1."""
    if not settings:
        return settings
    out = dict(settings)
    for name in flow.loop_settings() & set(out):
        text = str(out[name]).strip()
        if not text.isdigit() or int(text) < 1:
            raise UsageError(
                f"setting {name}={out[name]!r} bounds a loop: give a whole number >= 1"
            )
        out[name] = int(text)
    return out


def _check_autonomy(autonomy: str) -> None:
    if autonomy not in AUTONOMY_CHOICES:
        raise UsageError(f"unknown autonomy {autonomy!r}: use {', '.join(AUTONOMY_CHOICES)}")


def _project_policy(repo_root) -> dict[str, Any]:
    """The command policy config: ``[policy]`` of the user config and of the project.

    The project's ``.llmflows/config.toml`` may only narrow the policy (``deny``);
    ``allow`` and ``defaults`` come from the user config alone (engine/trust.py).
    """
    from engine.models.settings import user_config_path

    project = _policy_table(repo_root / ".llmflows" / "config.toml")
    user = _policy_table(user_config_path())
    out: dict[str, Any] = {k: user[k] for k in ("allow", "defaults") if k in user}
    deny = list(project.get("deny") or []) + list(user.get("deny") or [])
    if deny:
        out["deny"] = deny
    return out


def _policy_table(path) -> dict[str, Any]:
    import tomllib

    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("policy") or {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: {e}") from None
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [policy] must be a table with allow/deny lists")
    return table


def answer_gate(
    session,
    run_id: str,
    decision: str,
    *,
    reason: str = "",
    hunks: set[HunkRef] | None = None,
    reject_hunks: set[HunkRef] | None = None,
    note: str = "",
    comments: list[LineComment] | None = None,
    tasks: list[dict[str, Any]] | None = None,
) -> GateRecord:
    """Answer the run's open gate (returned as it was): approve | reject | stop.

    ``tasks``: at a plan gate, approve this task list instead of the planned one (the
    person added, removed, reworded or reordered tasks; see :mod:`engine.run.plan_edit`).
    The edited plan is what the run executes and what later prompts show.

    ``comments`` (line comments at a review gate) and the dropped hunks of a partial
    approval reach the next prompts as structured notes (:mod:`engine.run.review_notes`).

    At a review gate, approve can drop hunks of the review diff (:func:`review_diff`:
    the step's base → the working tree, so the person's own edits are hunks too):
    ``reject_hunks`` names the hunks to drop; ``hunks`` instead names the text hunks to
    keep (every other text hunk is dropped; whole-file changes are kept). Refs with a
    ``key`` are matched by content, others by index in the review diff as it is now.
    Everything not dropped stays on disk; edits the person made while paused become
    part of the step (checkpoint source ``edit``).
    """
    run = _run(session, run_id)
    gate = _pending_gate(session, run_id)
    if gate is None:
        hint = ": it has ended (a follow-up: run --continue GOAL)" if run.status in FINISHED else ""
        raise UsageError(f"run {run_id} is {run.status}, not waiting for an answer{hint}")
    if decision not in HUMAN_DECISIONS:
        raise UsageError(f"unknown decision {decision!r}")
    if decision == "reject" and not reason.strip():
        raise UsageError("a rejection needs a reason (it is sent to the model)")
    if hunks is not None and reject_hunks is not None:
        raise UsageError("give the hunks to keep or the hunks to drop, not both")
    if tasks is not None and (gate.kind != "plan" or decision != "approve"):
        raise UsageError("an edited task list goes with approving a plan gate")
    if decision != "stop":
        payload = gate.payload or {}
        ledger.require_snapshots(
            session,
            run.head_checkpoint_id,
            gate.checkpoint_id,
            payload.get("base_checkpoint_id"),
        )
        moved = ledger.check_user_git(session, run_id)
        if moved:
            ledger.emit(session, run_id, LogMessage(level="warning", message=moved))
    dropped: list[HunkRef] = []
    if (hunks is not None or reject_hunks is not None) and decision == "approve":
        if gate.kind != "review":
            raise UsageError(f"a {gate_label(gate.kind)} has no hunks to choose from")
        dropped = _hunks_to_drop(session, gate, hunks, reject_hunks)
    notes = _review_notes(session, gate, decision, dropped, comments or [])
    # One transaction: the handler's records (after its git work) and the answer are
    # kept together, or, if the handler refuses, nothing is and the gate stays open.
    with session.store.transaction():
        if decision != "stop":
            _GATE_HANDLERS[gate.kind](session, run, gate, decision, reason, dropped, note)
        if notes:
            _keep_notes(session, run_id, notes)
        answer: dict[str, Any] = {}
        if dropped:
            answer["dropped"] = [[h.path, h.index, h.key] for h in dropped]
        if tasks is not None:
            answer["tasks"] = _edit_plan(session, run_id, gate, tasks)
        session.store.answer_gate(gate.id, decision, reason, answer)
        ledger.emit(
            session,
            run_id,
            GateAnswered(gate_id=gate.id, decision=Decision(decision), reason=reason),
        )
        if decision == "stop":
            ledger.set_status(session, run_id, "stopped", reason or "stopped by the user")
        else:
            ledger.note_user_git(session, run_id)
    return gate


def _edit_plan(session, run_id: str, gate, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Make the person's task list the run's plan (a checkpoint); return the new tasks."""
    from engine.run.plan_edit import edited_plan

    cp, state = _head(session, _run(session, run_id))
    state = clone(state)
    new = edited_plan(state.get("plan", {}).get("tasks", []), tasks)
    state["plan"] = {**state.get("plan", {}), "tasks": new}
    node = gate.node or "plan"
    if isinstance(state["outputs"].get(node), dict) and "tasks" in state["outputs"][node]:
        state["outputs"][node] = {**state["outputs"][node], "tasks": new}
    ledger.record_checkpoint(
        session,
        run_id,
        gate.step_id,
        "edit",
        f"plan edited by you ({len(new)} tasks)",
        state,
        cp.id,
    )
    ledger.emit(session, run_id, PlanUpdated(step_id=gate.step_id, tasks=new))
    return new


def _review_notes(session, gate, decision, dropped, comments) -> list:
    """Notes for the next prompts, made before the handler changes the tree."""
    from engine.run.review_notes import comment_notes, rejected_hunk_notes

    if comments and gate.kind != "review":
        raise UsageError(f"line comments go with a review gate, not a {gate.kind} gate")
    if decision == "stop":
        return []
    notes = comment_notes(session.repo_root, comments)
    if dropped:
        notes += rejected_hunk_notes(review_diff(session, gate.run_id), dropped)
    return notes


def _keep_notes(session, run_id: str, notes: list) -> None:
    run = _run(session, run_id)
    cp, state = _head(session, run)
    state = clone(state)
    state["review_notes"] = [n.to_dict() for n in notes]
    ledger.record_checkpoint(
        session,
        run_id,
        cp.step_id,
        "review",
        f"{len(notes)} review note(s)",
        state,
        cp.id,
    )


def review_diff(session, run_id: str):
    """The diff a person reviews at the run's open review gate: step base → working tree.

    Hunk refs for :func:`answer_gate` index into this diff (or carry its keys).
    """
    gate = _pending_gate(session, run_id)
    base = None if gate is None else (gate.payload or {}).get("base_checkpoint_id")
    if gate is None or gate.kind != "review" or base is None:
        raise UsageError(f"run {run_id} is not waiting at a review gate")
    return session.checkpoints.diff(base, None)


def _hunks_to_drop(session, gate, keep, drop) -> list[HunkRef]:
    """Resolve the caller's refs on the live review diff (by key, else by index)."""
    live = review_diff(session, gate.run_id)
    if drop is not None:
        # A hunk's key and index name its file: only the files named are read (a review
        # of 10,000 files with two hunks dropped reads two files' hunks).
        named = {g.path for g in drop}
        chosen = [f for f in live.files if f.path in named]
        live.load_hunks(chosen)
        refs = [r for f in chosen for r in f.refs()]
    else:
        refs = live.refs()
    by_key = {r.key: r for r in refs}

    def resolve(given: set[HunkRef]) -> set[str]:
        keys = set()
        for g in given:
            found = by_key.get(g.key) if g.key else next((r for r in refs if r == g), None)
            if found is None:
                raise UsageError(
                    f"hunk {g.path}:{g.index} is not in the review diff as it is now (the "
                    "files changed since you looked): look at the diff again"
                )
            keys.add(found.key)
        return keys

    if drop is not None:
        keys = resolve(set(drop))
        return [r for r in refs if r.key in keys]
    kept = resolve(set(keep))
    text_hunks = {r.path for f in live.files if f.hunks for r in f.refs()}
    return [r for r in refs if r.key not in kept and r.path in text_hunks]


def _capture_user_edits(session, run, note: str) -> None:
    """If the tree differs from the head checkpoint, record it as the person's edit."""
    cp, state = _head(session, run)
    diff = session.checkpoints.diff(cp.id, None)
    if not diff.files:
        return
    state = clone(state)
    files = [f.path for f in diff.files]
    state.setdefault("user_edits", []).append({"files": files, "note": note})
    state["touched"] = sorted(set(state.get("touched", [])) | set(files))
    ledger.record_checkpoint(
        session, run.id, cp.step_id, "edit", note or "your edits", state, cp.id
    )


def _review(session, run, gate, decision, reason, dropped, note) -> None:
    payload = gate.payload or {}
    cp, state = _head(session, run)
    base_id = payload.get("base_checkpoint_id")
    if decision == "approve":
        if base_id is not None and not payload.get("final"):
            _refuse_if_step_vanished(session, gate, base_id)
        if dropped and base_id is not None:
            _approve_dropping(session, run, gate, base_id, dropped, note)
        else:
            _capture_user_edits(session, run, note)
        if payload.get("final"):
            run = _run(session, run.id)
            cp, state = _head(session, run)
            state = clone(state)
            state["final_review_done"] = True
            ledger.record_checkpoint(
                session, run.id, None, "review", "final review approved", state, cp.id
            )
        return
    # reject: put the step's base tree back (the rejected tree stays in a checkpoint)
    state = clone(state)
    if payload.get("final"):
        state["feedback"].append(reason)
        last_edit = _last_editing_node(session, run.id)
        state["cursor"] = {"node": last_edit or END, "item": 0}
        ledger.record_checkpoint(
            session, run.id, None, "reject", "final review rejected", state, cp.id
        )
        return
    base = _cp(session, base_id)
    _undo_step_files(session, gate, base)
    new_state = clone(session.store.get_blob(base.state_hash))
    new_state["feedback"] = list(state.get("feedback", [])) + [reason]
    # messages the person gave at this gate still reach the next attempt
    new_state["instruction"] = state.get("instruction") or ""
    new_state["messages"] = list(state.get("messages", []))
    step_id = gate.step_id
    if step_id:
        session.store.update_step(step_id, status="rejected", error=reason)
    ledger.record_checkpoint(
        session, run.id, step_id, "reject", f"rejected: {reason[:60]}", new_state, cp.id
    )


def _refuse_if_step_vanished(session, gate, base_id: int) -> None:
    """Approving a step none of whose changes are left on disk would keep nothing silently.

    That happens after a `git reset --hard`, a `git stash` or a checkout while paused
    (or the person undoing every change by hand): say so, and how to get them back.
    """
    step_files = {f.path for f in session.checkpoints.diff(base_id, gate.checkpoint_id).files}
    if not step_files:
        return
    live = {f.path for f in session.checkpoints.diff(base_id, None).files}
    if step_files & live:
        return
    raise RepoMovedError(
        f"the working tree no longer has any of this step's changes ({', '.join(sorted(step_files))}"
        "): a `git reset --hard`, `git stash` or checkout while the run was paused? Nothing was "
        "changed. To get them back, undo that (`git stash pop`, or see `git reflog`) or "
        f"`llmflows-tui rewind {gate.checkpoint_id}`; to drop the step, reject it"
    )


def _undo_step_files(session, gate, base) -> None:
    """Put the step's files back to the base tree; the person's own edits stay.

    Only files the step changed are written (like approving none of its hunks), so
    files the person edited or created while paused, and the user's index, are left
    alone. The rejected tree stays in the gate's checkpoint.
    """
    from engine.git.diffs import apply_hunks

    step_diff = session.checkpoints.diff(base.id, gate.checkpoint_id)
    step_files = {f.path for f in step_diff.files}
    live = session.checkpoints.diff(gate.checkpoint_id, None)
    edited = {f.path for f in live.files} | {f.old_path for f in live.files if f.old_path}
    clash = sorted((step_files | {f.old_path for f in step_diff.files if f.old_path}) & edited)
    if clash:
        raise UsageError(
            "you edited " + ", ".join(clash) + ", which this step changed; rejecting would "
            "throw your edit away: undo it first, or approve (keeping your edit)"
        )
    target = _cp(session, gate.checkpoint_id)
    apply_hunks(session.repo_root, base.commit_sha, target.commit_sha, set(), paths=step_files)


def _approve_dropping(session, run, gate, base_id, dropped: list[HunkRef], note) -> None:
    """Drop the rejected hunks of the review diff from disk; everything else stays.

    The tree as it is (the step's change plus the person's edits) is first kept as an
    ``edit`` checkpoint, then the files with dropped hunks are rebuilt from the base
    plus every other hunk of diff(base, that checkpoint): the same hunks, by key.
    """
    from engine.git.diffs import apply_hunks, diff_commits

    _capture_user_edits(session, run, note)
    run = _run(session, run.id)
    cp, state = _head(session, run)
    base = _cp(session, base_id)
    full = diff_commits(session.repo_root, base.commit_sha, cp.commit_sha)
    keys = {h.key for h in dropped}
    refs = full.refs()
    apply_hunks(
        session.repo_root,
        base.commit_sha,
        cp.commit_sha,
        {r for r in refs if r.key not in keys},
        paths={h.path for h in dropped},
    )
    ledger.record_checkpoint(
        session,
        run.id,
        gate.step_id,
        "review",
        f"kept {len(refs) - len(dropped)} of {len(refs)} hunk(s)",
        state,
        cp.id,
    )


def _last_editing_node(session, run_id: str) -> str | None:
    for s in reversed(_steps(session, run_id)):
        if s.kind == "agent":
            return s.node
    return None


def _gate_node(session, run, gate, decision, reason, hunks, note) -> None:
    from engine.flow.spec import get_flow

    cp, state = _head(session, run)
    config = run.config or {}
    flow = get_flow(config.get("flow_path") or run.flow, session.repo_root)
    node = flow.node(gate.node)
    _capture_user_edits(session, run, note)
    run = _run(session, run.id)
    cp, state = _head(session, run)
    state = clone(state)
    step_id = gate.step_id
    if decision == "approve":
        state["iterations"][node.id] = state["iterations"].get(node.id, 0) + 1
        state["cursor"] = {"node": flow.next_node(node.id, state), "item": 0}
        new_cp = ledger.record_checkpoint(
            session, run.id, step_id, "step", f"{node.id} approved", state, cp.id
        )
        if step_id:
            session.store.finish_step(step_id, "done", checkpoint_id=new_cp.id)
        return
    state["feedback"].append(reason)
    target = node.on_reject or _previous_node(session, run.id, node.id) or node.id
    state["cursor"] = {"node": target, "item": 0}
    # A person asked for another try: the loop bound starts afresh for it.
    state["iterations"][target] = 0
    if step_id:
        session.store.finish_step(step_id, "rejected", error=reason)
    ledger.record_checkpoint(
        session, run.id, step_id, "reject", f"{node.id} rejected → {target}", state, cp.id
    )


def _previous_node(session, run_id: str, node_id: str) -> str | None:
    for s in reversed(_steps(session, run_id)):
        if s.node != node_id and s.kind != "gate":
            return s.node
    return None


def _command(session, run, gate, decision, reason, hunks, note) -> None:
    command = (gate.payload or {}).get("command", "")
    session.store.decide_command(run.id, command, decision == "approve", reason)


def _breakpoint(session, run, gate, decision, reason, hunks, note) -> None:
    if decision == "reject":
        ledger.set_status(session, run.id, "stopped", reason or "stopped at a breakpoint")


def _crash(session, run, gate, decision, reason, hunks, note) -> None:
    # Approve: the step is re-entered as it was; its done effects replay and the
    # unfinished one runs again. Nothing else to record.
    if decision == "reject":
        ledger.set_status(session, run.id, "stopped", reason or "stopped after a crash")


def _tests(session, run, gate, decision, reason, hunks, note) -> None:
    """A test command that could not say anything: run it again, maybe a new one."""
    from engine.tools.testdetect import TEST_SETTING, configured_test_command

    if decision != "approve":
        ledger.set_status(session, run.id, "stopped", reason or "stopped: the tests could not run")
        return
    cp, state = _head(session, run)
    state = clone(state)
    configured = configured_test_command(session.repo_root)
    if configured and TEST_SETTING in state.get("settings", {}):
        state["settings"][TEST_SETTING] = configured
    step_id = gate.step_id
    if step_id:
        session.store.update_step(step_id, status="abandoned", error="test command re-run")
    ledger.record_checkpoint(session, run.id, step_id, "step", "tests: run again", state, cp.id)


def _context(session, run, gate, decision, reason, hunks, note) -> None:
    """Approve re-enters the step (maybe with a model set meanwhile); reject stops."""
    if decision != "approve":
        ledger.set_status(session, run.id, "stopped", reason or "stopped: the prompt does not fit")


_GATE_HANDLERS = {
    "tests": _tests,
    "context": _context,
    "plan": _review,  # approve goes on; reject re-plans with the reason
    "review": _review,
    "gate": _gate_node,
    "command": _command,
    "breakpoint": _breakpoint,
    "crash": _crash,
}


def _close_open_gate(session, run_id: str, why: str, answer: dict | None = None) -> None:
    gate = _pending_gate(session, run_id)
    if gate is not None:
        session.store.answer_gate(gate.id, "superseded", why, answer or {})
        ledger.emit(
            session,
            run_id,
            GateAnswered(gate_id=gate.id, decision=Decision.SUPERSEDED, reason=why),
        )


def _abandon_in_flight(session, run_id: str) -> None:
    for s in _steps(session, run_id):
        if s.status in IN_FLIGHT_STEPS:
            session.store.update_step(s.id, status="abandoned")
    # Answers kept for the next attempt belong to the abandoned line of work.
    session.store.drop_answers(run_id)


def node_at(session, checkpoint: CheckpointRecord) -> tuple[str | None, bool]:
    """The flow node a run is at in a checkpoint, and whether it is the one that runs next
    from there (else the flow had ended: the last one that ran before it was made)."""
    blob = checkpoint.state_hash
    state = session.store.get_blob(blob) if blob else None
    cursor = str(((state or {}).get("cursor") or {}).get("node") or "")
    if cursor and cursor not in (END, FAIL):
        return cursor, True
    made = float(checkpoint.created_at or 0)
    ran = [s for s in _steps(session, checkpoint.run_id or "") if (s.started_at or 0) <= made]
    return (ran[-1].node if ran else None), False


def rewind(session, run_id: str, checkpoint_id: int) -> dict[str, Any]:
    """Restore a checkpoint's tree and make it the run's head (undoable)."""
    _run(session, run_id)
    target = _cp(session, checkpoint_id)
    if target is None:
        raise CheckpointNotFoundError(f"no checkpoint {checkpoint_id}")
    if target.run_id not in (run_id, None) or not target.state_hash:
        raise UsageError(f"checkpoint {checkpoint_id} does not belong to run {run_id}")
    ledger.require_snapshots(session, checkpoint_id)
    # The service keeps the current tree *and* run state in a pre-restore checkpoint.
    result = session.checkpoints.rewind(checkpoint_id)
    moved = ledger.moved_since_start(session, run_id)
    result["warnings"] = [moved] if moved else []
    undo = result["undo_checkpoint"]
    with session.store.transaction():
        ledger.announce(session, run_id, _cp(session, undo))
        # The question open here is asked again when the person comes back (undo).
        _close_open_gate(session, run_id, "rewound", {"undo_checkpoint": undo})
        _abandon_in_flight(session, run_id)
        ledger.move_head(session, run_id, checkpoint_id)
        ledger.emit(
            session,
            run_id,
            Rewound(checkpoint_id=checkpoint_id, undo_checkpoint_id=undo),
        )
        if _reopen_gate_left_at(session, run_id, checkpoint_id):
            ledger.note_user_git(session, run_id)
            return result
        node, runs_next = node_at(session, target)
        then = f": c continues with {node}" if runs_next else ""
        ledger.set_status(
            session,
            run_id,
            "paused",
            f"rewound to checkpoint {checkpoint_id}{then}",
            node=node,
        )
        # Rewinding is the person's choice of files: the run now builds on this position.
        ledger.note_user_git(session, run_id)
    return result


def _reopen_gate_left_at(session, run_id: str, checkpoint_id: int) -> bool:
    """Back at a position a rewind left while a gate was open there (the rewind's undo
    checkpoint, or the gate's own checkpoint): open that question again.

    Without this, undoing a rewind made at a review would move on as if the person had
    approved the step: its state is already past the step. True if a gate was opened.
    """
    for gate in reversed(session.store.superseded_gates(run_id)):
        answer = gate.get("answer") or {}
        if checkpoint_id not in (gate["checkpoint_id"], answer.get("undo_checkpoint")):
            continue
        ledger.open_gate(
            session,
            run_id,
            gate["kind"],
            gate["node"],
            gate["prompt"] or "",
            gate["step_id"],
            checkpoint_id,
            gate.get("payload") or {},
        )
        return True
    return False


def retry(
    session,
    checkpoint_id: int,
    *,
    instruction: str = "",
    model: str | None = None,
) -> str:
    """Rewind to a checkpoint and run its next node again as a sibling attempt."""
    cp = _cp(session, checkpoint_id)
    if cp is None:
        raise CheckpointNotFoundError(f"no checkpoint {checkpoint_id}")
    run_id = cp.run_id
    if not run_id:
        raise UsageError(f"checkpoint {checkpoint_id} is a manual save point, not part of a run")
    with session.store.transaction():
        rewind(session, run_id, checkpoint_id)
        run = _run(session, run_id)
        state = clone(session.store.get_blob(cp.state_hash))
        state["instruction"] = instruction
        if model:
            config = dict(run.config or {})
            settings = dict(config.get("model_settings") or {})
            settings["model"] = model
            config["model_settings"] = settings
            session.store.update_run(run_id, config=config, model=model)
        ledger.record_checkpoint(
            session, run_id, None, "retry", f"retry: {instruction[:60]}", state, checkpoint_id
        )
    return run_id


def fork(session, checkpoint_id: int) -> str:
    """Start a new run from any checkpoint of an old one (the old run is untouched)."""
    from engine.events import RunStarted

    cp = _cp(session, checkpoint_id)
    if cp is None or not cp.run_id:
        raise CheckpointNotFoundError(f"no run checkpoint {checkpoint_id}")
    old = _run(session, cp.run_id)
    ledger.require_snapshots(session, checkpoint_id)
    session.checkpoints.rewind(checkpoint_id)
    # The new run, its checkpoint 0 and its status: one transaction after the git work.
    with session.store.transaction():
        run_id = session.store.create_run(
            old.flow, old.goal, old.model, old.autonomy, dict(old.config or {})
        )
        _copy_flags(session, old, run_id)
        ledger.emit(
            session,
            run_id,
            RunStarted(
                flow=old.flow, goal=old.goal, model=old.model, autonomy=Autonomy(old.autonomy)
            ),
        )
        state = clone(session.store.get_blob(cp.state_hash))
        ledger.record_checkpoint(
            session,
            run_id,
            None,
            "start",
            f"forked from checkpoint {checkpoint_id}",
            state,
            checkpoint_id,
        )
        session.store.update_run(run_id, status="paused")
        ledger.note_user_git(session, run_id, start=True)
    return run_id


PAUSED_FOR_MESSAGES = ("paused", "stopped", "crashed")


def message_agent(session, run_id: str, text: str) -> CheckpointRecord:
    """Give the agent a message at a pause: it reaches the next model call as an instruction.

    Allowed while the run is paused (at any gate), stopped or crashed; the message is
    kept in the run state (``instruction`` for the next call, ``messages`` for the
    transcript) by a ``message`` checkpoint, and announced as a ``UserMessage`` event.
    """
    from engine.events import UserMessage

    run = _run(session, run_id)
    text = text.strip()
    if not text:
        raise UsageError("the message is empty: write what the agent should know")
    if run.status not in PAUSED_FOR_MESSAGES:
        raise UsageError(
            f"run {run_id} is {run.status}: a message can be given while it is paused or "
            "stopped (for a finished run, ask a follow-up)"
        )
    cp, state = _head(session, run)
    state = clone(state)
    earlier = state.get("instruction") or ""
    state["instruction"] = f"{earlier}\n\n{text}" if earlier else text
    state["messages"] = [*state.get("messages", []), {"text": text, "node": _cursor_node(state)}]
    new_cp = ledger.record_checkpoint(
        session, run_id, cp.step_id, "message", f"message: {text[:60]}", state, cp.id
    )
    ledger.emit(session, run_id, UserMessage(text=text))
    return new_cp


def _cursor_node(state: dict[str, Any]) -> str:
    return str((state.get("cursor") or {}).get("node") or "")


def follow_up(
    session,
    run_id: str,
    goal: str,
    *,
    model: str | None = None,
    autonomy: str | None = None,
    limits: dict[str, Any] | None = None,
) -> str:
    """Ask a follow-up on a finished run: a new run of the same flow, linked to it.

    The new run starts from the old run's final tree (if the working tree differs, it is
    restored, the current files kept in an undo checkpoint first) and its checkpoint 0's
    parent is the old run's head — in the store only: its git commit has no parent in the
    old run's history, so ``gc`` of the old run frees what only the old run used. The old
    run is untouched. Returns the new run's id.
    """
    from engine.events import RunStarted
    from engine.flow.spec import get_flow

    old = _run(session, run_id)
    if old.status not in FINISHED:
        raise UsageError(
            f"run {run_id} is {old.status}: continue it (or give it a message) instead"
        )
    if not goal.strip():
        raise UsageError("the follow-up is empty: say what the agent should do next")
    autonomy = autonomy or old.autonomy
    _check_autonomy(autonomy)
    final = _cp(session, old.head_checkpoint_id)
    if session.checkpoints.diff(final.id, None).files:
        session.checkpoints.rewind(final.id)
    config = dict(old.config or {})
    config["follows"] = run_id
    if limits:
        config["limits"] = {**(config.get("limits") or {}), **limits}
    model = model or old.model
    if model != old.model:
        config["model_settings"] = {**(config.get("model_settings") or {}), "model": model}
    flow = get_flow(config.get("flow_path") or old.flow, session.repo_root)
    with session.store.transaction():
        new_id = session.store.create_run(flow.name, goal, model, autonomy, config)
        _copy_flags(session, old, new_id)
        ledger.emit(
            session,
            new_id,
            RunStarted(flow=flow.name, goal=goal, model=model, autonomy=Autonomy(autonomy)),
        )
        state = initial_state(flow, goal)
        state["instruction"] = (
            f"This follows run {run_id}, whose goal was: {old.goal}. "
            "Its changes are in the working tree."
        )
        ledger.record_checkpoint(
            session,
            new_id,
            None,
            "start",
            f"follow-up of run {run_id}: starts from its final tree",
            state,
            final.id,
            git_parent=False,
        )
        session.store.update_run(new_id, status="paused")
        ledger.note_user_git(session, new_id, start=True)
    return new_id


def update_limits(session, run_id: str, **limits: Any) -> None:
    """Raise (or set) a run's budgets, e.g. before resuming a budget-stopped run."""
    run = _run(session, run_id)
    config = dict(run.config or {})
    cur = dict(config.get("limits") or {})
    cur.update({k: v for k, v in limits.items() if v is not None})
    config["limits"] = cur
    session.store.update_run(run_id, config=config)


def set_model(session, run_id: str, model: str) -> None:
    run = _run(session, run_id)
    config = dict(run.config or {})
    settings = dict(config.get("model_settings") or {})
    settings["model"] = model
    config["model_settings"] = settings
    session.store.update_run(run_id, config=config, model=model)


def _set_flags(session, run_id: str, breakpoints: list[str], single_step: bool) -> None:
    session.store.set_breakpoints(run_id, breakpoints)
    session.store.update_run(run_id, single_step=single_step)


def _copy_flags(session, old: RunRecord, new_id: str) -> None:
    """A fork or follow-up pauses where its origin did."""
    _set_flags(session, new_id, session.store.breakpoints(old.id), old.single_step)


def run_flags(session, run_id: str) -> RunFlags:
    """A run's breakpoints and single-step mode."""
    run = _run(session, run_id)
    return RunFlags(session.store.breakpoints(run_id), run.single_step)


def set_run_flags(
    session, run_id: str, *, breakpoints: list[str] | None = None, single_step: bool | None = None
) -> RunFlags:
    """Change a run's breakpoints and/or single-step mode (takes effect at the next node)."""
    _run(session, run_id)
    with session.store.transaction():
        if breakpoints is not None:
            session.store.set_breakpoints(run_id, breakpoints)
        if single_step is not None:
            session.store.update_run(run_id, single_step=single_step)
    return run_flags(session, run_id)


def reopen(session, run_id: str) -> None:
    """Make a stopped run continuable (what `resume` does before executing).

    Crashed runs are left as they are: the executor's recovery handles them.
    """
    run = _run(session, run_id)
    if run.status == RunStatus.STOPPED:
        ledger.set_status(session, run_id, RunStatus.PAUSED, "reopened to continue")
