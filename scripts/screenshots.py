"""Generate SVG screenshots of the real app at key states into ``screenshots/``.

Usage (from the repository root)::

    .venv/bin/python scripts/screenshots.py [--out screenshots]

It prepares the offline demo (sample project + scripted model) in a temporary
folder, drives the app with ``App.run_test`` + Pilot, and saves with
``app.save_screenshot``:

* ``start.svg``       the start screen (flow, goal, model, autonomy, budget)
* ``review-gate.svg`` the main screen at the first review gate: the diff has the screen
* ``review-gate-panes.svg`` the same with every pane shown (``z``)
* ``history.svg``     the history of runs
* ``help.svg``        the help screen (every key)

The clock is frozen so the elapsed time does not vary between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZE = (130, 38)


async def _until(pilot, cond, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        await pilot.pause(0.05)
        try:
            if cond():
                return
        except Exception:
            pass
    raise RuntimeError("state not reached")


async def shoot(out: Path) -> list[Path]:
    from textual.widgets import Input

    from engine.demo import prepare_demo
    from tui.app import LlmflowsApp, demo_autostart
    from tui.screens.history import HistoryScreen
    from tui.screens.main import MainScreen
    from tui.screens.modals import HelpScreen
    from tui.screens.start import StartScreen

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tmp = Path(tempfile.mkdtemp(prefix="llmflows-shots-"))
    demo = prepare_demo(tmp / "invoice-demo")

    def save(app, name: str) -> None:
        app.clear_notifications()
        app.save_screenshot(name, path=str(out))
        written.append(out / name)

    # Start screen (no autostart), goal typed in.
    app = LlmflowsApp(str(demo.repo), model=demo.model, clock=lambda: 1000.0)
    async with app.run_test(size=SIZE) as pilot:
        await _until(
            pilot,
            lambda: isinstance(app.screen, StartScreen) and app.screen.query_one("#model").value,
        )
        app.screen.query_one("#goal", Input).value = demo.goal[:90]
        app.screen.query_one("#flow").value = demo.flow
        for w in app.screen.query(Input):
            w.cursor_blink = False
        await pilot.pause(0.3)
        save(app, "start.svg")

    # The demo run: first review gate, then history and help.
    app = LlmflowsApp(
        str(demo.repo), model=demo.model, autostart=demo_autostart(demo), clock=lambda: 1000.0
    )
    async with app.run_test(size=SIZE) as pilot:

        def at_gate() -> bool:
            s = app.screen
            return isinstance(s, MainScreen) and s.gate is not None and s.gate_ready

        await _until(pilot, at_gate)
        await pilot.pause(0.5)
        save(app, "review-gate.svg")
        await pilot.press("z")  # every pane: plan, diff, tests, cost, model transcript
        await pilot.pause(0.5)
        save(app, "review-gate-panes.svg")
        await pilot.press("h")
        await _until(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.rows)
        await pilot.pause(0.3)
        save(app, "history.svg")
        await pilot.press("escape")
        app.action_help()
        await _until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.3)
        save(app, "help.svg")
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "screenshots"), help="output folder")
    args = p.parse_args(argv)
    for path in asyncio.run(shoot(Path(args.out))):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
