"""Project instructions for the model: the files coding agents conventionally read.

``AGENTS.md`` (Codex and others), ``CLAUDE.md`` (Claude Code), ``CONVENTIONS.md``
(Aider) and ``.github/copilot-instructions.md`` at the repository root, plus any
nested ``AGENTS.md`` in the folders of the files in play (nearest last, so the
most specific rule is read last). All of it goes into the system prompt within
:data:`MAX_INSTRUCTION_CHARS`; a file that does not fit is cut with a marker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from engine.context.budget import omitted_marker

ROOT_FILES = ("AGENTS.md", "CLAUDE.md", "CONVENTIONS.md", ".github/copilot-instructions.md")
NESTED_FILE = "AGENTS.md"
#: About 4,000 tokens: rules, not a second copy of the code.
MAX_INSTRUCTION_CHARS = 16_000
_MAX_FILE_BYTES = 256_000


@dataclass
class Instructions:
    """The instruction text for the system prompt and the files it came from."""

    text: str = ""
    sources: list[str] = field(default_factory=list)
    trimmed: list[str] = field(default_factory=list)


def _nested(root: Path, files_in_play: list[str]) -> list[str]:
    found: list[str] = []
    for name in files_in_play:
        parents = list(PurePosixPath(name).parents)[:-1]  # without "." (the root's own)
        for folder in reversed(parents):
            rel = f"{folder.as_posix()}/{NESTED_FILE}"
            if rel not in found and (root / rel).is_file():
                found.append(rel)
    return found


def _cut(rel: str, text: str, room: int) -> str:
    """The first lines of ``text`` within ``room`` chars, then an omitted-lines marker."""
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) > room:
            break
        kept.append(line)
        used += len(line)
    body = "".join(kept)
    if body and not body.endswith("\n"):
        body += "\n"
    return body + omitted_marker(rel, len(kept) + 1, len(lines))


def project_instructions(
    root: Path, files_in_play: list[str] | None = None, cap: int = MAX_INSTRUCTION_CHARS
) -> Instructions:
    """Read the project's instruction files (see module docstring) into one block."""
    root = Path(root)
    names = [n for n in ROOT_FILES if (root / n).is_file()]
    names += [n for n in _nested(root, list(files_in_play or [])) if n not in names]
    out = Instructions()
    parts: list[str] = []
    left = cap
    for rel in names:
        try:
            raw = (root / rel).read_bytes()[:_MAX_FILE_BYTES]
        except OSError:
            continue
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            continue
        header = f"## {rel}\n"
        room = left - len(header)
        if room < 200:
            out.trimmed.append(rel)
            parts.append(header + omitted_marker(rel, 1, text.count("\n") + 1))
            out.sources.append(rel)
            continue
        if len(text) > room:
            text = _cut(rel, text, room)
            out.trimmed.append(rel)
        parts.append(header + text)
        out.sources.append(rel)
        left -= len(header) + len(text)
    if parts:
        out.text = (
            "# Project instructions\n"
            "The project's maintainers wrote these rules for coding agents; follow them.\n\n"
            + "\n\n".join(parts)
        )
    return out
