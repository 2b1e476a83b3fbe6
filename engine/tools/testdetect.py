"""Which command runs a project's tests: configured, else detected from its files.

The answer is confirmed once into ``.llmflows/config.toml`` (``[tests] command``)
so later runs, and the person, see and can change the same command. Detection
looks at the files a project already has: pytest (``src/`` layouts, tox/nox),
npm/pnpm/yarn ``test`` scripts, ``go test``, ``cargo test``, ``make test``.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import UsageError

CONFIG = Path(".llmflows") / "config.toml"
#: Flow settings this module fills in when the person did not set them.
TEST_SETTING = "test_command"
_NPM_PLACEHOLDER = "no test specified"
_MAKE_TEST = re.compile(r"^test\s*:", re.M)


@dataclass(frozen=True)
class TestCommand:
    """A test command and where it came from (``config`` or a detection reason)."""

    __test__ = False

    command: str
    source: str  # "config" | "detected"
    reason: str  # the file it was detected from, e.g. "pyproject.toml, src/ layout"

    def where(self) -> str:
        """Where the command came from, for a person: the config file or the project file."""
        if self.source == "config":
            return f"from {CONFIG}"
        return f"detected from {self.reason}"


def configured_test_command(root: Path) -> str | None:
    """``[tests] command`` of the project's ``.llmflows/config.toml``, if set."""
    table = _config(root).get("tests") or {}
    if not isinstance(table, dict):
        raise UsageError(f"{root / CONFIG}: [tests] must be a table with a `command` string")
    cmd = table.get("command")
    if cmd is None:
        return None
    if not isinstance(cmd, str) or not cmd.strip():
        raise UsageError(f"{root / CONFIG}: [tests] command must be a non-empty string")
    return cmd.strip()


def _config(root: Path) -> dict[str, Any]:
    path = root / CONFIG
    if not path.is_file():
        return {}
    import tomllib  # only when there is a file: the start screen's path often has none

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: {e}") from None


def _python(root: Path) -> str:
    """The project's own interpreter when it has a venv, else whichever python exists."""
    for venv in (".venv", "venv"):
        if (root / venv / "bin" / "python").exists():
            return f"{venv}/bin/python"
    return "python" if shutil.which("python") else "python3"


def _python_marker(root: Path) -> str | None:
    """The file that makes this a Python project with tests (None: not one)."""
    markers = ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini", "noxfile.py")
    for m in markers:
        if (root / m).is_file():
            return m
    for pattern in ("test_*.py", "tests/test_*.py"):
        found = next(root.glob(pattern), None)
        if found is not None:
            return found.relative_to(root).as_posix()
    return None


def _src_layout_needs_path(root: Path) -> bool:
    """A ``src/`` package that pytest would not find unless installed or configured."""
    src = root / "src"
    if not src.is_dir() or not any(
        p.is_dir() and (p / "__init__.py").exists() for p in src.iterdir()
    ):
        return False
    for name in ("pyproject.toml", "pytest.ini", "setup.cfg", "tox.ini"):
        path = root / name
        if path.is_file() and re.search(r"^\s*pythonpath\s*=", _read(path), re.M):
            return False
    return True


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _package_json_test(root: Path) -> TestCommand | None:
    path = root / "package.json"
    if not path.is_file():
        return None
    import json

    try:
        scripts = json.loads(_read(path) or "{}").get("scripts") or {}
    except (json.JSONDecodeError, AttributeError):
        return None
    test = scripts.get("test") if isinstance(scripts, dict) else None
    if not isinstance(test, str) or _NPM_PLACEHOLDER in test:
        return None
    for lock, tool in (("pnpm-lock.yaml", "pnpm"), ("yarn.lock", "yarn"), ("bun.lockb", "bun")):
        if (root / lock).is_file():
            return TestCommand(f"{tool} test", "detected", f"package.json test script, {lock}")
    return TestCommand("npm test", "detected", "package.json test script")


def detect_test_command(root: Path) -> TestCommand | None:
    """Guess the test command from the project's files; None when nothing fits."""
    root = Path(root)
    marker = _python_marker(root)
    if marker:
        py = _python(root)
        if _src_layout_needs_path(root):
            return TestCommand(
                f"PYTHONPATH=src {py} -m pytest -q", "detected", f"{marker}, src/ layout"
            )
        has_tests = (root / "tests").is_dir() or any(root.glob("test_*.py"))
        for cfg, tool in (("tox.ini", "tox"), ("noxfile.py", "nox")):
            # Only a project without visible tests is left to tox/nox: running pytest
            # directly is faster and gives exact results.
            if not has_tests and (root / cfg).is_file():
                return TestCommand(f"{tool} -q", "detected", f"{cfg}, no tests folder")
        return TestCommand(f"{py} -m pytest -q", "detected", f"{marker}, Python project")
    found = _package_json_test(root)
    if found:
        return found
    if (root / "go.mod").is_file():
        return TestCommand("go test ./...", "detected", "go.mod")
    if (root / "Cargo.toml").is_file():
        return TestCommand("cargo test", "detected", "Cargo.toml")
    for name in ("Makefile", "makefile", "GNUmakefile"):
        if (root / name).is_file() and _MAKE_TEST.search(_read(root / name)):
            return TestCommand("make test", "detected", f"{name}, test target")
    return None


def project_test_command(root: Path) -> TestCommand | None:
    """The configured test command, else the detected one."""
    cmd = configured_test_command(root)
    if cmd:
        return TestCommand(cmd, "config", "")
    return detect_test_command(root)


def save_test_command(root: Path, command: str) -> Path:
    """Record ``command`` as ``[tests] command`` (appended; an existing one is kept)."""
    path = Path(root) / CONFIG
    if configured_test_command(Path(root)):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _read(path)
    if re.search(r"^\s*\[tests\]\s*$", text, re.M):
        raise UsageError(f'{path}: [tests] has no command; add command = "..." there')
    sep = "" if not text or text.endswith("\n") else "\n"
    import json

    # A TOML basic string: json.dumps escapes exactly what TOML needs for ASCII text.
    block = (
        f"{sep}\n[tests]\n# The command that runs this project's tests (detected once; edit it)."
        f"\ncommand = {json.dumps(command)}\n"
    )
    from engine.trust import check_trust, record_trust

    # Our own write must not make the person's trusted files look tampered with.
    was_trusted = check_trust(root).ok
    with path.open("a", encoding="utf-8") as f:
        f.write(block)
    if was_trusted:
        record_trust(root)
    return path


def resolve_test_settings(
    root: Path, flow_settings: dict[str, Any], overrides: dict[str, Any] | None
) -> tuple[dict[str, Any], TestCommand | None]:
    """Fill the flow's ``test_command`` from the project when the person did not set it.

    Returns the settings to start the run with and the command used (None when the
    flow has no test command, the person set one, or nothing was found). A newly
    detected command is confirmed into ``.llmflows/config.toml``.
    """
    settings = dict(overrides or {})
    if TEST_SETTING not in flow_settings or TEST_SETTING in settings:
        return settings, None
    found = project_test_command(Path(root))
    if found is None:
        return settings, None
    settings[TEST_SETTING] = found.command
    if found.source == "detected":
        save_test_command(Path(root), found.command)
    return settings, found
