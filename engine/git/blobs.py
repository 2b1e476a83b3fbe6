"""The step's own version of each file its tools wrote, kept in git.

A tool result records the blob id of every file it wrote (``after``). Crash
recovery compares them with the files as they are now: a file that changed since
was changed by someone else, and the clash gate shows both versions. The step's
version may exist nowhere else (the crash came before the step's checkpoint, and
the person has overwritten the file since), so the tool effect writes it to git's
object store and keeps it reachable from ``refs/llmflows/<run>/written/<id>``:
``git gc --prune=now`` keeps it, ``llmflows-tui gc`` drops it with the run's other refs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from engine.errors import GitCommandError
from engine.git.checkpoints import REF_PREFIX
from engine.git.diffmodel import Diff, FileStatus
from engine.git.repo import open_repo, run_git

#: How many diff lines of the clashing files a gate's text shows (the TUI shows them all).
PROMPT_DIFF_LINES = 120


def content(path: Path) -> bytes | None:
    """What git would store for ``path``: a file's bytes, a symlink's target; None if absent."""
    try:
        return str(path.readlink()).encode() if path.is_symlink() else path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def blob_ids(root: Path, paths: list[str], keep_for: str | None = None) -> dict[str, str | None]:
    """Each file's git blob id as it is now (None: no such file).

    With ``keep_for`` (a run id) the contents are written to the object store and
    kept reachable from that run's ``written/`` refs.
    """
    root = Path(root)
    ids: dict[str, str | None] = {}
    with open_repo(root) as repo:
        for p in paths:
            data = content(root / p)
            ids[p] = (
                None
                if data is None
                else run_git(
                    repo,
                    "hash-object",
                    *(("-w",) if keep_for else ()),
                    "--no-filters",
                    "--stdin",
                    input=data,
                )
            )
        kept = sorted({i for i in ids.values() if i})
        if keep_for and kept:
            refs = "".join(f"update {REF_PREFIX}/{keep_for}/written/{i} {i}\n" for i in kept)
            run_git(repo, "update-ref", "--stdin", input=refs.encode())
    return ids


def versions_diff(root: Path, versions: dict[str, str | None]) -> tuple[Diff, str]:
    """Each file's recorded version (``path → blob id``) against the file now on disk.

    Returns the diff (one file per path, ``-`` the recorded version, ``+`` the current
    one) and its text, headed per file. A recorded blob that is gone from git (its
    refs deleted and gc'd) is reported in the text and left out of the diff.
    """
    from engine.git.diffs import parse_unified_diff

    root = Path(root)
    diff = Diff(to_ref=None)
    text: list[str] = []
    with open_repo(root) as repo:
        empty = run_git(repo, "hash-object", "-w", "--stdin", input=b"")
        for path, old in sorted(versions.items()):
            now = content(root / path)
            new = run_git(repo, "hash-object", "-w", "--no-filters", "--stdin", input=now or b"")
            try:
                raw = run_git(
                    repo, "diff", "--no-color", "--no-ext-diff", old or empty, new, strip=False
                )
            except GitCommandError:
                text.append(f"{path}: the step's version ({old}) is no longer in git")
                continue
            parsed = parse_unified_diff(raw)
            for fd in parsed.files:
                status: FileStatus = (
                    "deleted" if now is None else "added" if old is None else "modified"
                )
                diff.files.append(dataclasses.replace(fd, path=path, old_path=None, status=status))
            lines = raw.splitlines()
            start = next(
                (n for n, ln in enumerate(lines) if ln.startswith(("@@", "Binary"))), len(lines)
            )
            body = lines[start:]  # without git's headers, which name blob ids, not the path
            mine = "the step's version" if old else "(the step deleted it)"
            yours = "yours, in the working tree" if now is not None else "(you deleted it)"
            text += [f"--- {path}  {mine}", f"+++ {path}  {yours}", *body]
    return diff, "\n".join(text)


def clash_text(diff_text: str, limit: int = PROMPT_DIFF_LINES) -> str:
    """``diff_text`` cut to ``limit`` lines, saying how many were left out."""
    lines = diff_text.splitlines()
    if len(lines) <= limit:
        return diff_text
    return "\n".join([*lines[:limit], f"… {len(lines) - limit} more lines"])
