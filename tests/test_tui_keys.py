"""The keys are documented from one source: the bindings."""

from __future__ import annotations

from pathlib import Path

from scripts.keys_table import keys_table

ROOT = Path(__file__).resolve().parent.parent


def test_readme_keys_table_is_the_generated_one():
    assert keys_table() in (ROOT / "README.md").read_text(), "run scripts/keys_table.py"


def test_help_lists_every_main_screen_binding_once():
    from tui.app import help_sections
    from tui.screens.main import MainScreen

    main = dict(help_sections())["Main screen (a run)"]
    keys = [k for k, _ in main]
    assert len(keys) == len(set(keys)), keys
    for b in MainScreen.BINDINGS:
        assert (b.key, b.tooltip) in main
