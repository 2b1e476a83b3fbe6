"""Model settings resolution (--model > env > project > user) and usability checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ModelConfigError
from engine.models import check_model_usable, resolve_model_settings, user_config_path
from engine.models.settings import ModelSettings


def write_user(body: str) -> Path:
    p = user_config_path()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(body)
    return p


def write_project(repo: Path, body: str) -> Path:
    p = repo / ".llmflows" / "config.toml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(body)
    return p


def test_user_config_path_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert user_config_path() == tmp_path / "cfg" / "llmflows-tui" / "config.toml"


def test_nothing_configured(repo: Path) -> None:
    s = resolve_model_settings(None, repo)
    assert s.model == "" and not s.configured and s.source == "none"
    with pytest.raises(ModelConfigError) as ei:
        check_model_usable(s)
    msg = str(ei.value)
    for option in ("--model", "LLMFLOWS_MODEL", ".llmflows/config.toml", "api_base"):
        assert option in msg
    assert str(user_config_path()) in msg
    assert "Ollama" in msg and "vLLM" in msg and "llama.cpp" in msg
    assert "llmflows-tui demo" in msg
    assert ei.value.exit_code == 2


def test_precedence_cli_env_project_user(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = write_user('[model]\nname = "user/model"\ntimeout_s = 10\nmax_retries = 7\n')
    s = resolve_model_settings(None, repo)
    assert (s.model, s.source) == ("user/model", str(user))
    assert (s.timeout_s, s.max_retries) == (10.0, 7)

    project = write_project(repo, '[model]\nname = "project/model"\ntimeout_s = 20\n')
    s = resolve_model_settings(None, repo)
    assert (s.model, s.source) == ("project/model", str(project))
    assert (s.timeout_s, s.max_retries) == (20.0, 7)  # options merge: project over user

    monkeypatch.setenv("LLMFLOWS_MODEL", "env/model")
    s = resolve_model_settings(None, repo)
    assert (s.model, s.source) == ("env/model", "env LLMFLOWS_MODEL")

    s = resolve_model_settings("cli/model", repo)
    assert (s.model, s.source) == ("cli/model", "--model")
    assert s.timeout_s == 20.0  # non-endpoint options still come from the config files


def test_endpoint_options_follow_the_named_model(repo: Path) -> None:
    write_user(
        """
