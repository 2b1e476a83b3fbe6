"""Lazy, thread-safe import of litellm.

``import litellm`` costs seconds and, without ``LITELLM_LOCAL_MODEL_COST_MAP``,
fetches the model price map over the network at import time. Nothing in
``engine/`` imports litellm at module import: the first model call (or cost
estimate, or key check) goes through :func:`get_litellm`, ideally from a
worker thread so the UI never waits on it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from types import ModuleType

_lock = threading.Lock()
_litellm: ModuleType | None = None

#: litellm's loggers; quiet so its chatter never lands on the TUI's terminal.
_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
#: HTTP stack under litellm: warnings only (request lines would be noise).
_HTTP_LOGGERS = ("httpx", "openai", "aiohttp")


def get_litellm() -> ModuleType:
    """Import litellm once (local cost map, quiet), register our providers, return it."""
    global _litellm
    if _litellm is not None:
        return _litellm
    with _lock:
        if _litellm is not None:
            return _litellm
        # Must be set before the import: litellm reads it at import time.
        os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        # No telemetry / update checks from a coding tool running on someone's repo.
        os.environ.setdefault("LITELLM_TELEMETRY", "False")
        import litellm

        litellm.suppress_debug_info = True
        litellm.set_verbose = False
        litellm.telemetry = False
        # The openai SDK's own retries would hide failures from our backoff logic.
        litellm.num_retries = 0
        for name in _LITELLM_LOGGERS:
            logger = logging.getLogger(name)
            logger.setLevel(logging.CRITICAL)
            logger.propagate = False
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        from engine.models.scripted_llm import register_scripted_provider

        register_scripted_provider(litellm)
        _litellm = litellm
        return litellm


def litellm_loaded() -> bool:
    """True once litellm has been imported (by us or anyone else)."""
    return _litellm is not None or "litellm" in sys.modules
