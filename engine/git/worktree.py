"""Runs in their own ``git worktree`` (``run --worktree``), so several go in parallel.

Each worktree is a full checkout of the current commit under
``.llmflows/worktrees/<name>`` (ignored by the repo: ``.llmflows/`` is in
``info/exclude``), detached at HEAD — no branch is made unless the person asks
for one with ``--branch``. Each has its own run store and writer lock, so a
run there does not wait for the one in the main checkout.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from engine.errors import GitCommandError, NotAGitRepoError, UsageError
from engine.git.repo import open_repo, plain_git, run_git

WORKTREES_DIR = Path(".llmflows") / "worktrees"


def create_worktree(repo_root: Path, name: str | None = None) -> Path:
    """Add a detached worktree at HEAD; return its path. Uncommitted work is not copied."""
    from engine.store.runstore import ensure_excluded

    name = name or time.strftime("run-%Y%m%d-%H%M%S")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        raise UsageError(f"worktree name {name!r}: use letters, digits, '.', '_' and '-'")
    ensure_excluded(repo_root)
    path = repo_root / WORKTREES_DIR / name
    if path.exists():
        raise UsageError(f"worktree {path} already exists: pick another name")
    with open_repo(repo_root) as repo:
        try:
            run_git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}")
        except GitCommandError:
            raise UsageError(
                "--worktree needs a first commit (a worktree checks out HEAD)"
            ) from None
        run_git(repo, "worktree", "add", "-q", "--detach", str(path), "HEAD")
    return path


def list_worktrees(repo_root: Path) -> list[Path]:
    """Every work tree of the repository (the main one first), as git lists them."""
    out = plain_git(repo_root, "worktree", "list", "--porcelain")
    if out is None:
        raise NotAGitRepoError(str(repo_root))
    return [
        Path(line[len("worktree ") :]) for line in out.splitlines() if line.startswith("worktree ")
    ]


def runs_in_all_worktrees(session) -> list:
    """This checkout's run summaries plus those of every other worktree with a store
    (read-only; ``worktree`` set to its path), newest first."""
    from dataclasses import replace

    from engine.readmodels import run_summaries
    from engine.run.session import Session
    from engine.store.runstore import DB_NAME, store_dir

    rows = list(run_summaries(session))
    here = session.repo_root.resolve()
    for tree in list_worktrees(session.repo_root):
        if tree.resolve() == here or not (store_dir(tree) / DB_NAME).is_file():
            continue
        with Session.open(tree, write=False) as other:
            rows += [replace(r, worktree=str(tree)) for r in run_summaries(other)]
    return sorted(rows, key=lambda r: r.created_at or 0, reverse=True)
