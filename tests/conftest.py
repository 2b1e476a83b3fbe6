"""Test-wide isolation: no network keys, deterministic git identity and config."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import CliResult, run_main
from tests.support.gitutil import init_repo

# pytest runs nested in tests (flows' test nodes, the demo's sample project) skip the
# dev plugins this suite installs: loading them all costs seconds per nested run.
# The outer run has loaded its plugins by the time this module is imported.
os.environ.setdefault("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

_SECRET_HINTS = ("API_KEY", "_TOKEN", "SECRET")
# Variables that change what nested tools print (pytest shows full summary lines when
# CI or BUILD_NUMBER is set): that output reaches prompts, token counts and the cost on
# screen, so a CI machine must see the same as a laptop.
_OUTPUT_SHAPERS = (
    "CI",
    "BUILD_NUMBER",
    "PYTEST_ADDOPTS",
    "COLUMNS",
    "LINES",
    "NO_COLOR",
    "FORCE_COLOR",
    "PY_COLORS",
    "TERM_PROGRAM",
)


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
    for key in _OUTPUT_SHAPERS:
        monkeypatch.delenv(key, raising=False)
    yield


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repo with one commit."""
    return init_repo(
        tmp_path / "repo",
        {"README.md": "# demo\n", "src/app.py": "def add(a, b):\n    return a + b\n"},
    )


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """``cli(*args, repo=PATH)``: the CLI in this process, its exit code and output."""
    return functools.partial(run_main, capsys)