[model]
name = "openai/qwen"
api_base = "http://127.0.0.1:11434/v1"
api_key_env = "LOCAL_KEY"
fallbacks = ["openai/llama"]
""",
    )
    s = resolve_model_settings(None, repo)
    assert s.api_base == "http://127.0.0.1:11434/v1"
    assert s.api_key_env == "LOCAL_KEY"
    assert s.fallbacks == ["openai/llama"]
    # --model naming the same model keeps the endpoint ...
    assert resolve_model_settings("openai/qwen", repo).api_base == "http://127.0.0.1:11434/v1"
    # ... another model does not inherit the local server or fallbacks.
    other = resolve_model_settings("anthropic/claude-sonnet-4-5", repo)
    assert other.api_base is None and other.api_key_env is None and other.fallbacks == []


def test_a_project_file_never_sets_the_endpoint_or_the_key(repo: Path) -> None:
    # A cloned repository naming its own server and *your* key's variable.
    write_project(
        repo,
        '[model]\nname = "openai/gpt-4o"\napi_base = "http://attacker.invalid/v1"\n'
        'api_key_env = "ANTHROPIC_API_KEY"\ntimeout_s = 33\n',
    )
    s = resolve_model_settings(None, repo)
    assert s.model == "openai/gpt-4o" and s.timeout_s == 33.0  # other options still apply
    assert s.api_base is None and s.api_key_env is None
    write_user('[model]\napi_base = "http://127.0.0.1:8080/v1"\napi_key_env = "MINE"\n')
    s = resolve_model_settings(None, repo)
    assert (s.api_base, s.api_key_env) == ("http://127.0.0.1:8080/v1", "MINE")


def test_nameless_config_endpoint_applies_to_any_model(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_user('[model]\napi_base = "http://127.0.0.1:8080/v1"\n')
    s = resolve_model_settings("openai/whatever", repo)
    assert s.api_base == "http://127.0.0.1:8080/v1"
    monkeypatch.setenv("LLMFLOWS_API_BASE", "http://127.0.0.1:9999/v1")
    assert resolve_model_settings("openai/whatever", repo).api_base == "http://127.0.0.1:9999/v1"


def test_prices_merge_from_both_configs(repo: Path) -> None:
    write_user(
        '[model.prices."openai/a"]\ninput_cost_per_token = 1e-6\noutput_cost_per_token = 2e-6\n'
        '[model.prices."openai/b"]\ninput_cost_per_token = 5e-6\n'
    )
    write_project(repo, '[model.prices."openai/b"]\ninput_cost_per_token = 3e-6\n')
    s = resolve_model_settings("openai/a", repo)
    assert s.custom_prices == {
        "openai/a": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
        "openai/b": {"input_cost_per_token": 3e-6},
    }


def test_scripted_paths_are_resolved_where_written(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(repo, '[model]\nname = "scripted:scripts/demo.yaml"\n')
    s = resolve_model_settings(None, repo)
    assert s.model == f"scripted:{(repo / 'scripts' / 'demo.yaml').resolve()}"
    monkeypatch.chdir(tmp_path)
    s = resolve_model_settings("scripted:mine.yaml", repo)
    assert s.model == f"scripted:{(tmp_path / 'mine.yaml').resolve()}"


def test_bad_config_files_are_clear_errors(repo: Path) -> None:
    p = write_project(repo, "[model\nname = 1\n")
    with pytest.raises(ModelConfigError, match="invalid TOML") as ei:
        resolve_model_settings(None, repo)
    assert str(p) in str(ei.value)
    write_project(repo, '[model]\nnmae = "x"\n')
    with pytest.raises(ModelConfigError, match=r"unknown option model\.nmae"):
        resolve_model_settings(None, repo)
    write_project(repo, '[model]\nmax_retries = "three"\n')
    with pytest.raises(ModelConfigError, match=r"model\.max_retries has the wrong type"):
        resolve_model_settings(None, repo)


def test_missing_provider_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    s = ModelSettings(model="anthropic/claude-3-5-sonnet-20240620", source="--model")
    with pytest.raises(ModelConfigError) as ei:
        check_model_usable(s)
    assert "ANTHROPIC_API_KEY" in str(ei.value)
    assert "llmflows-tui demo" in str(ei.value)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    check_model_usable(s)  # no error once the key is there


def test_key_env_and_keyless_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # api_base servers (Ollama, vLLM, llama.cpp) need no key.
    check_model_usable(ModelSettings(model="openai/qwen", api_base="http://127.0.0.1:1/v1"))
    check_model_usable(ModelSettings(model="ollama/llama3"))
    # An explicit api_key_env must be set.
    s = ModelSettings(model="openai/qwen", api_base="http://127.0.0.1:1/v1", api_key_env="MY_KEY")
    with pytest.raises(ModelConfigError, match=r"\$MY_KEY"):
        check_model_usable(s)
    monkeypatch.setenv("MY_KEY", "secret-value")
    check_model_usable(s)
    # Scripted models need no key, but the script must exist and parse.
    good = tmp_path / "s.yaml"
    good.write_text("- text: hi\n")
    check_model_usable(ModelSettings(model=f"scripted:{good}"))
    with pytest.raises(ModelConfigError, match="cannot read script"):
        check_model_usable(ModelSettings(model=f"scripted:{tmp_path / 'nope.yaml'}"))


def test_unknown_provider_is_explained() -> None:
    with pytest.raises(ModelConfigError) as ei:
        check_model_usable(ModelSettings(model="definitely-not-a-model", source="--model"))
    assert "definitely-not-a-model" in str(ei.value)
    assert "PROVIDER/NAME" in str(ei.value)
