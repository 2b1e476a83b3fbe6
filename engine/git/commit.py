"""Git at the end of a run, only when asked (``--commit`` / ``--branch`` / the review key).

The approved change — the files the run changed between its checkpoint 0 and its
final checkpoint — is committed with the person's own git identity (author and
committer are never set by us) on the current branch or a new one. The message
is the run's summary, with a ``Co-authored-by:`` trailer naming the model. Only
the run's paths are committed: other staged or unstaged work stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import UsageError
from engine.git.repo import open_repo, run_git
from engine.records import RunStatus

CO_AUTHOR_EMAIL = "llmflows-tui@users.noreply.invalid"


@dataclass(frozen=True)
class CommitResult:
    sha: str
    branch: str
    message: str
    paths: list[str]


def commit_message(goal: str, summary: str, model: str, run_id: str) -> str:
    """Subject from the summary (else the goal), body, run id, and the co-author trailer."""
    text = (summary or goal).strip()
    subject, _, body = text.partition("\n")
    if len(subject) > 72:
        subject, body = subject[:71].rstrip() + "…", f"{text}"
    parts = [subject]
    if body.strip():
        parts.append(body.strip())
    if summary.strip() and goal.strip() not in text:
        parts.append(f"Goal: {goal.strip()}")
    parts.append(f"llmflows-tui run {run_id}\n\nCo-authored-by: {model} <{CO_AUTHOR_EMAIL}>")
    return "\n\n".join(parts) + "\n"


def commit_run(session, run_id: str, *, branch: str | None = None) -> CommitResult:
    """Commit a completed run's change (``branch``: on a new branch made from HEAD)."""
    from engine.run.operations import get_run
    from engine.run.result import run_summary_text

    run = get_run(session, run_id)
    if run["status"] != RunStatus.COMPLETED:
        raise UsageError(f"run {run_id} is {run['status']}: only a completed run is committed")
    start = session.store.first_checkpoint(run_id)
    head = session.store.get_checkpoint(run["head_checkpoint_id"])
    paths = sorted(
        {
            p
            for f in session.checkpoints.diff(start["id"], head["id"]).files
            for p in (f.path, f.old_path)
            if p
        }
    )
    if not paths:
        raise UsageError(f"run {run_id} changed no files: nothing to commit")
    live = {f.path for f in session.checkpoints.diff(head["id"], None).files}
    if live & set(paths):
        raise UsageError(
            f"the working tree no longer matches run {run_id}'s final checkpoint for "
            f"{', '.join(sorted(live & set(paths))[:5])}: commit by hand, or rewind to checkpoint {head['id']}"
        )
    state = session.store.get_blob(head["state_hash"])
    message = commit_message(run["goal"], run_summary_text(state), run["model"], run_id)
    with open_repo(session.repo_root) as repo:
        if branch:
            run_git(repo, "check-ref-format", "--branch", branch)
            if run_git(repo, "branch", "--list", branch):
                raise UsageError(f"branch {branch!r} already exists")
            run_git(repo, "switch", "-q", "-c", branch)  # carries the working tree along
        # --only commits just these paths from the work tree; new files need to be known
        # to git first (intent-to-add), and the rest of the index is left as it was.
        existing = [p for p in paths if (session.repo_root / p).exists()]
        if existing:
            run_git(repo, "add", "--intent-to-add", "--", *existing)
        run_git(repo, "commit", "-q", "--only", "-F", "-", "--", *paths, input=message.encode())
        sha = str(run_git(repo, "rev-parse", "HEAD"))
        current = str(run_git(repo, "branch", "--show-current"))
    config = dict(run.get("config") or {})
    config["commit"] = {"sha": sha, "branch": current}
    session.store.update_run(run_id, config=config)
    return CommitResult(sha, current, message, paths)
