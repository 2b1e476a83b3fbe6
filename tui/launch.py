"""Start the full-screen app: ``llmflows-tui [-C DIR] [--model M] [--autonomy L] [--flow F]``
or ``llmflows-tui demo [--dir PATH] [--autonomy L]``.

``demo`` copies the sample project (a failing test) to ``--dir`` (default: a new
temporary folder), and runs the bugfix flow on it with the scripted (offline)
model, so the whole app can be tried without an API key.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import os
import sys

from engine.records import AUTONOMY_CHOICES

#: How long the start waits for the repository read before showing the screen anyway.
_READ_WAIT_S = 1.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmflows-tui", description="supervised coding-agent runs")
    p.add_argument("verb", nargs="?", choices=["demo"], help="demo: offline demo run")
    p.add_argument("-C", dest="cwd", default=".", help="repository folder (default: .)")
    p.add_argument("--dir", help="demo: where to put the sample project")
    p.add_argument("--model", help="litellm model string, or scripted:PATH")
    p.add_argument("--autonomy", choices=AUTONOMY_CHOICES, default="review")
    p.add_argument("--flow", help="flow preselected on the start screen")
    p.add_argument(
        "--notify", choices=["off", "bell", "osc9", "both"], help="when a gate opens or a run ends"
    )
    p.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    return p


def launch(argv: list[str]) -> int:
    """Parse ``argv``, build :class:`tui.app.LlmflowsApp`, run it; return the exit code."""
    # Start-up (imports, styles, the first screen) allocates objects that all stay alive:
    # collecting meanwhile is wasted work (~10% of the time to the first frame). The app
    # turns the collector back on after its first frame (tui.app.resume_gc).
    gc.disable()
    try:
        return _launch(argv)
    finally:
        if not gc.isenabled():  # the app never painted (bad arguments, a demo that failed)
            gc.enable()


def _launch(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    # Textual reads both from the environment; the flags are the per-launch form.
    if args.color == "never":
        os.environ["NO_COLOR"] = "1"
    if args.notify:
        os.environ["LLMFLOWS_NOTIFY"] = args.notify
    engine = None
    from tui.app import LlmflowsApp, demo_autostart

    if args.verb != "demo":
        from engine.api import EngineAPI

        engine = EngineAPI(os.path.abspath(args.cwd))
        # Read the repository (flows, model, tests) now, so the first frame shows the
        # form filled. Not while Textual loads: both are Python work, and two threads
        # taking turns on the GIL finish later than one after the other. A slow read
        # (a huge or remote folder) is left to finish behind the screen.
        concurrent.futures.wait([engine.prefetch_start_info(args.model)], timeout=_READ_WAIT_S)

    if args.verb == "demo":
        from engine.api import prepare_demo

        try:
            demo = prepare_demo(args.dir)
        except Exception as e:
            print(f"llmflows-tui demo: {e}", file=sys.stderr)
            return 2
        app = LlmflowsApp(
            str(demo.repo),
            model=args.model or demo.model,
            autonomy=args.autonomy,
            autostart=demo_autostart(demo),
        )
    else:
        app = LlmflowsApp(
            os.path.abspath(args.cwd),
            model=args.model,
            autonomy=args.autonomy,
            flow=args.flow,
            engine=engine,
        )
    app.run()
    if args.verb == "demo":  # the demo's project is in a temp folder: say where
        print(f"The demo project is in {demo.repo}; look at its run with:")
        print(f"  llmflows-tui -C {demo.repo} runs")
    return int(app.return_code or 0)
