"""CLI verbs for working-tree checkpoints: checkpoint, checkpoints, rewind, diff.

These work on any git repository, with or without runs. ``checkpoints`` and
``diff`` only read the store (no writer lock), so they work while the TUI is
running; ``checkpoint`` and ``rewind`` take the writer lock.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.cli.common import (
    format_table,
    format_time,
    open_checkpoints,
    open_store,
    parse_id,
    print_json,
    repo_root_from_args,
    use_color,
)
from engine.git.diffmodel import Diff, FileDiff

_MESSAGE_WIDTH = 60


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "checkpoint",
        help="snapshot the working tree (incl. untracked files and the index) now",
        description="Take a manual checkpoint of the working tree; prints its id.",
    )
    p.add_argument("-m", "--message", default="", help="a note to remember it by")
    p.add_argument("--json", action="store_true", help="print the checkpoint row as JSON")
    p.set_defaults(func=cmd_checkpoint)

    p = subparsers.add_parser(
        "checkpoints",
        help="list checkpoints",
        description="List all checkpoints (manual and from runs), oldest first.",
    )
    p.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    p.set_defaults(func=cmd_checkpoints)

    p = subparsers.add_parser(
        "rewind",
        help="restore the working tree to a checkpoint (undoable)",
        description="Restore the working tree to CHECKPOINT. The current tree is saved "
        "first as a pre-restore checkpoint; rewind to that one to undo.",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint id (see `checkpoints`)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=cmd_rewind)

    p = subparsers.add_parser(
        "diff",
        help="diff two checkpoints, or a checkpoint and the live tree",
        description="Show the changes from checkpoint A to checkpoint B "
        "(or to the live working tree if B is omitted).",
    )
    p.add_argument("a", metavar="A", help="checkpoint id")
    p.add_argument("b", metavar="B", nargs="?", help="checkpoint id (default: live tree)")
    p.add_argument("--json", action="store_true", help="print the structured diff as JSON")
    p.set_defaults(func=cmd_diff)


# ---------------------------------------------------------------------- handlers


def cmd_checkpoint(args: argparse.Namespace) -> int:
    with open_checkpoints(args, write=True) as svc:
        row = svc.create(None, None, "manual", args.message, None)
    if args.json:
        print_json(row)
        return 0
    print(row["id"])
    if row["partial"]:
        print(f"note: checkpoint {row['id']} is {_skipped_note(row['skipped'])}", file=sys.stderr)
    return 0


def cmd_checkpoints(args: argparse.Namespace) -> int:
    with open_store(args, write=False) as store:
        rows = store.list_checkpoints()
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("No checkpoints yet. Take one with: llmflows-tui checkpoint -m MESSAGE")
        return 0
    table = [
        (
            r["id"],
            format_time(r["created_at"]),
            r["run_id"] or "-",
            r["source"],
            r["files_changed"],
            "no" if r["partial"] else "yes",
            _clip(r["message"] or ""),
        )
        for r in rows
    ]
    print(format_table(["ID", "CREATED", "RUN", "SOURCE", "FILES", "FULL", "MESSAGE"], table))
    if any(r["partial"] for r in rows):
        print(
            "\nFULL=no: some paths were not captured (ignored, too large or nested repos); "
            "see `checkpoints --json` for the list."
        )
    return 0


#: Why a snapshot skipped a path, for people.
UNCAPTURED_REASONS = {
    "too_large": "over the snapshot size limit",
    "nested_repo": "a nested repository",
}


def cmd_rewind(args: argparse.Namespace) -> int:
    from engine.run import operations
    from engine.run.session import Session

    cid = parse_id(args.checkpoint)
    with Session.open(repo_root_from_args(args)) as session:
        run_id = session.checkpoints.get(cid).get("run_id")
        if run_id:  # a run's checkpoint: the run's head, gate and steps follow the tree
            result = operations.rewind(session, run_id, cid)
        else:
            result = session.checkpoints.rewind(cid)
    if args.json:
        print_json(result)
        return 0
    what = "working tree and index" if result["restore_index"] else "working tree"
    print(f"Restored checkpoint {result['restored']} ({what}).")
    written, removed = result["written"], result["removed"]
    kept = result.get("kept") or []
    uncaptured = [u for u in result.get("uncaptured") or [] if u["path"] not in kept]
    if not written and not removed:
        if uncaptured or kept:
            print("  No captured file changed; the files below are in no checkpoint.")
        else:
            print("  No files changed: the working tree already matched.")
    for path in written:
        print(f"  written  {path}")
    for path in removed:
        print(f"  removed  {path}")
    for warning in result.get("warnings") or []:
        print(f"  ! {warning}")
    for path in kept:
        print(f"  kept     {path}  (not captured by the checkpoint; left as it was)")
    for item in uncaptured:
        why = UNCAPTURED_REASONS.get(item["reason"], item["reason"])
        print(f"  not restored  {item['path']}  ({why}; left as it is now)")
    if result.get("partial"):
        print(
            "  Note: that checkpoint is only partially recoverable (some paths were not captured)."
        )
    print(
        f"Your previous state is checkpoint {result['undo_checkpoint']}; "
        f"undo with: llmflows-tui rewind {result['undo_checkpoint']}"
    )
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    a = parse_id(args.a)
    b = parse_id(args.b) if args.b is not None else None
    repo_root_from_args(args)  # exit 2 outside a repo before touching anything
    from engine.git.checkpoints import CheckpointService

    with open_store(args, write=False) as store:
        diff = CheckpointService(store.repo_root, store, None).diff(a, b)
    if args.json:
        print_json(diff.to_dict())
        return 0
    color = use_color(sys.stdout)
    sys.stdout.write(render_unified(diff, color=color))
    sys.stdout.flush()
    return 0


# ---------------------------------------------------------------------- rendering


def _clip(text: str) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= _MESSAGE_WIDTH else line[: _MESSAGE_WIDTH - 1] + "…"


def _skipped_note(skipped: list[dict]) -> str:
    shown = ", ".join(f"{s['path']} ({s['reason']})" for s in skipped[:5])
    more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    return f"partially recoverable: not captured: {shown}{more}"


_RESET = "\x1b[0m"
_STYLES = {"meta": "\x1b[1m", "hunk": "\x1b[36m", "+": "\x1b[32m", "-": "\x1b[31m"}


def render_unified(diff: Diff, color: bool = False) -> str:
    """Render a :class:`Diff` as ``git diff``-style unified text (ANSI colors optional)."""

    def paint(kind: str, text: str) -> str:
        return f"{_STYLES[kind]}{text}{_RESET}" if color and kind in _STYLES else text

    out: list[str] = []
    for f in diff.files:
        for line in _file_header(f):
            out.append(paint("meta", line))
        if f.binary:
            out.append(f"Binary files {_side(f, 'a')} and {_side(f, 'b')} differ")
            continue
        if f.too_large:
            out.append("(diff too large to show)")
            continue
        if f.hunks:
            out.append(paint("meta", f"--- {_side(f, 'a')}"))
            out.append(paint("meta", f"+++ {_side(f, 'b')}"))
        for h in f.hunks:
            out.append(paint("hunk", h.header))
            for ln in h.lines:
                out.append(paint(ln.kind, f"{ln.kind}{ln.text}"))
    return "".join(line + "\n" for line in out)


def _side(f: FileDiff, side: str) -> str:
    if side == "a":
        return "/dev/null" if f.status == "added" else f"a/{f.old_path or f.path}"
    return "/dev/null" if f.status == "deleted" else f"b/{f.path}"


def _file_header(f: FileDiff) -> list[str]:
    old = f.old_path or f.path
    lines = [f"diff --git a/{old} b/{f.path}"]
    if f.status == "added":
        lines.append(f"new file mode {f.new_mode or '100644'}")
    elif f.status == "deleted":
        lines.append(f"deleted file mode {f.old_mode or '100644'}")
    elif f.mode_changed:
        lines += [f"old mode {f.old_mode}", f"new mode {f.new_mode}"]
    if f.status == "renamed" and f.old_path:
        lines += [f"rename from {f.old_path}", f"rename to {f.path}"]
    elif f.status == "copied" and f.old_path:
        lines += [f"copy from {f.old_path}", f"copy to {f.path}"]
    return lines
