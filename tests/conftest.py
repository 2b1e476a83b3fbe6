"""Test-wide isolation: no network keys, deterministic git identity and config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.gitutil import init_repo

_SECRET_HINTS = ("API_KEY", "_TOKEN", "SECRET")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test User\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    for key in list(os.environ):
        if any(h in key for h in _SECRET_HINTS) or key == "LLMFLOWS_MODEL":
            monkeypatch.delenv(key, raising=False)
    yield


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repo with one commit."""
    return init_repo(
        tmp_path / "repo",
        {"README.md": "# demo\n", "src/app.py": "def add(a, b):\n    return a + b\n"},
    )
