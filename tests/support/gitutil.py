"""Helpers for tests that build real git repositories in temp dirs."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(cwd: Path, *args: str, check: bool = True) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def init_repo(path: Path, files: dict[str, str] | None = None, commit: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for name, content in (files or {}).items():
        p = path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    if commit and files:
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "initial")
    return path


def user_git_state(repo: Path) -> dict[str, object]:
    """Everything of the user's that llmflows-tui must never touch, byte for byte."""
    gitdir = Path(git(repo, "rev-parse", "--absolute-git-dir").strip())
    index = gitdir / "index"
    return {
        "HEAD": (gitdir / "HEAD").read_bytes(),
        "head_commit": git(repo, "rev-parse", "--verify", "-q", "HEAD", check=False),
        "index": index.read_bytes() if index.exists() else None,
        "branches": git(repo, "for-each-ref", "refs/heads", "refs/tags"),
        "stash": git(repo, "for-each-ref", "refs/stash"),
        "config": (gitdir / "config").read_bytes(),
    }


def effects_log(repo: Path, name: str = "deploy.log") -> Path:
    """A side-effect log no checkpoint captures or restores: an ignored dir in the repo.

    (Commands run in a sandbox where only the repository is writable.)
    """
    (repo / ".effects").mkdir()
    with (repo / ".git" / "info" / "exclude").open("a") as f:
        f.write("/.effects/\n")
    return repo / ".effects" / name
