"""Model settings: where the model comes from, and whether it can be used.

Precedence for the model name: ``--model`` > ``LLMFLOWS_MODEL`` > project
``.llmflows/config.toml`` > user config (``$XDG_CONFIG_HOME/llmflows-tui/config.toml``
or the platform's config dir) > none. Config files look like::

    [model]
    name = "openai/qwen2.5-coder"          # any litellm model string, or scripted:PATH
    api_base = "http://localhost:11434/v1" # OpenAI-compatible server (Ollama, vLLM, llama.cpp)
    api_key_env = "MY_SERVER_KEY"          # env var holding the key (read at call time)
    fallbacks = ["anthropic/claude-sonnet-4-5"]
    timeout_s = 120
    max_retries = 3
    temperature = 0.2

    [model.prices."openai/qwen2.5-coder"]  # for models litellm has no price for
    input_cost_per_token = 0.0000002
    output_cost_per_token = 0.0000006

Other options merge user < project. ``api_base``, ``api_key_env`` and
``fallbacks`` of a file apply only when that file names the chosen model or
names none. ``api_base`` and ``api_key_env`` are never taken from the project
file (a cloned repository must not send your key to its own server): set them
in the user config, ``LLMFLOWS_API_BASE`` or flags.
``LLMFLOWS_API_BASE`` overrides ``api_base``. Nothing here imports litellm
except :func:`check_model_usable` for a provider key check.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ModelConfigError
from engine.models.scripted_names import SCRIPTED_PREFIX, is_scripted, scripted_path

ENV_MODEL = "LLMFLOWS_MODEL"
ENV_API_BASE = "LLMFLOWS_API_BASE"
PROJECT_CONFIG = Path(".llmflows") / "config.toml"
APP_DIR = "llmflows-tui"
#: Providers that run locally and need no key (litellm may still ask for an *_API_BASE).
_KEYLESS_PROVIDERS = {"ollama", "ollama_chat", "hosted_vllm", "lm_studio", "llamafile", "vllm"}


@dataclass
class ModelSettings:
    """Everything needed to call a model. Holds env var *names*, never key values.

    ``model == ""`` means nothing is configured (see :func:`check_model_usable`).
    ``retry_base_s``/``retry_max_s`` shape the exponential backoff (tiny in tests).
    ``source`` says where ``model`` came from (for messages and the run header).
    """

    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    fallbacks: list[str] = field(default_factory=list)
    timeout_s: float = 120.0
    max_retries: int = 3
    custom_prices: dict[str, dict[str, float]] = field(default_factory=dict)
    temperature: float | None = None
    max_output_tokens: int | None = None
    #: Extra request fields (validated: :data:`REQUEST_OPTION_TYPES`), e.g. num_ctx.
    request: dict[str, Any] = field(default_factory=dict)
    #: Tokens the model accepts; None = ask litellm (``get_model_info``), else 32,768.
    context_window: int | None = None
    retry_base_s: float = 1.0
    retry_max_s: float = 30.0
    source: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.model)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def user_config_path() -> Path:
    """``$XDG_CONFIG_HOME/llmflows-tui/config.toml``, else the platform's config dir."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        base = Path(xdg)
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    else:
        base = Path.home() / ".config"
    return base / APP_DIR / "config.toml"


def project_config_path(repo_root: str | os.PathLike[str]) -> Path:
    return Path(repo_root) / PROJECT_CONFIG


_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "api_base": (str,),
    "api_key_env": (str,),
    "fallbacks": (list,),
    "timeout_s": (int, float),
    "max_retries": (int,),
    "temperature": (int, float),
    "max_output_tokens": (int,),
    "context_window": (int,),
    "request": (dict,),
    "retry_base_s": (int, float),
    "retry_max_s": (int, float),
    "prices": (dict,),
}


