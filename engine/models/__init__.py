"""Models: litellm behind a small, typed client (see docs/internals.md, "Models").

Importing this package never imports litellm: the first call that needs it
(``ModelClient.complete``, ``estimate_cost``, ``check_model_usable`` for a
provider key) goes through :func:`engine.models.loader.get_litellm`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy import lazy_exports

if TYPE_CHECKING:
    from engine.models.client import ModelClient, ModelResponse, ToolCallRequest
    from engine.models.loader import get_litellm, litellm_loaded
    from engine.models.scripted import load_script, write_script
    from engine.models.scripted_names import is_scripted
    from engine.models.settings import (
        ModelSettings,
        check_model_usable,
        resolve_model_settings,
        user_config_path,
    )

# Each name from its module on first use: the start screen resolves the model's settings
# without loading the client (and what it imports).
__getattr__ = lazy_exports(
    __name__,
    {
        "ModelClient": "engine.models.client",
        "ModelResponse": "engine.models.client",
        "ToolCallRequest": "engine.models.client",
        "get_litellm": "engine.models.loader",
        "litellm_loaded": "engine.models.loader",
        "is_scripted": "engine.models.scripted_names",
        "load_script": "engine.models.scripted",
        "write_script": "engine.models.scripted",
        "ModelSettings": "engine.models.settings",
        "check_model_usable": "engine.models.settings",
        "resolve_model_settings": "engine.models.settings",
        "user_config_path": "engine.models.settings",
    },
)

__all__ = [
    "ModelClient",
    "ModelResponse",
    "ModelSettings",
    "ToolCallRequest",
    "check_model_usable",
    "get_litellm",
    "is_scripted",
    "litellm_loaded",
    "load_script",
    "resolve_model_settings",
    "user_config_path",
    "write_script",
]
