"""Pilot tests of the allowed-commands screen (tui/screens/rules.py): reached by ctrl+l and
the command palette from the start screen and the run screen, it lists the remembered
"always allow" rules and removes one after a yes, keeping approvals.toml's comments."""

from __future__ import annotations

import json

from engine.tools import approval_rules
from tests.test_tui_app import (
    CHANGED,
    SIZE,
    _edit_entries,
    at_gate,
    make_repo,
    new_app,
    wait_for,
)
from tui.commands import ActionsProvider


def _write_rules(repo) -> None:
    key = approval_rules.project_key(repo)
    path = approval_rules.rules_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# my rules\n"
        "[user]\n"
        'allow = ["make docs"]  # docs are safe\n\n'
        f"[projects.{json.dumps(key)}]\n"
        "allow = [\n"
        '  "touch",  # scratch files\n'
        '  "npm run lint",  # lint only\n'
        "]\n\n"
        '[projects."/elsewhere"]\n'
        'allow = ["rm -rf build"]\n'
    )


def _rows(app) -> list[tuple[str, str]]:
    from textual.widgets import DataTable

    table = app.screen.query_one("#rules", DataTable)
    return [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


def _on_rules(app, n: int | None = None) -> bool:
    from tui.screens.rules import RulesScreen

    screen = app.screen
    return (
        isinstance(screen, RulesScreen)
        and screen.view is not None
        and (n is None or len(_rows(app)) == n)
    )


async def _palette_runs(app, query: str) -> None:
    """What choosing the palette's best hit for ``query`` does."""
    hits = [h async for h in ActionsProvider(app.screen).search(query)]
    assert hits, f"no palette entry for {query!r}"
    await hits[0].command()


async def test_start_screen_lists_rules_and_removes_one_after_a_yes(tmp_path):
    from tui.app import LlmflowsApp
    from tui.screens.modals import ConfirmModal
    from tui.screens.start import StartScreen

    repo, model = make_repo(tmp_path, [])
    _write_rules(repo)
    app = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, StartScreen) and app.screen.query_one("#model").value,
        )
        titles = [t for t, *_ in ActionsProvider(app.screen)._commands()]
        assert "Allowed commands" in titles
        await pilot.press("ctrl+l")  # the goal has focus: not typed into it
        await wait_for(pilot, lambda: _on_rules(app, 3))
        assert app.screen.query_one("#rules-path").render()  # says where the file is
        # this project's rules first, then the person's; another project's are not shown
        assert _rows(app) == [
            ("project", "touch"),
            ("project", "npm run lint"),
            ("user", "make docs"),
        ]
        await pilot.press("down", "d")
        await pilot.press("ctrl+l")  # not over the question
        assert isinstance(app.screen, ConfirmModal) and "npm run lint" in str(app.screen.body)
        await pilot.press("n")  # no: nothing removed
        await wait_for(pilot, lambda: _on_rules(app, 3))
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: _on_rules(app, 2))
        assert _rows(app) == [("project", "touch"), ("user", "make docs")]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
    text = approval_rules.rules_path().read_text()
    assert "npm run lint" not in text
    for kept in ("# my rules", "# docs are safe", "# scratch files", "rm -rf build"):
        assert kept in text
    assert [r.prefix for r in approval_rules.list_rules(repo)] == ["touch", "make docs"]


async def test_run_screen_reaches_the_rules_by_key_and_palette(tmp_path):
    from tui.screens.main import MainScreen

    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    approval_rules.add_rule("touch", "user", repo)
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        await _palette_runs(app, "allowed commands")
        await wait_for(pilot, lambda: _on_rules(app, 1))
        assert _rows(app) == [("user", "touch")]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and at_gate(app))
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: _on_rules(app, 1))
        await pilot.press("delete", "y")
        await wait_for(pilot, lambda: _on_rules(app, 0))
        assert "No remembered rules" in str(app.screen.query_one("#rules-path").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
    assert approval_rules.list_rules(repo) == []
