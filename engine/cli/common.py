"""Helpers shared by the CLI verb modules: repo discovery, store access, output."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from engine.errors import UsageError

_color_mode = "auto"


def apply_color(mode: str) -> None:
    """Set the process-wide colour choice from ``--color`` (auto | always | never)."""
    global _color_mode
    _color_mode = mode


def use_color(stream: TextIO | None = None) -> bool:
    """Colour only if asked (``--color always``), or on a terminal with ``NO_COLOR`` unset."""
    if _color_mode != "auto":
        return _color_mode == "always"
    if os.environ.get("NO_COLOR"):
        return False
    out = stream or sys.stdout
    return bool(getattr(out, "isatty", lambda: False)())


def repo_root_from_args(args: Any) -> Path:
    """The work tree containing ``args.cwd`` (the global ``-C``); NotAGitRepoError (exit 2) if none."""
    from engine.git.repo import find_repo_root  # only verbs that need a repo

    return find_repo_root(getattr(args, "cwd", None) or ".")


@contextlib.contextmanager
def open_store(args: Any, write: bool = True) -> Iterator[Any]:
    """Open the repo's RunStore (writers take the lock; StoreLockedError if busy)."""
    from engine.store import RunStore

    root = repo_root_from_args(args)
    with RunStore.open(root, write=write) as store:
        yield store


@contextlib.contextmanager
def open_checkpoints(args: Any, write: bool = True) -> Iterator[Any]:
    """A CheckpointService over the repo's store and a Snapshotter, closed on exit."""
    from engine.git.checkpoints import CheckpointService
    from engine.git.snapshots import Snapshotter
    from engine.store import RunStore

    root = repo_root_from_args(args)
    with RunStore.open(root, write=write) as store, Snapshotter(root) as snap:
        yield CheckpointService(root, store, snap)


def print_json(obj: Any, file: TextIO | None = None) -> None:
    """Print one JSON document (UTF-8, stable key order as given)."""
    out = file or sys.stdout
    out.write(json.dumps(obj, ensure_ascii=False, default=str, indent=2) + "\n")
    out.flush()


def parse_id(text: str, what: str = "checkpoint") -> int:
    """Accept ``12`` or ``#12``; anything else is a usage error (exit 2)."""
    t = text.strip().lstrip("#")
    if not t.isdigit():
        raise UsageError(f"{what} id must be a number, got {text!r}")
    return int(t)


def format_time(ts: float | None) -> str:
    """Local time as ``YYYY-MM-DD HH:MM:SS`` (blank if unknown)."""
    if not ts:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns aligned with two spaces; numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    numeric = [
        all(isinstance(r[i], int | float) for r in rows) if rows else False
        for i in range(len(headers))
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [
            c.rjust(widths[i]) if numeric[i] else c.ljust(widths[i]) for i, c in enumerate(row)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
