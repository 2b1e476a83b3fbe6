"""CostMeter: tokens, $ per step and run, budget bar, per-model split, $ per passing test."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from engine.events import CostUpdate, Event, TestResult

WARN_FRACTION = 0.8
BAR_WIDTH = 20


def fmt_tokens(n: int) -> str:
    """1234 → ``1.2k``; 1_500_000 → ``1.5M``."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(n)


def fmt_usd(x: float) -> str:
    """Dollars with enough precision for cheap calls."""
    return f"${x:.4f}" if x < 1 else f"${x:.2f}"


def short_model(model: str) -> str:
    """``scripted:/long/path/demo.yaml`` → ``scripted:demo.yaml``; others unchanged."""
    if model.startswith("scripted:"):
        return "scripted:" + model.split("/")[-1]
    return model


@dataclass
class ModelUsage:
    """Accumulated usage of one model within the run."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0
    cost_usd: float = 0.0


class CostMeter(Widget):
    """Cost and token meter with a budget bar (warning style from 80 %, error at 100 %).

    Public API: :meth:`apply_event` (CostUpdate, TestResult), :meth:`set_budget`,
    :meth:`set_restored` (after a rewind),
    :meth:`reset`, :meth:`text`; figures :attr:`run_cost`, :attr:`step_cost`,
    :attr:`tokens_in`, :attr:`tokens_out`, :attr:`tokens_cached`, :attr:`budget`,
    :attr:`budget_fraction`, :attr:`per_model`, :attr:`cost_per_passing_test`.

    CSS classes: ``-warning`` (≥ 80 % of budget), ``-over`` (≥ 100 %).
    """

    DEFAULT_CSS = """
    CostMeter {
        height: auto;
        padding: 0 1;
        & > .cost-meter--bar { color: $success; }
        &.-warning > .cost-meter--bar { color: $warning; }
        &.-over > .cost-meter--bar { color: $error; }
        & > .cost-meter--bar-empty { color: $panel-lighten-2; }
        & > .cost-meter--label { color: $text-muted; }
    }
    """
    COMPONENT_CLASSES = {"cost-meter--bar", "cost-meter--bar-empty", "cost-meter--label"}

    def __init__(
        self,
        budget_usd: float | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._explicit_budget = budget_usd
        self.reset()

    def reset(self) -> None:
        """Forget all figures (keeps an explicitly set budget)."""
        self.run_cost = 0.0
        self.step_cost = 0.0
        self.step_id: int | None = None
        self.tokens_in = 0
        self.tokens_out = 0
        self.tokens_cached = 0
        self.per_model: dict[str, ModelUsage] = {}
        self.tests_passed = 0
        self.budget: float | None = self._explicit_budget
        self.restored: tuple[int, float] | None = None
        self._sync()

    # ------------------------------------------------------------------ public API

    def set_budget(self, usd: float | None) -> None:
        """Set (or remove with None) the run budget in USD."""
        self._explicit_budget = usd
        self.budget = usd
        self._sync()

    def set_restored(self, checkpoint_id: int | None, spent_usd: float = 0.0) -> None:
        """After a rewind: the checkpoint the tree is at and what had been spent to reach it
        (shown under the run's total, which rewinds do not take back). None clears it."""
        self.restored = None if checkpoint_id is None else (checkpoint_id, spent_usd)
        self._sync()

    @property
    def budget_fraction(self) -> float | None:
        """Run cost / budget, or None without a budget."""
        if not self.budget:
            return None
        return self.run_cost / self.budget

    @property
    def cost_per_passing_test(self) -> float | None:
        """Cost divided by passing tests of the latest result (None before any pass);
        after a rewind, what reaching the restored checkpoint cost by its passes."""
        if self.tests_passed <= 0:
            return None
        cost = self.restored[1] if self.restored is not None else self.run_cost
        return cost / self.tests_passed

    def apply_event(self, event: Event) -> None:
        """Handle CostUpdate (per call) and TestResult; ignore others."""
        if isinstance(event, CostUpdate):
            self.restored = None  # spending again: the run has moved on from the checkpoint
            if event.step_id != self.step_id:
                self.step_id, self.step_cost = event.step_id, 0.0
            self.step_cost += event.cost_usd
            # The engine's run totals are authoritative (they survive resume).
            self.run_cost = event.run_cost_usd
            self.tokens_in = event.run_tokens_in
            self.tokens_out = event.run_tokens_out
            self.tokens_cached += event.tokens_cached
            usage = self.per_model.setdefault(event.model, ModelUsage())
            usage.calls += 1
            usage.tokens_in += event.tokens_in
            usage.tokens_out += event.tokens_out
            usage.tokens_cached += event.tokens_cached
            usage.cost_usd += event.cost_usd
            if event.budget_usd is not None:
                self.budget = event.budget_usd
            self._sync()
        elif isinstance(event, TestResult):
            self.tests_passed = event.passed
            self._sync()

    def text(self) -> Text:
        """The meter's content (what :meth:`render` shows), for tests and exports."""
        label = self._component("cost-meter--label")
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("run ", style=label)
        t.append(fmt_usd(self.run_cost), style="bold")
        if self.restored is None:
            t.append("  step ", style=label)
            t.append(fmt_usd(self.step_cost))
        else:
            checkpoint_id, spent = self.restored
            t.append(" spent in all", style=label)
            t.append(f"\nat cp {checkpoint_id} ", style=label)
            t.append(fmt_usd(spent), style="bold")
            t.append(" ◀ here", style="bold reverse")
        t.append("\ntokens ", style=label)
        t.append(f"in {fmt_tokens(self.tokens_in)}  out {fmt_tokens(self.tokens_out)}")
        if self.tokens_cached:
            t.append(f"  cached {fmt_tokens(self.tokens_cached)}")
        t.append("\nbudget ", style=label)
        fraction = self.budget_fraction
        if fraction is None:
            t.append("none", style="dim")
        else:
            suffix = f" {fraction * 100:.0f}% of ${self.budget or 0:.2f}"
            # The bar shrinks in a narrow pane so the percentage stays on its line.
            width = self.content_size.width if self.is_mounted else 0
            bar = BAR_WIDTH if not width else max(5, min(BAR_WIDTH, width - 7 - len(suffix)))
            filled = min(bar, round(min(fraction, 1.0) * bar))
            t.append("█" * filled, style=self._component("cost-meter--bar"))
            t.append("░" * (bar - filled), style=self._component("cost-meter--bar-empty"))
            t.append(suffix)
            if fraction >= 1:
                t.append(" over budget", style="bold red")
        if len(self.per_model) > 1:  # one model: the run line already says it all
            for model, usage in sorted(self.per_model.items(), key=lambda kv: -kv[1].cost_usd):
                t.append(f"\n  {short_model(model)} ", style=label)
                t.append(
                    f"{fmt_usd(usage.cost_usd)} · {usage.calls} call"
                    f"{'s' if usage.calls != 1 else ''}"
                    f" · {fmt_tokens(usage.tokens_in)}/{fmt_tokens(usage.tokens_out)}"
                )
        per_test = self.cost_per_passing_test
        if per_test is not None:
            t.append("\nper passing test ", style=label)
            t.append(f"{fmt_usd(per_test)} ({self.tests_passed} passed)")
        return t

    def render(self) -> Text:
        return self.text()

    # ------------------------------------------------------------------ internals

    def _component(self, name: str) -> str | Style:
        if not self.is_mounted:
            return ""
        return self.get_component_rich_style(name, partial=True)

    def _sync(self) -> None:
        fraction = self.budget_fraction
        self.set_class(fraction is not None and WARN_FRACTION <= fraction < 1, "-warning")
        self.set_class(fraction is not None and fraction >= 1, "-over")
        self.refresh(layout=True)
