"""Prices and costs, computed by litellm's own cost functions.

Custom prices (``[model.prices]`` in config, ``ModelSettings.custom_prices``)
are registered with ``litellm.register_model`` so ``completion_cost`` /
``cost_per_token`` use them exactly as for a model in litellm's map. A model
with no known price costs 0.0 and is flagged (``cost_known=False``) — never an
exception in the middle of a run.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

#: Keys accepted in a custom price entry (litellm's own names).
PRICE_KEYS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
)

_registered: dict[str, tuple[tuple[str, float], ...]] = {}
_lock = threading.Lock()


def normalize_prices(prices: Mapping[str, Any]) -> dict[str, float]:
    """Keep litellm's price keys; ``input_per_million``/``output_per_million`` are accepted too."""
    out: dict[str, float] = {}
    for key in PRICE_KEYS:
        if prices.get(key) is not None:
            out[key] = float(prices[key])
    if prices.get("input_per_million") is not None:
        out["input_cost_per_token"] = float(prices["input_per_million"]) / 1e6
    if prices.get("output_per_million") is not None:
        out["output_cost_per_token"] = float(prices["output_per_million"]) / 1e6
    return out


def register_prices(lm: Any, litellm_model: str, prices: Mapping[str, Any]) -> None:
    """Register a price for ``litellm_model`` with litellm (idempotent per price)."""
    norm = normalize_prices(prices)
    if not norm:
        return
    sig = tuple(sorted(norm.items()))
    with _lock:
        if _registered.get(litellm_model) == sig:
            return
        provider = litellm_model.split("/", 1)[0] if "/" in litellm_model else "openai"
        lm.register_model({litellm_model: {**norm, "litellm_provider": provider, "mode": "chat"}})
        _registered[litellm_model] = sig


def response_cost(lm: Any, response: Any, litellm_model: str) -> tuple[float, bool]:
    """(cost in USD, price known) for a litellm ModelResponse, via ``completion_cost``."""
    try:
        cost = lm.completion_cost(completion_response=response, model=litellm_model)
    except Exception:  # noqa: BLE001 - unknown model / provider: cost unknown, not fatal
        return 0.0, False
    if cost is None:
        return 0.0, False
    return float(cost), True


def tokens_cost(
    lm: Any, litellm_model: str, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0
) -> tuple[float, bool]:
    """(cost, price known) for token counts, via ``litellm.cost_per_token``."""
    try:
        kw: dict[str, Any] = {}
        if cached_tokens:
            kw["cache_read_input_tokens"] = cached_tokens
        p, c = lm.cost_per_token(
            model=litellm_model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            **kw,
        )
    except Exception:  # noqa: BLE001 - unknown model: no price
        return 0.0, False
    return float(p) + float(c), True
