"""Import hygiene: the TUI never imports litellm; the engine never imports textual."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_tui_app_does_not_import_litellm():
    out = _run(
        "import sys, tui.app, tui.launch, tui.screens.main, tui.screens.history\n"
        "print('litellm' in sys.modules, any(m.startswith('litellm.') for m in sys.modules))"
    )
    assert out == "False False"


def test_engine_sources_do_not_import_textual():
    offenders = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            if any(n == "textual" or n.startswith("textual.") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_importing_every_engine_module_does_not_load_textual():
    mods = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "engine").rglob("*.py")
    )
    out = _run(
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))"
    )
    assert out == "[]"


#: The engine modules the TUI may import: the facade and the types that cross it.
SEAM = {
    "engine.api",
    "engine.events",
    "engine.errors",
    "engine.records",
    "engine.readmodels",
    "engine.git.diffmodel",
}


def _engine_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute ``engine`` import in a file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "engine":  # from engine import x: x is the module
                found += [(node.lineno, f"engine.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return [(n, m) for n, m in found if m == "engine" or m.startswith("engine.")]


#: The console script: it hands CLI verbs to engine.cli before any TUI code loads.
ENTRY_POINT = ROOT / "tui" / "entry.py"


def test_tui_imports_only_the_engine_seam():
    """tui/ reaches the engine only through engine.api and the types it hands out."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {mod}"
        for path in sorted((ROOT / "tui").rglob("*.py"))
        if path != ENTRY_POINT
        for line, mod in _engine_imports(path)
        if mod not in SEAM
    ]
    assert offenders == []


def test_seam_check_sees_nested_and_from_imports(tmp_path: Path):
    # The contract must catch an import hidden in a function or written as `from engine import`.
    f = tmp_path / "m.py"
    f.write_text(
        "import engine.events\n"
        "def f():\n"
        "    from engine.run.session import Session\n"
        "    from engine import cli\n"
    )
    mods = [m for _, m in _engine_imports(f)]
    assert mods == ["engine.events", "engine.run.session", "engine.cli"]
    assert [m for m in mods if m not in SEAM] == ["engine.run.session", "engine.cli"]


_HEAVY = ("jinja2", "yaml", "litellm", "textual", "sqlite_utils", "engine.flow.spec")


def _heavy_after(*argvs: list[str]) -> list[str]:
    """The heavy modules loaded by running each of ``argvs`` in one fresh interpreter."""
    code = (
        "import sys\n"
        "from tui.entry import main\n"
        f"for argv in {list(argvs)!r}:\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"heavy = {_HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.startswith('engine.flow.')), "
        "file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    return eval(proc.stderr.strip().splitlines()[-1])  # the list printed last


def test_help_and_version_import_nothing_they_do_not_use():
    # A fresh interpreter is the point: which modules `--help` pulls in.
    assert _heavy_after(["--help"]) == []
    assert _heavy_after(["--version"]) == []
    assert _heavy_after(["runs", "--help"]) == []


def test_read_only_verbs_skip_the_flow_engine_and_litellm(tmp_path: Path):
    """`runs`, `show RUN` and `flows` (the listing) read the store or peek at flow files:
    no TUI, model client, template engine or flow validator."""
    from engine.store import RunStore

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with RunStore.open(tmp_path) as store:
        run_id = store.create_run("bugfix", "fix it", "scripted:x.yaml", "review")
    repo = ["-C", str(tmp_path)]
    loaded = _heavy_after([*repo, "runs"], [*repo, "show", run_id], [*repo, "flows"])
    assert set(loaded) <= {"sqlite_utils", "yaml", "engine.flow.listing"}, loaded
