"""Console entry point: no verb opens the TUI; verbs go to the headless CLI."""

from __future__ import annotations

import sys

# Verbs that need the full-screen app rather than the headless CLI.
_TUI_FLAGS = {"--headless"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbs = [a for a in argv if not a.startswith("-")]
    if not verbs or (verbs[0] == "demo" and not _TUI_FLAGS.intersection(argv)):
        from .launch import launch  # textual is imported only on this path

        return launch(argv)
    from engine.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
