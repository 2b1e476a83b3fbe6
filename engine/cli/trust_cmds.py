"""``trust`` verb: show what a repository's project files set, then trust them.

    llmflows-tui trust            show .llmflows/config.toml + flows, ask, record trust
    llmflows-tui trust --yes      record without asking (after reading the listing)
    llmflows-tui trust --show     only show the listing and the trust state

Trust is recorded in the user's config dir, keyed by the repository path and a
hash of the files (see engine/trust.py); headless runs refuse untrusted
project files with exit 2 (``--trust`` accepts them for one invocation, for CI).
"""

from __future__ import annotations

import argparse
import sys

from engine.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "trust",
        help="review and trust this repository's .llmflows/ config and flows",
        description="Show what .llmflows/config.toml and .llmflows/flows/ set, then record "
        "that you trust them (in your user config dir, keyed by path and content hash).",
    )
    p.add_argument("--yes", action="store_true", help="trust without asking")
    p.add_argument("--show", action="store_true", help="only show; record nothing")
    p.set_defaults(func=cmd_trust)


def cmd_trust(args: argparse.Namespace) -> int:
    from engine.git.repo import find_repo_root
    from engine.trust import TrustState, check_trust, describe, record_trust

    root = find_repo_root(getattr(args, "cwd", ".") or ".")
    check = check_trust(root)
    if check.state == TrustState.NOTHING:
        print(f"{check.repo}: no .llmflows/config.toml or .llmflows/flows/: nothing to trust")
        return 0
    print(f"{check.repo}: project files {check.state.value}")
    for line in describe(root):
        print(f"  {line}")
    if args.show or check.state == TrustState.TRUSTED:
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("not a terminal: read the listing above, then run `trust --yes`")
        answer = input("Trust these files for this repository? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("not trusted; runs in this repository refuse until you trust them")
            return 1
    record_trust(root)
    print("trusted (asks again if these files change)")
    return 0
