"""Print the README's main-screen keys table, generated from the screen's bindings.

Usage (from the repository root)::

    .venv/bin/python scripts/keys_table.py

``tests/test_tui_keys.py`` checks that the README holds exactly this table, so the
README, the help screen and the keys cannot drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def keys_table() -> str:
    """The markdown table: one row per binding of the main screen and the app."""
    from tui.app import LlmflowsApp
    from tui.screens.main import MainScreen
    from tui.screens.modals import help_for

    rows = ["| key | action |", "|---|---|"]
    for key, text in help_for(MainScreen) + help_for(LlmflowsApp):
        if key:
            rows.append(f"| `{key}` | {text} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(keys_table(), end="")
