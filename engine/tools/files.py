"""File tools: read_file, list_files, search, write_file, edit_file.

All of them are synchronous (the dispatcher runs them in a worker thread),
resolve every path through :class:`Workspace`, and raise :class:`ToolError`
with a message written for the model when a call cannot be honoured.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import os
import secrets
import stat
import subprocess
from pathlib import Path
from typing import Any

from engine.errors import PathConfinementError, ToolError
from engine.tools.base import ToolResult
from engine.tools.secrets import refusal, secret_files
from engine.tools.workspace import Workspace

#: Default caps; the dispatcher's ToolContext can override them.
READ_CAP_BYTES = 100_000
LIST_CAP = 1_000
SEARCH_CAP = 200
SEARCH_MAX_FILE_BYTES = 2_000_000
SEARCH_LINE_CHARS = 300
_BINARY_SNIFF = 8192


def _is_binary(data: bytes) -> bool:
    return b"\x00" in data[:_BINARY_SNIFF]


def _resolve(ws: Workspace, path: str) -> tuple[Path, str]:
    """``ws.resolve`` plus the secret-file gate: (real path, repo-relative path)."""
    p = ws.resolve(path)
    rel = ws.relpath(p)
    if secret_files(ws.root).matches(rel):
        raise ToolError(refusal(rel))
    return p, rel


def _missing(ws: Workspace, path: str) -> ToolError:
    return ToolError(f"No such file: '{path}'. Use list_files to see which files exist.")


def _special_file(p: Path) -> str | None:
    """What kind of non-regular file ``p`` is (FIFO, device, socket), None otherwise.

    Opening a FIFO blocks until a writer appears and a device can stream
    forever, so the file tools refuse them before any open().
    """
    try:
        mode = os.stat(p).st_mode
    except OSError:
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def _refuse_special(p: Path, rel: str) -> None:
    kind = _special_file(p)
    if kind is not None:
        raise ToolError(
            f"'{rel}' is {kind}, not a regular file; file tools only use regular files."
        )


def atomic_write(p: Path, data: bytes) -> None:
    """Replace ``p`` with ``data`` all at once: temp file beside it, fsync, rename.

    The file keeps its permission bits (a new file gets the umask's). If
    anything fails (disk full, read-only directory) the old file is left whole
    and the temp file is removed.
    """
    try:
        mode: int | None = stat.S_IMODE(os.stat(p).st_mode)
    except FileNotFoundError:
        mode = None
    tmp = p.parent / f".{p.name}.{secrets.token_hex(4)}.llmflows-tmp"
    # 0o666 through os.open: a new file gets the umask's bits, like open() would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- read_file


def read_file(
    ws: Workspace,
    path: str,
    *,
    max_bytes: int = READ_CAP_BYTES,
    start_line: int | None = None,
    end_line: int | None = None,
) -> ToolResult:
    """Return the text of ``path`` (capped at ``max_bytes``; binary and secret files refused).

    ``start_line``/``end_line`` (1-based, inclusive) return only those lines, read
    from anywhere in the file (the answer to a prompt's omitted-lines marker).
    """
    p, rel = _resolve(ws, path)
    if p.is_dir():
        raise ToolError(f"'{path}' is a directory. Use list_files('{rel}/*') to see its files.")
    _refuse_special(p, rel)
    if not p.is_file():
        raise _missing(ws, path)
    size = p.stat().st_size
    if start_line is not None or end_line is not None:
        return _read_lines(p, rel, size, start_line or 1, end_line, max_bytes)
    with p.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    if _is_binary(data):
        raise ToolError(
            f"'{rel}' is a binary file ({size} bytes); read_file only returns text files."
        )
    if size == 0:
        return ToolResult(True, f"(empty file: {rel})", data={"path": rel, "bytes": 0})
    truncated = len(data) > max_bytes
    if truncated:
        data = data[:max_bytes]
        # Cut at a line boundary so the model never sees half a line.
        nl = data.rfind(b"\n")
        if nl > 0:
            data = data[: nl + 1]
    text = data.decode("utf-8", errors="replace")
    if truncated:
        shown_lines = text.count("\n")
        text += (
            f"\n[truncated: showing the first {len(data)} of {size} bytes "
            f"({shown_lines} lines). Use search to find the part you need.]"
        )
    return ToolResult(True, text, data={"path": rel, "bytes": size, "truncated": truncated})


def _read_lines(
    p: Path, rel: str, size: int, start: int, end: int | None, max_bytes: int
) -> ToolResult:
    if start < 1 or (end is not None and end < start):
        raise ToolError(f"bad line range {start}-{end}: lines are numbered from 1, start <= end")
    picked: list[str] = []
    total = 0
    used = 0
    with p.open("rb") as fh:
        head = fh.read(8192)
        if _is_binary(head):
            raise ToolError(
                f"'{rel}' is a binary file ({size} bytes); read_file only returns text."
            )
        fh.seek(0)
        for total, raw in enumerate(fh, 1):
            if total < start or (end is not None and total > end):
                continue
            if used + len(raw) > max_bytes:
                break
            picked.append(raw.decode("utf-8", errors="replace"))
            used += len(raw)
    if start > total:
        raise ToolError(f"'{rel}' has {total} lines; line {start} does not exist.")
    last = start + len(picked) - 1
    text = "".join(picked)
    if not text.endswith("\n"):
        text += "\n"
    return ToolResult(
        True,
        f"[{rel} lines {start}-{last} of {total}]\n{text}",
        data={"path": rel, "bytes": size, "start_line": start, "end_line": last, "lines": total},
    )


# --------------------------------------------------------------------------- list_files


def repo_files(ws: Workspace) -> list[str]:
    """Tracked + untracked-not-ignored files (``git ls-files -co --exclude-standard``).

    Falls back to walking the tree when the root is not a git work tree.
    Files that the workspace would refuse (``.git``, ``.llmflows``, escaping
    symlinks), secret files (see :mod:`engine.tools.secrets`) and files deleted
    from the working tree are left out.
    """
    try:
        out = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=ws.root,
            capture_output=True,
            check=False,
        )
    except OSError:
        out = None
    if out is not None and out.returncode == 0:
        names = out.stdout.decode("utf-8", errors="surrogateescape").split("\0")
    else:
        names = _walk(ws.root)
    result: set[str] = set()
    secret = secret_files(ws.root)
    for name in names:
        if not name or secret.matches(name):
            continue
        full = ws.root / name
        if not os.path.lexists(full):
            continue  # tracked but deleted in the working tree
        # git lists symlinks as entries and never descends through them, so
        # only symlinks need the full (realpath) check; 50k files stay fast.
        parts = name.lower().split("/")
        if ".git" in parts or parts[0] == ".llmflows":
            continue
        if os.path.islink(full) and not ws.is_allowed(name):
            continue
        result.add(name)
    return sorted(result)


def _walk(root: Path) -> list[str]:
    names: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in (".git", ".llmflows")]
        for f in filenames:
            names.append(Path(os.path.relpath(os.path.join(dirpath, f), root)).as_posix())
    return names


def _match(pattern: str, name: str) -> bool:
    if fnmatch.fnmatchcase(name, pattern):
        return True
    # `**/x` should also match `x` at the top level (fnmatch needs the slash).
    if pattern.startswith("**/") and fnmatch.fnmatchcase(name, pattern[3:]):
        return True
    # A bare directory name lists what is under it.
    d = pattern.rstrip("/")
    return bool(d) and not any(c in d for c in "*?[") and name.startswith(d + "/")


def list_files(ws: Workspace, pattern: str = "*", *, max_results: int = LIST_CAP) -> ToolResult:
    """Repo files matching a glob (``*`` also crosses ``/``); respects .gitignore."""
    pat = (pattern or "*").strip()
    if pat in (".", "./", "**"):
        pat = "*"
    if pat.startswith("./"):
        pat = pat[2:]
    if pat.startswith("/") or pat.startswith("..") or "/../" in pat:
        raise PathConfinementError(
            f"pattern '{pattern}' points outside the repository; use a pattern relative to "
            "the repository root, e.g. 'src/**/*.py'."
        )
    matches = [n for n in repo_files(ws) if _match(pat, n)]
    if not matches:
        return ToolResult(True, f"No files match '{pattern}'.", data={"files": [], "count": 0})
    shown = matches[:max_results]
    text = "\n".join(shown)
    if len(matches) > max_results:
        text += f"\n[{len(matches) - max_results} more files not shown; use a narrower pattern.]"
    return ToolResult(True, text, data={"files": shown, "count": len(matches)})


# --------------------------------------------------------------------------- search


def search(
    ws: Workspace,
    pattern: str,
    path: str | None = None,
    *,
    max_results: int = SEARCH_CAP,
) -> ToolResult:
    """Regex search over repo text files; returns ``file:line: text`` lines.

    Patterns are RE2 (linear time): a model-chosen ``(a+)+$`` cannot hang the
    run, and backreferences / lookarounds are refused with an explanation.
    """
    if not pattern:
        raise ToolError("search needs a non-empty regular expression pattern.")
    rx = _compile_regex(pattern)
    files = repo_files(ws)
    scope = "the repository"
    if path not in (None, "", ".", "./"):
        target, rel = _resolve(ws, path)
        scope = f"'{rel}'"
        if target.is_dir():
            files = [f for f in files if rel == "." or f.startswith(rel + "/")]
        elif target.is_file():
            files = [rel]
        else:
            raise _missing(ws, path)
    hits: list[str] = []
    total = 0
    for name in files:
        full = ws.root / name
        try:
            st = full.stat()
            if not stat.S_ISREG(st.st_mode) or st.st_size > SEARCH_MAX_FILE_BYTES:
                continue  # FIFOs and devices would block or never end
            data = full.read_bytes()
        except OSError:
            continue
        if _is_binary(data):
            continue
        text = data.decode("utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            if rx.search(line):
                total += 1
                if len(hits) < max_results:
                    if len(line) > SEARCH_LINE_CHARS:
                        line = line[:SEARCH_LINE_CHARS] + " [...]"
                    hits.append(f"{name}:{lineno}: {line}")
    if not hits:
        return ToolResult(True, f"No matches for {pattern!r} in {scope}.", data={"matches": 0})
    out = "\n".join(hits)
    if total > len(hits):
        out += f"\n[{total - len(hits)} more matches not shown; narrow the pattern or the path.]"
    return ToolResult(True, out, data={"matches": total})


def _compile_regex(pattern: str) -> Any:
    import re2  # google-re2: guaranteed linear-time matching

    options = re2.Options()
    options.log_errors = False  # RE2 would print parse errors on the terminal
    try:
        return re2.compile(pattern, options)
    except re2.error as e:
        reason = (
            e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else e
        )
        raise ToolError(
            f"invalid regular expression {pattern!r}: {reason}. Patterns are RE2 syntax "
            "(no backreferences or lookarounds). "
            "Escape special characters (e.g. '\\(' or '\\.') to search for them literally."
        ) from None


# --------------------------------------------------------------------------- write_file


def write_file(ws: Workspace, path: str, content: str) -> ToolResult:
    """Create or overwrite ``path`` with ``content`` (parent dirs are created)."""
    p, rel = _resolve(ws, path)
    if p.is_dir():
        raise ToolError(f"'{rel}' is a directory; give a file path.")
    _refuse_special(p, rel)
    existed = p.is_file()
    data = content.encode("utf-8")
    if existed and p.read_bytes() == data:
        return ToolResult(True, f"{rel} already has this content; nothing changed.")
    p.parent.mkdir(parents=True, exist_ok=True)
    # newline="" semantics: write bytes exactly as given, no newline translation.
    atomic_write(p, data)
    lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
    verb = "Overwrote" if existed else "Created"
    return ToolResult(
        True,
        f"{verb} {rel} ({lines} lines).",
        files_changed=[rel],
        data={"created": not existed, "path": rel},
    )


# --------------------------------------------------------------------------- restorable?


def unrestorable_change(ws: Workspace, path: str, max_bytes: int) -> str | None:
    """Why a checkpoint could not bring back the current content of ``path``, or None.

    Snapshots leave out files over ``max_bytes``, git-ignored files and files
    inside nested repositories, so an agent overwriting one of them destroys
    content no rewind restores. New files lose nothing and are not reported.
    """
    p = ws.resolve(path)
    if not p.is_file():
        return None
    rel = ws.relpath(p)
    size = p.stat().st_size
    if size > max_bytes:
        return f"{rel} is {size:,} bytes, over the {max_bytes:,}-byte snapshot limit"
    for d in p.parents:
        if d == ws.root or ws.root not in d.parents:
            break
        if (d / ".git").exists():
            return f"{rel} is inside the nested repository {ws.relpath(d)}/"
    ignored = subprocess.run(["git", "check-ignore", "-q", "--", rel], cwd=ws.root, check=False)
    if ignored.returncode == 0:
        return f"{rel} is ignored by git"
    return None


# --------------------------------------------------------------------------- edit_file


def edit_file(ws: Workspace, path: str, old: str, new: str) -> ToolResult:
    """Replace the one exact occurrence of ``old`` with ``new`` in ``path``."""
    p, rel = _resolve(ws, path)
    if p.is_dir():
        raise ToolError(f"'{rel}' is a directory; give a file path.")
    _refuse_special(p, rel)
    if not p.is_file():
        raise ToolError(
            f"No such file: '{path}'. Use write_file to create a new file, "
            "or list_files to find the right path."
        )
    if old == "":
        raise ToolError(
            "old must not be empty: copy the exact text to replace from read_file output. "
            "To create or overwrite a whole file use write_file."
        )
    if old == new:
        raise ToolError("old and new are identical; there is nothing to change.")
    raw = p.read_bytes()
    if _is_binary(raw):
        raise ToolError(f"'{rel}' is a binary file; edit_file only edits text files.")
    text = raw.decode("utf-8", errors="surrogateescape")
    count = text.count(old)
    if count == 0 and "\r\n" in text and "\r\n" not in old:
        # The model saw the file's lines; match them despite CRLF line endings.
        crlf_old = old.replace("\n", "\r\n")
        if text.count(crlf_old) >= 1:
            old, new = crlf_old, new.replace("\r\n", "\n").replace("\n", "\r\n")
            count = text.count(old)
    if count == 0:
        raise ToolError(_not_found_message(rel, text, old))
    if count > 1:
        lines = _occurrence_lines(text, old)
        where = ", ".join(str(n) for n in lines[:10])
        raise ToolError(
            f"old text occurs {count} times in {rel} (at lines {where}); it must match exactly "
            "once. Include more surrounding lines in old so that it is unique."
        )
    start = text.index(old)
    at_line = text.count("\n", 0, start) + 1
    updated = text.replace(old, new, 1)
    atomic_write(p, updated.encode("utf-8", errors="surrogateescape"))
    old_n = old.count("\n") + 1
    new_n = new.count("\n") + 1 if new else 0
    return ToolResult(
        True,
        f"Edited {rel}: replaced {old_n} line(s) at line {at_line} with {new_n} line(s).",
        files_changed=[rel],
        data={"path": rel, "line": at_line},
    )


def _occurrence_lines(text: str, old: str) -> list[int]:
    lines, i = [], text.find(old)
    while i >= 0:
        lines.append(text.count("\n", 0, i) + 1)
        i = text.find(old, i + 1)
    return lines


def _not_found_message(rel: str, text: str, old: str, max_hints: int = 3) -> str:
    """Explain a failed match and show the most similar passages of the file."""
    msg = (
        f"old text was not found in {rel}. It must match the file exactly, including "
        "whitespace and indentation. Re-read the file with read_file and copy the text."
    )
    file_lines = text.splitlines()
    old_lines = old.strip("\n").splitlines() or [old]
    n = len(old_lines)
    if not file_lines:
        return msg + f" ({rel} is empty.)"
    target = "\n".join(old_lines)
    scored: list[tuple[float, int]] = []
    # Window comparison over blocks of the same height as old; for very large
    # files only the first line is compared to stay fast.
    if len(file_lines) * n > 200_000:
        n = 1
        target = old_lines[0]
    for i in range(0, max(1, len(file_lines) - n + 1)):
        block = "\n".join(file_lines[i : i + n])
        sm = difflib.SequenceMatcher(None, target, block, autojunk=False)
        if sm.real_quick_ratio() < 0.3 or sm.quick_ratio() < 0.3:
            continue
        scored.append((sm.ratio(), i))
    scored.sort(key=lambda t: (-t[0], t[1]))
    hints: list[str] = []
    used: set[int] = set()
    for ratio, i in scored:
        if ratio < 0.5 or len(hints) >= max_hints:
            break
        if any(abs(i - j) < n for j in used):
            continue
        used.add(i)
        block = "\n".join(f"{i + k + 1:>5}| {line}" for k, line in enumerate(file_lines[i : i + n]))
        hints.append(f"lines {i + 1}-{i + n} ({ratio:.0%} similar):\n{block}")
    if hints:
        msg += "\nClosest matches in the file:\n" + "\n".join(hints)
    else:
        msg += " No similar text was found either; check that you are editing the right file."
    return msg
