"""Headless command line: ``llmflows-tui VERB ...``.

Each verb group lives in its own module exposing ``register(subparsers)``;
handlers take the parsed args and return an exit code. Exit codes:
0 completed/ok, 1 failed, 2 usage or configuration error, 3 paused at a gate,
4 stopped by a budget or limit, 5 a person was needed under ``--approval never``.

Global options (``-C``, ``--model``, ``--json``, ``--output-format``, ``--color``)
are accepted before or after the verb, like ``git -C`` and ``codex -m``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import signal
import sqlite3
import sys

from engine.errors import EngineError, GitCommandError
from engine.notify import NOTIFY_CHOICES
from engine.run.result import OutputFormat

# Modules that contribute verbs; each has register(subparsers).
VERB_MODULES = [
    "engine.cli.checkpoint_cmds",
    "engine.cli.flow_cmds",
    "engine.cli.run_cmds",
    "engine.cli.demo_cmds",
    "engine.cli.git_cmds",
    "engine.cli.rule_cmds",
    "engine.cli.trust_cmds",
]


def package_version() -> str:
    """The installed distribution's version (the source tree's when run uninstalled)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llmflows-tui")
    except PackageNotFoundError:
        return "0+unknown"


class _VersionAction(argparse.Action):
    """``--version``: reads the installed metadata only when asked (importlib.metadata
    costs more than the rest of ``--help``)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS):
        super().__init__(
            option_strings, dest, nargs=0, default=default, help="show the version and exit"
        )

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"llmflows-tui {package_version()}")  # stdout, like git / codex / claude
        parser.exit()


def _add_global_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every verb takes. Below the verb they default to SUPPRESS, so a
    value given before the verb is not overwritten by the verb parser's default."""
    existing = p._option_string_actions  # a verb may define its own, with its own help

    def add(*flags: str, default, **kw) -> None:
        own = existing.get(flags[0])
        if own is not None:
            own.default = argparse.SUPPRESS
            return
        p.add_argument(*flags, default=default if top else argparse.SUPPRESS, **kw)

    add("-C", dest="cwd", default=".", metavar="DIR", help="run as if started in DIR")
    add("--model", default=None, help="litellm model string, or scripted:PATH")
    add("--json", default=False, action="store_true", help="print events as JSON lines")
    add(
        "--output-format",
        default="text",
        choices=[f.value for f in OutputFormat],
        help="text (default); json: one final result object; stream-json: JSON lines "
        "(same as --json)",
    )
    add(
        "--notify",
        default=None,
        choices=NOTIFY_CHOICES,
        help="when a gate opens or a run ends: terminal bell, OSC 9 desktop notification, "
        "both, or off (default: LLMFLOWS_NOTIFY, [notify] mode in the user config, bell)",
    )
    add(
        "--color",
        default="auto",
        choices=["auto", "always", "never"],
        help="colour output (auto: only on a terminal and when NO_COLOR is unset)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmflows-tui",
        description="Supervised autonomy for AI coding agents. "
        "Run with no arguments inside a git repository to open the TUI.",
    )
    parser.add_argument("--version", action=_VersionAction)
    _add_global_options(parser, top=True)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        importlib.import_module(name).register(sub)
    _add_below(sub)
    return parser


def _add_below(sub: argparse._SubParsersAction) -> None:
    """Global options on every verb parser, nested verbs (``flows check``) included."""
    for verb_parser in {id(p): p for p in sub.choices.values()}.values():
        _add_global_options(verb_parser, top=False)
        for action in verb_parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_below(action)


def main(argv: list[str] | None = None) -> int:
    from engine.cli.common import apply_color

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.json and args.output_format == "text":
        args.output_format = "stream-json"
    args.json = args.output_format != "text"  # list/show verbs: one JSON document
    apply_color(args.color)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return _reader_went_away()
    except EngineError as e:
        message = environment_failure(e) if isinstance(e, GitCommandError) else None
        print(f"llmflows-tui: error: {message or e}", file=sys.stderr)
        return e.exit_code
    except (OSError, sqlite3.Error) as e:
        print(f"llmflows-tui: error: {environment_failure(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("llmflows-tui: interrupted", file=sys.stderr)
        return 130


def _reader_went_away() -> int:
    """``llmflows-tui show X | head``: the reader closed the pipe. Not an error to
    report; stdout goes to /dev/null so the interpreter's final flush stays quiet."""
    # stdout may not be a real file (tests): then there is nothing to quiet
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


_OS_HINTS = {
    errno.EROFS: "the file system is read-only; llmflows-tui needs to write .llmflows/ and git objects",
    errno.ENOSPC: "the disk is full; free some space and run the command again",
    errno.EDQUOT: "the disk quota is used up; free some space and run the command again",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
# SQLite reports the same conditions in its own words.
_SQLITE_HINTS = (
    ("readonly", errno.EROFS),
    ("disk is full", errno.ENOSPC),
    ("disk i/o error", errno.ENOSPC),  # what a full tmpfs gives mid-write
)


def environment_failure(e: OSError | sqlite3.Error | GitCommandError) -> str | None:
    """One line for a failure of the machine, not of llmflows-tui: read-only mount, full disk.

    Whatever was written before the failure stays consistent (SQLite
    transactions, git objects before refs, atomic file writes), so the line
    says what to fix, not that something was lost. For a git error that is not
    one of those, None (its own message stands).
    """
    if isinstance(e, GitCommandError):
        for text, code in (("No space left", errno.ENOSPC), ("Read-only file system", errno.EROFS)):
            if text in e.stderr:
                return f"{_OS_HINTS[code]} ({' '.join(e.command[:2])} failed)"
        return None
    if isinstance(e, OSError):
        hint = _OS_HINTS.get(e.errno or 0, e.strerror or str(e))
        where = f" ({e.filename})" if e.filename else ""
        return f"{hint}{where}"
    text = str(e)
    for needle, code in _SQLITE_HINTS:
        if needle in text.lower():
            return f"{_OS_HINTS[code]} (the run store .llmflows/history.db: {text})"
    if "unable to open database" in text:
        return (
            "cannot open the run store .llmflows/history.db "
            "(is the file system read-only, or the directory not writable?)"
        )
    return f"the run store .llmflows/history.db failed: {text}"
