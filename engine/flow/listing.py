"""Listing flows (name, description, where from) without loading or validating them.

Kept apart from :mod:`engine.flow.spec` so the start screen and ``flows`` listings
import neither jinja2 nor the validator: each file is only peeked at with a YAML load.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass
class FlowInfo:
    """A flow found by :func:`find_flows` (not validated yet)."""

    name: str
    source: str
    path: str
    description: str
    shadows_builtin: bool = False  # a project flow replacing the built-in of the same name

    @property
    def label(self) -> str:
        """The source as shown in listings ("project, shadows built-in" when it does)."""
        return "project, shadows built-in" if self.shadows_builtin else self.source


def builtin_flows_dir() -> Path:
    """Directory of the built-in flows (the ``flows`` package)."""
    # Its files are read by path (prompt templates too), so the package is never zipped:
    # its folder is enough, without importlib.resources on the start screen's path.
    import flows

    return Path(flows.__file__).parent


# A top-level "key: one-line plain text" (no quotes, comments, anchors or tags).
_PLAIN_LINE = re.compile(r"^(name|description): ([A-Za-z][\w ,.;()/'-]*?) *$", re.MULTILINE)


def _peek_builtin(path: Path) -> tuple[str, str] | None:
    """Name and description of one of our own flow files, read without YAML.

    Built-in flows start with one-line ``name:`` and ``description:`` (a test checks
    that this gives what the YAML load gives), so the start screen lists them without
    importing the YAML parser. None when a file does not (then it is loaded).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    found: dict[str, str] = {m[1]: m[2] for m in _PLAIN_LINE.finditer(text)}
    if set(found) != {"name", "description"}:
        return None
    return found["name"], found["description"]


def _peek(path: Path) -> tuple[str, str]:
    """Name and description of a flow file without validating it (for listings)."""
    import yaml

    name, description = path.stem, ""
    try:
        # libyaml's loader when present: listing flows is on the start screen's path.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
    except Exception:  # a broken file is still listed; `flows check` explains it
        return name, "(invalid flow file: run `llmflows-tui flows check`)"
    if isinstance(data, dict):
        if isinstance(data.get("name"), str) and data["name"]:
            name = data["name"]
        if isinstance(data.get("description"), str):
            description = data["description"].strip()
    return name, description


def project_flows_dir(repo_root: str | os.PathLike[str]) -> Path:
    """Directory of a repository's own flows (``.llmflows/flows``)."""
    return Path(repo_root) / ".llmflows" / "flows"


def _flow_files(directory: Path) -> list[Path]:
    try:
        return sorted(
            p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()
        )
    except OSError:
        return []


def find_flows(repo_root: str | os.PathLike[str] | None) -> list[FlowInfo]:
    """Built-in flows plus ``<repo_root>/.llmflows/flows/*.yaml``, sorted by name.

    A project flow with the same name as a built-in replaces it (and is marked
    ``shadows_builtin``, so every listing can say so).
    """
    found: dict[str, FlowInfo] = {}
    dirs: list[tuple[str, Path]] = [("builtin", builtin_flows_dir())]
    if repo_root is not None:
        dirs.append(("project", project_flows_dir(repo_root)))
    for source, directory in dirs:
        for path in _flow_files(directory):
            quick = _peek_builtin(path) if source == "builtin" else None
            name, description = quick or _peek(path)
            shadows = source == "project" and name in found and found[name].source == "builtin"
            found[name] = FlowInfo(name, source, str(path), description, shadows)
    return [found[k] for k in sorted(found)]
