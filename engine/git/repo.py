"""Locating the repository and running git commands with a chosen environment.

Plumbing goes through GitPython's ``repo.git`` so we share its process
handling; every failure becomes :class:`GitCommandError` (never a silent
fallback). GitPython is imported on first use: finding the work tree and the
store's set-up use :func:`plain_git`, so the start screen never loads it. ``open_repo`` is a context manager because GitPython leaks
``cat-file`` helper processes in long-lived programs unless closed.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

from engine.errors import GitCommandError, NotAGitRepoError

if TYPE_CHECKING:
    import git  # GitPython is imported on first use: start-up never needs it


def plain_git(cwd: str | os.PathLike[str], *args: str) -> str | None:
    """Output of ``git ARGS`` in ``cwd`` (trailing newline stripped), None if it fails.

    One process and no GitPython: for the few questions asked on the start-up path.
    """
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except OSError:  # no such folder, or no git
        return None
    return os.fsdecode(out.stdout).rstrip("\n") if out.returncode == 0 else None


def find_repo_root(path: str | os.PathLike[str] = ".") -> Path:
    """Top of the work tree containing ``path`` (raises NotAGitRepoError)."""
    p = Path(path).resolve()
    # A bare repository (or the inside of .git) has no top level: git refuses.
    top = plain_git(p if p.is_dir() else p.parent, "rev-parse", "--show-toplevel")
    if not top:
        raise NotAGitRepoError(str(p))
    return Path(top).resolve()


@contextlib.contextmanager
def open_repo(root: str | os.PathLike[str]) -> Iterator[git.Repo]:
    import git

    try:
        repo = git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise NotAGitRepoError(str(root)) from None
    try:
        yield repo
    finally:
        repo.close()


@overload
def run_git(
    repo: git.Repo,
    *args: str,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    strip: bool = True,
    binary: Literal[False] = False,
) -> str: ...
@overload
def run_git(
    repo: git.Repo,
    *args: str,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    strip: bool = True,
    binary: Literal[True],
) -> bytes: ...
def run_git(
    repo: git.Repo,
    *args: str,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    strip: bool = True,
    binary: bool = False,
) -> str | bytes:
    """Run ``git ARGS`` in the repo's work tree; raise GitCommandError on failure.

    ``env`` entries are added to the inherited environment (e.g. GIT_INDEX_FILE).
    """
    import git

    kwargs: dict = {"with_extended_output": True}
    if env:
        kwargs["env"] = env
    stdin = None
    if input is not None:
        # Popen needs a real file descriptor for stdin.
        stdin = tempfile.TemporaryFile()
        stdin.write(input)
        stdin.seek(0)
        kwargs["istream"] = stdin
    if binary:
        kwargs["stdout_as_string"] = False
        kwargs["strip_newline_in_stdout"] = False
    elif not strip:
        kwargs["strip_newline_in_stdout"] = False
    try:
        _status, out, _err = repo.git.execute(["git", *args], **kwargs)
    except git.GitCommandError as e:
        raise GitCommandError(["git", *args], _status_of(e), _stderr_of(e)) from None
    finally:
        if stdin is not None:
            stdin.close()
    return out


def _status_of(e: git.GitCommandError) -> int:
    return e.status if isinstance(e.status, int) else 1


def _stderr_of(e: git.GitCommandError) -> str:
    # GitPython formats stderr as "\n  stderr: '...'"; keep just the text.
    raw = e.stderr if isinstance(e.stderr, str) else str(e.stderr or "")
    m = re.match(r"\s*stderr: '(.*)'\s*$", raw, re.S)
    return m.group(1) if m else raw
