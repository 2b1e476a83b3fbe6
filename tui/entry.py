"""Console entry point: no verb opens the TUI; verbs go to the headless CLI.

``llmflows-tui [-C DIR] [--model M] [--autonomy L] [--flow F]`` and
``llmflows-tui demo [--dir D]`` open the app; ``demo --headless`` and every
other verb (run, resume, runs, show, checkpoint, ...) run headless.
"""

from __future__ import annotations

import sys

# Options of the app/global parsers that take a value (so the value is not a verb).
_VALUE_OPTIONS = {
    "-C",
    "--model",
    "--autonomy",
    "--flow",
    "--dir",
    "--output-format",
    "--color",
    "--approval",
    "--goal-file",
}


def find_verb(argv: list[str]) -> str | None:
    """The first positional argument, skipping option values."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in _VALUE_OPTIONS:
            skip = True
            continue
        if arg.startswith("-"):
            continue
        return arg
    return None


def wants_tui(argv: list[str]) -> bool:
    if any(a in ("-h", "--help", "--version") for a in argv):
        return False
    verb = find_verb(argv)
    return verb is None or (verb == "demo" and "--headless" not in argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if wants_tui(argv):
        from tui.launch import launch  # textual is imported only on this path

        return launch(argv)
    from engine.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