def _read_model_table(path: Path) -> dict[str, Any] | None:
    """The validated ``[model]`` table of a config file, or None if the file is absent."""
    if not path.is_file():
        return None
    import tomllib  # only when there is a file: the start screen's path often has none

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ModelConfigError(f"{path}: invalid TOML: {e}") from None
    except OSError as e:
        raise ModelConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    table = data.get("model", {})
    if not isinstance(table, dict):
        raise ModelConfigError(f"{path}: [model] must be a table")
    for key, value in table.items():
        types = _OPTION_TYPES.get(key)
        if types is None:
            raise ModelConfigError(
                f"{path}: unknown option model.{key}; known: {', '.join(sorted(_OPTION_TYPES))}"
            )
        if not isinstance(value, types) or isinstance(value, bool):
            raise ModelConfigError(f"{path}: model.{key} has the wrong type ({value!r})")
    if not all(isinstance(f, str) for f in table.get("fallbacks", [])):
        raise ModelConfigError(f"{path}: model.fallbacks must be a list of model strings")
    if "request" in table:
        problem = request_options_problem(table["request"])
        if problem:
            raise ModelConfigError(f"{path}: model.request: {problem}")
    for model, price in (table.get("prices") or {}).items():
        if not isinstance(price, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in price.values()
        ):
            raise ModelConfigError(
                f"{path}: model.prices.{model!r} must map price names to numbers"
            )
    return table


def _abs_script(model: str, base: Path) -> str:
    """Make ``scripted:relative.yaml`` absolute against ``base`` (where it was written)."""
    if not is_scripted(model):
        return model
    p = Path(scripted_path(model)).expanduser()
    if not p.is_absolute():
        p = base / p
    return SCRIPTED_PREFIX + str(p.resolve())


def resolve_model_settings(
    cli_model: str | None, repo_root: str | os.PathLike[str] | None
) -> ModelSettings:
    """Resolve settings by precedence (see module docstring); ``model=""`` if none found.

    Raises ModelConfigError for an unreadable or invalid config file.
    """
    cwd = Path.cwd()
    layers: list[tuple[str, Path, dict[str, Any]]] = []  # lowest precedence first
    upath = user_config_path()
    if (t := _read_model_table(upath)) is not None:
        layers.append((str(upath), upath.parent, t))
    if repo_root is not None:
        ppath = project_config_path(repo_root)
        if (t := _read_model_table(ppath)) is not None:
            layers.append((str(ppath), Path(repo_root), t))

    model, source = "", "none"
    for name, base, table in layers:
        if table.get("name"):
            model, source = _abs_script(table["name"], base), name
    env_model = os.environ.get(ENV_MODEL, "").strip()
    if env_model:
        model, source = _abs_script(env_model, cwd), f"env {ENV_MODEL}"
    if cli_model:
        model, source = _abs_script(cli_model.strip(), cwd), "--model"

    s = ModelSettings(model=model, source=source)
    project_name = str(project_config_path(repo_root)) if repo_root is not None else None
    for name, base, table in layers:
        names_it = table.get("name")
        endpoint_applies = not names_it or _abs_script(names_it, base) == model
        # A project file never picks the endpoint or the key (see engine/trust.py).
        if endpoint_applies and name != project_name:
            if "api_base" in table:
                s.api_base = table["api_base"] or None
            if "api_key_env" in table:
                s.api_key_env = table["api_key_env"] or None
        if endpoint_applies:
            if "fallbacks" in table:
                s.fallbacks = [_abs_script(f, base) for f in table["fallbacks"]]
        for key in ("timeout_s", "retry_base_s", "retry_max_s", "temperature"):
            if key in table:
                setattr(s, key, float(table[key]))
        for key in ("max_retries", "max_output_tokens", "context_window"):
            if key in table:
                setattr(s, key, int(table[key]))
        for pmodel, price in (table.get("prices") or {}).items():
            s.custom_prices[pmodel] = {k: float(v) for k, v in price.items()}
        if "request" in table:
            s.request.update(table["request"])
    if s.max_output_tokens is None:
        s.max_output_tokens = DEFAULT_MAX_OUTPUT_TOKENS
    env_base = os.environ.get(ENV_API_BASE, "").strip()
    if env_base:
        s.api_base = env_base
    return s


def _options_text() -> str:
    return (
        "Choose a model with one of:\n"
        "  --model MODEL              any litellm model string, e.g. anthropic/claude-sonnet-4-5\n"
        f"  {ENV_MODEL}=MODEL      environment variable\n"
        f'  {PROJECT_CONFIG}     [model] name = "..." in the project\n'
        f"  {user_config_path()}   the same, for all your projects\n"
        '  a local server: [model] name = "openai/NAME" and api_base = "http://localhost:11434/v1"\n'
        "                  (Ollama, vLLM, llama.cpp, LM Studio: any OpenAI-compatible api_base)\n"
        "Or try it offline, no key needed:  llmflows-tui demo"
    )


