"""Snapshot tests (pytest-textual-snapshot) of the start, main-at-gate, history and help screens.

Deterministic content: fresh temp repos (same checkpoint ids), the scripted model
(same tokens and cost), a frozen clock (elapsed 00:00), no cursor blink.
Update with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import sys

import pytest

from tests.support.tui import clear_notifications
from tests.test_tui_app import CHANGED, _edit_entries, at_gate, make_repo, wait_for
from tui.app import LlmflowsApp

SIZE = (120, 36)


def _no_blink(app) -> None:
    from textual.widgets import Input

    for w in app.screen.query(Input):
        w.cursor_blink = False


def _settled(app) -> bool:
    """The store is open and the start screen's loading after it has finished."""
    groups = ("open", "start-load")
    return app.repo_root is not None and all(
        w.is_finished for w in app.workers if w.group in groups
    )


def test_start_screen(snap_compare, tmp_path):
    repo, _ = make_repo(tmp_path, [])
    app = LlmflowsApp(str(repo), model="scripted:/tmp/demo-script.yaml", clock=lambda: 1000.0)

    async def before(pilot):
        from tui.screens.start import StartScreen

        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, StartScreen)
                and app.screen.query_one("#model").value == "scripted:/tmp/demo-script.yaml"
                and _settled(app)
            ),
        )
        _no_blink(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def _gate_app(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    return LlmflowsApp(
        str(repo),
        model=model,
        autostart={"flow": "tiny", "goal": "change data.txt"},
        clock=lambda: 1000.0,
    )


def test_main_screen_at_gate(snap_compare, tmp_path):
    app = _gate_app(tmp_path)

    async def before(pilot):
        await wait_for(pilot, lambda: at_gate(app))
        await pilot.press("j", "space")  # one hunk rejected: shows the review state
        await clear_notifications(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_history_screen(snap_compare, tmp_path):
    app = _gate_app(tmp_path)

    async def before(pilot):
        from tui.screens.history import HistoryScreen

        await wait_for(pilot, lambda: at_gate(app))
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.rows)
        await clear_notifications(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_help_screen(snap_compare, tmp_path):
    repo, _ = make_repo(tmp_path, [])
    app = LlmflowsApp(str(repo), model="scripted:/tmp/demo-script.yaml", clock=lambda: 1000.0)

    async def before(pilot):
        from tui.screens.modals import HelpScreen
        from tui.screens.start import StartScreen

        # Open help only once the start screen has loaded, or its arrival replaces the help.
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, StartScreen)
                and app.screen.query_one("#model").value == "scripted:/tmp/demo-script.yaml"
                and _settled(app)
            ),
        )
        app.action_help()
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def _demo_fix_gate_app(tmp_path):
    from engine.demo import prepare_demo
    from tui.app import demo_autostart

    demo = prepare_demo(tmp_path / "demo")
    autostart = demo_autostart(demo)
    # The test command is in the prompts, so its length sets the token count and the
    # cost on screen: run this interpreter through a wrapper at a path of fixed length
    # (relative to the repo, where commands run; inside .git, so the diff never shows it).
    wrapper = demo.repo / ".git" / "snap" / "python"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    autostart["settings"] = {"test_command": ".git/snap/python -m pytest -q -p no:cacheprovider"}
    app = LlmflowsApp(str(demo.repo), model=demo.model, autostart=autostart, clock=lambda: 1000.0)
    return app


async def _to_fix_gate(pilot, app) -> None:
    """Approve the demo's gates until the review of its fix (the `subtotal` line)."""
    from tests.test_tui_app import main_screen

    def diff_text() -> str:
        diff = main_screen(app).diff_view.diff
        return "\n".join(ln.text for f in diff.files for h in f.hunks for ln in h.lines)

    for _ in range(8):
        await wait_for(pilot, lambda: at_gate(app))
        if main_screen(app).gate.kind == "review" and "subtotal = sum(" in diff_text():
            break
        gate_id = main_screen(app).gate.id
        await pilot.press("a")
        await wait_for(
            pilot,
            lambda g=gate_id: main_screen(app).gate is None or main_screen(app).gate.id != g,
        )
    await clear_notifications(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (200, 50)])
def test_demo_fix_gate(snap_compare, tmp_path, size):
    """The review of the demo's fix: the diff has the screen at every size."""
    app = _demo_fix_gate_app(tmp_path)

    async def before(pilot):
        await _to_fix_gate(pilot, app)

    assert snap_compare(app, terminal_size=size, run_before=before)
