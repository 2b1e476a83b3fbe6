"""What a node runner gets: the step's identity, state, journal and services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.events import Event
from engine.run.budget import Limits, Usage
from engine.run.journal import Journal


class StepFailed(Exception):
    """The step failed in a way retries / on_error edges should handle."""


class NeedsHuman(Exception):
    """The step cannot go on without a person (e.g. a command outside the allowlist).

    The executor opens a gate and pauses; the step is re-entered with the same
    id after the answer, replaying its journal up to this point.
    """

    def __init__(self, kind: str, prompt: str, payload: dict[str, Any]):
        super().__init__(prompt)
        self.kind = kind
        self.prompt = prompt
        self.payload = payload


@dataclass
class StepContext:
    run_id: str
    step_id: int
    node: Any  # engine.flow.spec.NodeSpec
    flow: Any  # engine.flow.spec.FlowSpec
    state: dict[str, Any]  # mutable working copy for this step
    task: dict[str, Any] | None
    attempt: int  # 1 for the first attempt of this node (and task)
    journal: Journal
    emit: Callable[[Event], Event]
    model_for: Callable[[str | None], Any]  # node model override -> ModelClient
    workspace: Any  # engine.tools.Workspace
    tool_context: Any  # engine.tools.ToolContext
    limits: Limits
    usage: Usage
    record_llm_call: Callable[[dict[str, Any]], None]
    approved_commands: set[str] = field(default_factory=set)
    refused_commands: dict[str, str] = field(default_factory=dict)
    files_touched: set[str] = field(default_factory=set)
    mcp: Callable[[], Any] | None = None  # the run's MCP tools (engine.tools.mcp.McpTools)
