"""Models: litellm behind a small, typed client (see docs/internals.md, "Models").

Importing this package never imports litellm: the first call that needs it
(``ModelClient.complete``, ``estimate_cost``, ``check_model_usable`` for a
provider key) goes through :func:`engine.models.loader.get_litellm`.
"""

from engine.models.client import ModelClient, ModelResponse, ToolCallRequest
from engine.models.loader import get_litellm, litellm_loaded
from engine.models.scripted import is_scripted, load_script, write_script
from engine.models.settings import (
    ModelSettings,
    check_model_usable,
    resolve_model_settings,
    user_config_path,
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
