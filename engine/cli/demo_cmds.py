"""`llmflows-tui demo --headless`: the offline demo without the TUI.

(Without --headless the entry point opens the TUI on the same demo.)
"""

from __future__ import annotations

from engine.records import AUTONOMY_CHOICES


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the offline demo (bugfix flow, scripted model)")
    p.add_argument("--dir", help="directory for the demo project (new or empty; default: temp)")
    p.add_argument("--headless", action="store_true", help="run without the TUI")
    p.add_argument("--autonomy", choices=AUTONOMY_CHOICES, default="review")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from engine.cli.output import EventPrinter
    from engine.cli.run_cmds import _execute
    from engine.demo import prepare_demo
    from engine.run.operations import create_run
    from engine.run.session import Session

    demo = prepare_demo(args.dir)
    printer = EventPrinter(args.output_format)
    if not args.json:
        print(f"demo project: {demo.repo}", flush=True)
        print(f"flow: {demo.flow}   model: scripted replay (offline)   autonomy: {args.autonomy}")
    with Session.open(demo.repo) as session:
        with printer.opening(session.bus):
            run_id = create_run(
                session,
                demo.flow,
                demo.goal,
                model=demo.model,
                autonomy=args.autonomy,
                settings=demo.settings,
            )
        code = _execute(session, run_id, printer, args=args)
    if not args.json:
        print(f"\nThe demo project is in {demo.repo}; inspect it with:", flush=True)
        print(f"  llmflows-tui -C {demo.repo} show {run_id}", flush=True)
    return code
