"""Headless command line: ``llmflows-tui VERB ...``.

Each verb group lives in its own module exposing ``register(subparsers)``;
handlers take the parsed args and return an exit code. Exit codes:
0 completed/ok, 1 failed, 2 usage or configuration error, 3 paused at a gate,
4 stopped by a budget or limit.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from engine.errors import EngineError

# Modules that contribute verbs; each has register(subparsers).
VERB_MODULES = [
    "engine.cli.checkpoint_cmds",
    "engine.cli.flow_cmds",
    "engine.cli.run_cmds",
    "engine.cli.demo_cmds",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmflows-tui",
        description="Supervised autonomy for AI coding agents. "
        "Run with no arguments inside a git repository to open the TUI.",
    )
    parser.add_argument("-C", dest="cwd", default=".", help="run as if started in this directory")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # verb group not built yet
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EngineError as e:
        print(f"llmflows-tui: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("llmflows-tui: interrupted", file=sys.stderr)
        return 130
