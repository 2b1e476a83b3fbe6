"""What the fork server (:mod:`tests.support.forked`) imports once, before it forks children.

Every engine module (the CLI, store, git and node code a headless run imports
lazily), litellm through the engine's loader (set up as a run sets it up) and the
tokenizer litellm counts with: together seconds that each child would pay again.
"""

from __future__ import annotations

import gc
import importlib
import pkgutil

import engine
import tui.entry  # noqa: F401
from engine.models.loader import get_litellm

get_litellm()  # first: it sets litellm up before any engine module imports it
for _module in pkgutil.walk_packages(engine.__path__, "engine."):
    importlib.import_module(_module.name)
# litellm loads tiktoken's default encoding on first use (hundreds of ms).
importlib.import_module("litellm.litellm_core_utils.default_encoding")
# Children share this heap copy-on-write; the collector walking it would copy it all.
gc.freeze()
