"""Path confinement: every path an agent names must stay inside the repository.

``Workspace.resolve`` is the single gate the file tools go through. It refuses
``..`` escapes, absolute paths outside the root, symlinks (to files or through
directories) whose real target lies outside, and anything inside ``.git`` (a
directory, or a file in linked worktrees/submodules) or ``.llmflows`` (the run
store and project flows). Errors are :class:`PathConfinementError` with a
message the model can act on.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import PathConfinementError

#: Top-level directories the agent may never read or write.
PROTECTED_TOP = (".llmflows",)
#: Path components refused anywhere (nested repos and submodules included).
PROTECTED_ANYWHERE = (".git",)


class Workspace:
    """The repository root the agent's tools are confined to."""

    def __init__(self, root: str | os.PathLike[str]):
        # Resolve once so a symlinked root (e.g. /tmp on macOS) compares correctly.
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """Real absolute path for ``path`` (relative to the root, or absolute inside it).

        Raises PathConfinementError when the path (after following symlinks)
        leaves the root or touches ``.git`` / ``.llmflows``.
        """
        try:
            raw = os.fspath(path)
        except TypeError:
            raise PathConfinementError("path must be a string") from None
        if not isinstance(raw, str):
            raise PathConfinementError("path must be a string")
        if raw.strip() == "":
            raise PathConfinementError(
                "empty path; give a path relative to the repository root, e.g. 'src/app.py'"
            )
        if "\x00" in raw:
            raise PathConfinementError("path contains a NUL byte")
        candidate = Path(raw) if os.path.isabs(raw) else self.root / raw
        lexical = Path(os.path.normpath(candidate))
        if not _is_within(lexical, self.root):
            raise PathConfinementError(
                f"'{raw}' is outside the repository ({self.root}). "
                "Use a path relative to the repository root, e.g. 'src/app.py'."
            )
        self._check_protected(raw, lexical)
        # realpath follows symlinks component by component (so `link/..` is
        # handled the way the OS will handle it when the file is opened).
        real = Path(os.path.realpath(candidate))
        if not _is_within(real, self.root):
            raise PathConfinementError(
                f"'{raw}' goes through a symlink that points outside the repository "
                f"(to {real}); only files inside the repository can be used."
            )
        self._check_protected(raw, real)
        return real

    def relpath(self, path: str | os.PathLike[str]) -> str:
        """Path relative to the root, with forward slashes ('.' for the root)."""
        p = Path(path)
        if not p.is_absolute():
            p = self.root / p
        return Path(os.path.relpath(p, self.root)).as_posix()

    def is_allowed(self, path: str | os.PathLike[str]) -> bool:
        """True when ``resolve(path)`` would succeed."""
        try:
            self.resolve(path)
        except PathConfinementError:
            return False
        return True

    def _check_protected(self, raw: str, absolute: Path) -> None:
        rel = absolute.relative_to(self.root).parts if absolute != self.root else ()
        # Case-insensitive: on macOS/Windows `.GIT/config` is the same file.
        lowered = [p.lower() for p in rel]
        if any(p in PROTECTED_ANYWHERE for p in lowered):
            raise PathConfinementError(
                f"'{raw}' is inside .git, which holds the repository's history and is off "
                "limits to tools. Work on the files in the working tree instead."
            )
        if lowered and lowered[0] in PROTECTED_TOP:
            raise PathConfinementError(
                f"'{raw}' is inside {rel[0]}/, llmflows' own run data, which tools may not "
                "touch. Work on the project's files instead."
            )


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
