"""The result type every tool returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ToolResult:
    """Outcome of one tool call.

    ``content`` is the text sent back to the model. ``files_changed`` lists
    repo-relative paths the call wrote. ``data`` carries structured results
    for the executor (a submitted plan, a finish summary, ``needs_approval``).
    """

    ok: bool
    content: str
    files_changed: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
