"""The ledger: the one owner of a run's recorded state transitions.

Status changes, checkpoint records, head moves, kept model answers, approved and
refused commands, and the user's git position seen by the run all go through
here, for the executor and for the human operations alike (so neither imports
the other). Git work happens first; each transition's database part is one
transaction after it, so a kill leaves either the old record or the new one.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace
from typing import Any

from engine.errors import CheckpointNotFoundError, RepoMovedError
from engine.events import CheckpointMade, GateOpened, RunStatusChanged
from engine.records import FINISHED, CheckpointRecord, GateKind, RunRecord, RunStatus, StepRecord


def _run(session, run_id: str) -> RunRecord:
    return RunRecord.from_row(session.store.get_run(run_id))


def emit(session, run_id: str, event):
    event.run_id = run_id
    return session.bus.emit(event)


def announce(session, run_id: str, cp: CheckpointRecord) -> None:
    """Publish a checkpoint made outside :func:`record_checkpoint` (e.g. an undo point)."""
    emit(
        session,
        run_id,
        CheckpointMade(
            checkpoint_id=cp.id,
            parent_id=cp.parent_id,
            source=cp.source,
            message=cp.message or "",
            step_id=cp.step_id,
            files_changed=int(cp.files_changed or 0),
            partial=bool(cp.partial),
        ),
    )


def record_checkpoint(
    session,
    run_id,
    step_id,
    source,
    message,
    state,
    parent_id,
    *,
    move_head: bool = True,
    git_parent: bool = True,
) -> CheckpointRecord:
    """Checkpoint the tree with ``state``, announce it, and (by default) make it the head."""
    row = session.checkpoints.create(
        run_id, step_id, source, message, state, parent_id=parent_id, git_parent=git_parent
    )
    cp = CheckpointRecord.from_row(row)
    if move_head:
        session.store.update_run(run_id, head_checkpoint_id=cp.id)
    announce(
        session,
        run_id,
        replace(cp, parent_id=parent_id, source=source, message=message, step_id=step_id),
    )
    return cp


def open_gate(
    session,
    run_id: str,
    kind: str,
    node: str | None,
    prompt: str,
    step_id: int | None,
    checkpoint_id: int | None,
    payload: dict[str, Any] | None,
) -> tuple[int, dict[str, Any]]:
    """Put a question to the person: record and announce the gate, pause the run.

    Returns the gate id and the run fields written (see :func:`set_status`).
    """
    gate_id = session.store.open_gate(run_id, step_id, kind, node, prompt, checkpoint_id, payload)
    emit(
        session,
        run_id,
        GateOpened(
            gate_id=gate_id,
            step_id=step_id,
            kind=GateKind(kind),
            node=node,
            prompt=prompt,
            checkpoint_id=checkpoint_id,
        ),
    )
    first = prompt.splitlines()[0] if prompt else kind
    return gate_id, set_status(session, run_id, "paused", first, node)


def set_status(
    session, run_id: str, status: str, reason: str = "", node: str | None = None
) -> dict[str, Any]:
    """Record and announce a run status; returns the fields written."""
    fields: dict[str, Any] = {"status": status, "error": reason or None}
    if status in FINISHED:
        fields["finished_at"] = time.time()
    session.store.update_run(run_id, **fields)
    emit(session, run_id, RunStatusChanged(status=RunStatus(status), reason=reason, node=node))
    return fields


def move_head(session, run_id: str, checkpoint_id: int) -> None:
    session.store.update_run(run_id, head_checkpoint_id=checkpoint_id)


# ------------------------------------------------------------- kept model answers


def replay_key(node_id: str, task_id: str | None) -> str:
    """Which node/task's next attempt reuses a step's model answers."""
    return f"{node_id}/{task_id or ''}"


def keep_answers(session, run_id: str, step: StepRecord) -> None:
    """The next attempt of this step's node/task replays the step's model answers."""
    session.store.keep_answers(run_id, replay_key(step.node, step.task_id), step.id)


def take_answers(session, run_id: str, node_id: str, task_id: str | None) -> int | None:
    """The step whose answers this new attempt reuses (once), if one was kept."""
    return session.store.take_answers(run_id, replay_key(node_id, task_id))


# ------------------------------------------------------------------- snapshots


def require_snapshots(session, *checkpoint_ids: int | None) -> None:
    """Fail clearly if a checkpoint's git snapshot is gone (refs deleted, then gc)."""
    cps = [
        CheckpointRecord.from_row(session.store.get_checkpoint(c))
        for c in dict.fromkeys(checkpoint_ids)
        if c
    ]
    if not cps:
        return
    shas = "".join(f"{cp.commit_sha}^{{commit}}\n" for cp in cps)
    out = subprocess.run(
        ["git", "cat-file", "--batch-check"],
        cwd=session.repo_root,
        input=shas,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    missing = [cp for cp, line in zip(cps, out, strict=False) if line.endswith(" missing")]
    if len(out) < len(cps):
        missing = cps[len(out) :] + missing
    if missing:
        ids = ", ".join(str(cp.id) for cp in missing)
        raise CheckpointNotFoundError(
            f"checkpoint {ids}: its snapshot is missing from git (were refs/llmflows/ deleted "
            "and garbage-collected?), so this run cannot go on from it. Nothing was changed. "
            "Rewind the run to a checkpoint that is still there (`llmflows-tui checkpoints`), "
            "or start a new run"
        )


# ------------------------------------------------------- the user's git position


def _git(session, *args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=session.repo_root, capture_output=True, text=True, check=False
    )
    return out.stdout.strip() if out.returncode == 0 else ""


def user_git_mark(session) -> dict[str, str]:
    """Where the user's repository stands: HEAD, its commit, the stash, the last reflog entry.

    A commit, a branch switch, a stash or a reset each change one of these (a
    reset to the same commit still writes a reflog entry).
    """
    head_path, log_path = _git(
        session, "rev-parse", "--git-path", "HEAD", "--git-path", "logs/HEAD"
    ).split("\n")
    root = session.repo_root

    def read(rel: str) -> str:
        p = root / rel
        try:
            return p.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    log = read(log_path).rstrip("\n")
    return {
        "head": read(head_path).strip(),
        "commit": _git(session, "rev-parse", "-q", "--verify", "HEAD^{commit}"),
        "stash": _git(session, "rev-parse", "-q", "--verify", "refs/stash"),
        "reflog": log.rsplit("\n", 1)[-1],
    }


def note_user_git(session, run_id: str, *, start: bool = False) -> None:
    """Record the user's git position as seen (and, at run start, as the run's origin)."""
    mark = user_git_mark(session)
    seen = dict(_run(session, run_id).user_git)
    if start or "start" not in seen:
        seen["start"] = mark
    seen["seen"] = mark
    session.store.update_run(run_id, user_git=seen)


def _moves(old: dict[str, str], new: dict[str, str]) -> list[str]:
    out = []

    def branch(mark: dict[str, str]) -> str:
        h = mark.get("head", "")
        return h.removeprefix("ref: refs/heads/") if h.startswith("ref:") else "a detached HEAD"

    if old.get("head") != new.get("head"):
        out.append(f"HEAD switched from {branch(old)} to {branch(new)}")
    elif old.get("commit") != new.get("commit"):
        out.append(
            f"{branch(new)} moved from {old.get('commit', '')[:10] or 'no commit'} to "
            f"{new.get('commit', '')[:10]} (a commit or a reset)"
        )
    elif old.get("reflog") != new.get("reflog"):
        what = new.get("reflog", "").split("\t", 1)[-1]
        out.append(f"HEAD was reset ({what})" if what.startswith("reset") else f"git: {what}")
    if old.get("stash") != new.get("stash"):
        out.append("the stash changed (a `git stash`)")
    return out


_UNDO_HINT = {
    "switched": "switch back",
    "stash": "`git stash pop`",
    "reset": "`git reset` back (see `git reflog`)",
}


def check_user_git(session, run_id: str) -> str | None:
    """Refuse to go on if the person moved the repository under a paused run.

    When HEAD moved, the stash changed or HEAD was reset since the run last saw the
    repository, and the working tree no longer matches the run's head checkpoint,
    continuing would silently build on the wrong files: raise
    :class:`RepoMovedError` saying what happened and what to do. If the files are
    still the run's (e.g. the person committed them), note the move and return a
    line saying so.
    """
    run = _run(session, run_id)
    seen = run.user_git.get("seen")
    if not seen:
        return None
    now = user_git_mark(session)
    moves = _moves(seen, now)
    if not moves:
        return None
    head = run.head_checkpoint_id
    require_snapshots(session, head)
    diff = session.checkpoints.diff(head, None)
    what = "; ".join(moves)
    if not diff.files:
        note_user_git(session, run_id)
        return f"while the run was paused, {what}; the files are as the run left them"
    hints = [h for key, h in _UNDO_HINT.items() if any(key in m for m in moves)]
    files = ", ".join(f.path for f in diff.files[:5]) + (" …" if len(diff.files) > 5 else "")
    raise RepoMovedError(
        f"while the run was paused, {what}, and the working tree no longer matches the "
        f"run's checkpoint {head} ({files}). Nothing was changed. To go on, undo that "
        f"({' or '.join(hints) or 'see `git reflog`'}) and resume, or put the run's files "
        f"back with `llmflows-tui rewind {head}` (what you have now is kept in an undo "
        "checkpoint)"
    )


def moved_since_start(session, run_id: str) -> str | None:
    """A line for a rewind: the user's HEAD has commits the run's early checkpoints lack."""
    start = _run(session, run_id).user_git.get("start") or {}
    now = user_git_mark(session)
    if not start or start.get("commit") == now.get("commit"):
        return None
    return (
        f"HEAD moved since this run started ({start.get('commit', '')[:10] or 'no commit'} → "
        f"{now.get('commit', '')[:10]}, e.g. you committed): the restored files are uncommitted "
        "changes on top of it, and where they differ they undo what was committed since"
    )
