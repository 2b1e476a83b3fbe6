"""Locating the repository and running git commands with a chosen environment.

Plumbing runs ``git`` directly (one ``subprocess.run`` per command: a wrapper library
added about a millisecond per call, and a rewind makes several); every failure becomes
:class:`GitCommandError` (never a silent fallback).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload

from engine.errors import GitCommandError, NotAGitRepoError


def plain_git(cwd: str | os.PathLike[str], *args: str) -> str | None:
    """Output of ``git ARGS`` in ``cwd`` (trailing newline stripped), None if it fails.

    One process, errors as None: for the few questions asked on the start-up path.
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


@dataclass(frozen=True)
class GitRepo:
    """A git work tree (or bare repository) that :func:`run_git` runs commands in."""

    working_dir: Path


@contextlib.contextmanager
def open_repo(root: str | os.PathLike[str]) -> Iterator[GitRepo]:
    """The repository at ``root`` (its top: a ``.git`` entry, or a bare repository).

    Raises NotAGitRepoError otherwise. A context manager so callers scope its use.
    """
    p = Path(root)
    if not ((p / ".git").exists() or ((p / "HEAD").is_file() and (p / "objects").is_dir())):
        raise NotAGitRepoError(str(root))
    yield GitRepo(p)


# git's messages in English whatever the user's locale: some are matched on.
_C_LOCALE = {"LANGUAGE": "C", "LC_ALL": "C"}


@overload
def run_git(
    repo: GitRepo,
    *args: str,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    strip: bool = True,
    binary: Literal[False] = False,
) -> str: ...
@overload
def run_git(
    repo: GitRepo,
    *args: str,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    strip: bool = True,
    binary: Literal[True],
) -> bytes: ...
def run_git(
    repo: GitRepo,
    *args: str,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    strip: bool = True,
    binary: bool = False,
) -> str | bytes:
    """Run ``git ARGS`` in the repo's work tree; raise GitCommandError on failure.

    ``env`` entries are added to the inherited environment (e.g. GIT_INDEX_FILE).
    Text output is UTF-8 (undecodable bytes kept as surrogates) with one trailing
    newline removed unless ``strip`` is False; ``binary`` returns the raw bytes.
    """
    cmd = ["git", *args]
    try:
        proc = subprocess.run(
            cmd,
            cwd=repo.working_dir,
            env={**os.environ, **_C_LOCALE, **(env or {})},
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            check=False,
        )
    except OSError as e:  # no git on PATH, or the folder is gone
        raise GitCommandError(cmd, 127, str(e)) from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").removesuffix("\n")
        raise GitCommandError(cmd, proc.returncode, err)
    if binary:
        return proc.stdout
    out = proc.stdout.decode("utf-8", "surrogateescape")
    return out.removesuffix("\n") if strip else out