def check_model_usable(settings: ModelSettings) -> None:
    """Raise ModelConfigError (naming the options and the demo) if the model cannot work.

    Checks: a model is configured; a scripted file exists and parses; the key
    env var (``api_key_env``, or the provider's own per litellm) is set.
    ``scripted:`` and ``api_base`` models need no provider key.
    """
    model = settings.model
    if not model:
        raise ModelConfigError("No model is configured.\n" + _options_text())
    if is_scripted(model):
        from engine.models.scripted import load_script

        load_script(scripted_path(model))  # raises ModelConfigError with file + entry
        return
    if settings.api_key_env:
        if not os.environ.get(settings.api_key_env):
            raise ModelConfigError(
                f"Model {model} ({settings.source}) reads its key from ${settings.api_key_env} "
                "(api_key_env), which is not set. Export it, or:\n" + _options_text()
            )
        return
    if settings.api_base:
        return  # local/OpenAI-compatible server: a key is optional
    from engine.models.client import litellm_model_name
    from engine.models.loader import get_litellm

    lm = get_litellm()
    lmodel = litellm_model_name(model, settings.api_base)
    try:
        _m, provider, _k, _b = lm.get_llm_provider(lmodel)
    except Exception:  # noqa: BLE001 - litellm raises BadRequestError with a long text
        raise ModelConfigError(
            f"Model {model!r} ({settings.source}) is not a model litellm knows how to call; "
            "use PROVIDER/NAME, e.g. anthropic/claude-sonnet-4-5 or openai/gpt-4o.\n"
            + _options_text()
        ) from None
    if provider in _KEYLESS_PROVIDERS:
        return
    try:
        env = lm.validate_environment(model=lmodel)
    except Exception:  # noqa: BLE001 - unknown to the validator: let the call decide
        return
    missing = [k for k in env.get("missing_keys") or [] if not k.endswith("_API_BASE")]
    if not env.get("keys_in_environment") and missing:
        raise ModelConfigError(
            f"Model {model} ({settings.source}) needs {' or '.join(missing)} in the environment, "
            "which is not set. Export it (or set api_key_env in the config), or:\n"
            + _options_text()
        )


# -- request options (per model: [model.request]; per node: `request:` in a flow) --

#: An answer longer than this is cut (finish_reason "length") unless configured:
#: a looping model must not run to the server's own limit.
DEFAULT_MAX_OUTPUT_TOKENS = 4096

#: Request fields a person may set, with their types. Everything else is refused:
#: a typo must not be sent silently (or dropped silently) to a provider.
REQUEST_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "max_tokens": (int,),
    "temperature": (int, float),
    "top_p": (int, float),
    "seed": (int,),
    "stop": (str, list),
    "tool_choice": (str, dict),
    "parallel_tool_calls": (bool,),
    "response_format": (dict,),
    "reasoning_effort": (str,),
    "num_ctx": (int,),  # Ollama (the native ollama/ or ollama_chat/ provider)
    "extra_headers": (dict,),
    "extra_body": (dict,),  # provider fields for OpenAI-compatible servers
}
_TOOL_CHOICES = ("auto", "required", "none")


def request_options_problem(options: Any) -> str | None:
    """What is wrong with a request-options table, or None when it is valid."""
    if not isinstance(options, dict):
        return "must be a table of request fields"
    for key, value in options.items():
        types = REQUEST_OPTION_TYPES.get(key)
        if types is None:
            return f"unknown field {key!r}; known: {', '.join(sorted(REQUEST_OPTION_TYPES))}"
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return f"{key} has the wrong type ({value!r})"
    choice = options.get("tool_choice")
    if isinstance(choice, str) and choice not in _TOOL_CHOICES:
        return f"tool_choice must be one of {', '.join(_TOOL_CHOICES)} or a table, not {choice!r}"
    fmt = options.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") not in ("text", "json_object", "json_schema"):
        return "response_format.type must be text, json_object or json_schema"
    if "extra_headers" in options:
        headers = options["extra_headers"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            return "extra_headers must map header names to strings"
    return None


def merged_request_options(
    settings: ModelSettings, node_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The request fields of one call: the model's, then the node's on top."""
    merged = dict(settings.request or {})
    merged.update(node_options or {})
    return merged
