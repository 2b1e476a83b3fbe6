"""Budgets and limits, enforced by the engine before each LLM call and step."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from engine.errors import BudgetExceededError


@dataclass
class Limits:
    max_cost_usd: float | None = None
    max_steps: int | None = None
    max_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Limits:
        d = d or {}
        return cls(**{k: d.get(k) for k in ("max_cost_usd", "max_steps", "max_tokens")})


@dataclass
class Usage:
    cost_usd: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0
    steps: int = 0


def check_before_call(limits: Limits, usage: Usage, estimate_usd: float, est_tokens: int) -> None:
    """Raise BudgetExceededError if the next call would cross a limit."""
    if limits.max_cost_usd is not None and usage.cost_usd + estimate_usd > limits.max_cost_usd:
        raise BudgetExceededError(
            "max_cost",
            f"cost budget reached: ${usage.cost_usd:.4f} spent, next call estimated at "
            f"${estimate_usd:.4f}, limit ${limits.max_cost_usd:.4f}. "
            "Resume with a higher --max-cost to continue.",
        )
    total = usage.tokens_in + usage.tokens_out
    if limits.max_tokens is not None and total + est_tokens > limits.max_tokens:
        raise BudgetExceededError(
            "max_tokens",
            f"token budget reached: {total} used, next call needs about {est_tokens}, "
            f"limit {limits.max_tokens}. Resume with a higher --max-tokens to continue.",
        )


def check_before_step(limits: Limits, usage: Usage) -> None:
    if limits.max_steps is not None and usage.steps >= limits.max_steps:
        raise BudgetExceededError(
            "max_steps",
            f"step limit reached: {usage.steps} steps run, limit {limits.max_steps}. "
            "Resume with a higher --max-steps to continue.",
        )
