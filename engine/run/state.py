"""The engine's per-run state: a JSON document saved with every checkpoint.

Templates see it (goal, plan, tests, outputs, feedback, ...). ``cursor``
says which node runs next, so a checkpoint's state alone is enough to
continue a run from it.
"""

from __future__ import annotations

import copy
from typing import Any

END = "end"
FAIL = "fail"


def initial_state(flow, goal: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "goal": goal,
        "flow": flow.name,
        "settings": {**flow.settings, **(settings or {})},
        "plan": {"tasks": []},
        "tests": {},
        "outputs": {},
        "feedback": [],
        "user_edits": [],
        "instruction": "",
        "iterations": {},
        "cursor": {"node": flow.start, "item": 0},
        "files": {},
    }


def clone(state: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(state)


def template_context(state: dict[str, Any], task: dict | None, node_id: str) -> dict[str, Any]:
    """What Jinja2 prompt templates can use (documented in docs/flows.md)."""
    ctx = dict(state)
    ctx["task"] = task or {}
    ctx["iteration"] = state.get("iterations", {}).get(node_id, 0)
    ctx["state"] = state
    return ctx
