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
        assert b.tooltip in dict(main)[b.key]  # a key with two actions lists both


def _styled_app():
    """A bare app with the real app's styles (dialogs' sizes), no engine."""
    from textual.app import App

    class Styled(App[None]):
        CSS_PATH = str(ROOT / "tui" / "app.tcss")

    return Styled()


def _lines(widget) -> list[str]:
    """The widget's rendered rows, as text."""
    from textual.geometry import Region

    w, h = widget.size
    return [strip.text.rstrip() for strip in widget.render_lines(Region(0, 0, w, h))]


async def test_help_hangs_long_descriptions_under_their_column_at_80x24():
    from tui.app import help_sections
    from tui.screens.modals import HelpScreen

    app = _styled_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(HelpScreen(help_sections()))
        await pilot.pause()
        lines = _lines(app.screen.query_one("#help-text"))
        first = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("a "))
        column = lines[first].index("approve")
        assert any(ln.lstrip().startswith("← / →") for ln in lines)  # sideways scroll, too
        cont = lines[first + 1]
        assert "stay)" in cont and "stay)" not in lines[first]  # long enough to wrap at 80
        assert cont[:column].strip() == "" and cont[column] != " ", (lines[first], cont)
        # no description line starts left of the description column
        for ln in lines:
            if ln.startswith("  ") and ln[2] != " ":
                continue  # a key's first line
            assert not ln or not ln.startswith(" ") or ln[:column].strip() == "", ln


def test_help_starts_with_the_keys_of_the_screen_it_was_opened_from():
    from tui.app import help_sections
    from tui.screens.history import HistoryScreen
    from tui.screens.start import StartScreen

    default = [title for title, _ in help_sections()]
    assert default[0] == "Main screen (a run)"
    for screen, title in ((StartScreen, "Start screen"), (HistoryScreen, "History")):
        titles = [t for t, _ in help_sections(screen)]
        assert titles[0] == title and sorted(titles) == sorted(default)
        assert [t for t in titles if t != title] == [t for t in default if t != title]


async def test_message_dialog_hint_is_whole_at_80x24():
    from tui.screens.modals import MessageModal
    from tui.screens.review import FOLLOW_UP_HINT, MESSAGE_HINT

    for hint in (MESSAGE_HINT, FOLLOW_UP_HINT):
        app = _styled_app()
        async with app.run_test(size=(80, 24)) as pilot:
            app.push_screen(MessageModal("Message to the agent", hint))
            await pilot.pause()
            label = app.screen.query_one(".dialog-hint")
            dialog = app.screen.query_one(".dialog")
            assert label.region.right <= dialog.content_region.right
            shown = " ".join(" ".join(_lines(label)).split())
            assert shown == hint, shown
            assert shown.startswith("ctrl+s ")
