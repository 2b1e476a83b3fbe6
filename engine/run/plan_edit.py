"""A person's edit of the task list at a plan gate: the text form and the new plan.

The text form is one task per line (its title); indented lines below a title are
that task's description. Blank lines and lines starting with ``#`` are ignored;
a leading ``-``, ``*``, ``3.`` or ``3)`` is dropped, so a pasted list works too.
A YAML list of ``{title, description, files}`` mappings is read as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from engine.errors import UsageError

_BULLET = re.compile(r"^(?:[-*]|\d+[.)])\s+")
_HEADER = "# One task per line; indented lines describe the task above. Lines with # are ignored."


def tasks_to_text(tasks: Iterable[Mapping[str, Any]]) -> str:
    """The editable text of a task list (see the module docstring)."""
    lines = [_HEADER]
    for t in tasks:
        lines.append(str(t.get("title", "")).strip())
        lines += [f"    {d}" for d in str(t.get("description") or "").strip().splitlines() if d]
    return "\n".join(lines) + "\n"


def parse_task_text(text: str) -> list[dict[str, Any]]:
    """Tasks (``title``, ``description``, maybe ``files``) from an edited text or YAML list."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    # Only a list with mappings is YAML's: a bulleted list of titles is read by line,
    # so an indented description stays the task's description.
    if isinstance(data, list) and any(isinstance(t, Mapping) for t in data):
        return [_task_item(i, t) for i, t in enumerate(data, 1)]
    tasks: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and tasks:
            tasks[-1]["description"] = "\n".join(
                filter(None, [tasks[-1]["description"], line.strip()])
            )
            continue
        tasks.append({"title": _BULLET.sub("", line.strip()), "description": ""})
    return tasks


def _task_item(i: int, raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        return {"title": raw}
    if not isinstance(raw, Mapping) or not isinstance(raw.get("title"), str):
        raise UsageError(f"task {i}: give a title (a string, or a mapping with `title`)")
    return dict(raw)


def edited_plan(
    old: list[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The plan to run: the person's tasks, numbered ``t1``… in their order.

    A task keeps what it does not say itself (``files``, ``description``) from the
    planned task with the same title; anything else is taken as written.
    """
    by_title = {str(t.get("title", "")).strip(): t for t in old}
    tasks = []
    for i, t in enumerate(new, 1):
        title = str(t.get("title") or "").strip()
        if not title:
            raise UsageError(f"task {i} has no title")
        before = by_title.get(title, {})
        files = t.get("files", before.get("files") or [])
        if not isinstance(files, list):
            raise UsageError(f"task {i}: `files` must be a list of paths")
        tasks.append(
            {
                "id": f"t{i}",
                "title": title,
                "description": str(t.get("description", before.get("description")) or ""),
                "files": [str(f) for f in files],
                "status": "pending",
            }
        )
    if not tasks:
        raise UsageError("the plan needs at least one task (reject the plan to have it redone)")
    return tasks
