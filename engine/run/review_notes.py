"""Review that talks back: line comments and rejected hunks as structured feedback.

At a review gate a person can comment on lines (``resume --comment FILE:LINE:TEXT``,
or in the diff viewer) and drop hunks of a partial approval. Both become notes in
the run state (``review_notes``: the notes of the latest review) and every later
prompt gets them as one section — file, lines, and the comment or the rejected
hunk — until the next review answer replaces them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from engine.errors import UsageError
from engine.git.diffmodel import Diff, HunkRef

_MAX_HUNK_LINES = 60  # a rejected hunk is shown whole up to this many lines


class NoteKind(StrEnum):
    COMMENT = "comment"
    REJECTED_HUNK = "rejected_hunk"


@dataclass(frozen=True)
class LineComment:
    """A person's comment on one line of a file (1-based, in the reviewed tree)."""

    path: str
    line: int
    text: str

    @classmethod
    def parse(cls, spec: str) -> LineComment:
        """``FILE:LINE:TEXT`` (the text may contain colons)."""
        path, sep1, rest = spec.partition(":")
        line, sep2, text = rest.partition(":")
        if not (sep1 and sep2) or not path or not line.strip().isdigit() or not text.strip():
            raise UsageError(f"--comment needs FILE:LINE:TEXT, got {spec!r}")
        if int(line) < 1:
            raise UsageError(f"--comment {spec!r}: lines count from 1")
        return cls(path.strip(), int(line), text.strip())


@dataclass(frozen=True)
class ReviewNote:
    kind: NoteKind
    path: str
    start: int  # first changed line (new side; old side for a pure deletion)
    end: int
    text: str  # the comment, or the rejected hunk as unified diff text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def comment_notes(repo_root, comments: list[LineComment]) -> list[ReviewNote]:
    """Notes for comments; a file or line that does not exist is a clear error."""
    notes = []
    for c in comments:
        path = (repo_root / c.path).resolve()
        if not path.is_relative_to(repo_root.resolve()) or not path.is_file():
            raise UsageError(f"comment on {c.path}:{c.line}: no such file in the work tree")
        count = len(path.read_text(encoding="utf-8", errors="replace").splitlines())
        if c.line > max(count, 1):
            raise UsageError(f"comment on {c.path}:{c.line}: the file has {count} line(s)")
        notes.append(ReviewNote(NoteKind.COMMENT, c.path, c.line, c.line, c.text))
    return notes


def rejected_hunk_notes(diff: Diff, dropped: list[HunkRef]) -> list[ReviewNote]:
    """The dropped hunks of a partial approval, with their text, from the review diff."""
    keys = {h.key for h in dropped}
    notes = []
    for f in diff.files:
        if not f.hunks and any(r.key in keys for r in f.refs()):
            notes.append(ReviewNote(NoteKind.REJECTED_HUNK, f.path, 0, 0, f"({f.status} file)"))
        for h, ref in zip(f.hunks, f.refs(), strict=False):
            if ref.key not in keys:
                continue
            body = [h.header] + [f"{ln.kind}{ln.text}" for ln in h.lines[:_MAX_HUNK_LINES]]
            if len(h.lines) > _MAX_HUNK_LINES:
                body.append(f"… ({len(h.lines) - _MAX_HUNK_LINES} more lines)")
            start, end = _changed_lines(h)
            notes.append(ReviewNote(NoteKind.REJECTED_HUNK, f.path, start, end, "\n".join(body)))
    return notes


def _changed_lines(h) -> tuple[int, int]:
    """First and last changed line (new side; the old side for a pure deletion)."""
    added = [ln.new_no for ln in h.lines if ln.kind == "+" and ln.new_no]
    removed = [ln.old_no for ln in h.lines if ln.kind == "-" and ln.old_no]
    nums = added or removed or [h.new_start]
    return min(nums), max(nums)


def prompt_section(state: dict[str, Any]) -> str:
    """The latest review's notes as prompt text ('' if none)."""
    notes = state.get("review_notes") or []
    if not notes:
        return ""
    out = ["Notes from the person's review (address each one):"]
    for n in notes:
        where = f"{n['path']}:{n['start']}" + (f"-{n['end']}" if n["end"] != n["start"] else "")
        if n["kind"] == NoteKind.COMMENT:
            out.append(f"- comment on {where}: {n['text']}")
        else:
            out.append(f"- rejected change at {where} (it was undone; do not redo it as is):")
            out.append("```diff\n" + n["text"] + "\n```")
    return "\n".join(out)
