"""Runners for each node kind. Each takes a StepContext and returns the step's output."""

from engine.nodes.base import NeedsHuman, StepContext, StepFailed
from engine.nodes.llm_nodes import run_agent_node, run_llm_node, run_plan_node
from engine.nodes.run_node import run_run_node

RUNNERS = {
    "llm": run_llm_node,
    "plan": run_plan_node,
    "agent": run_agent_node,
    "run": run_run_node,
}

__all__ = ["RUNNERS", "NeedsHuman", "StepContext", "StepFailed"]
