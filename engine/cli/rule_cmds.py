"""`llmflows-tui rules`: the remembered "always allow" command prefixes (project / user)."""

from __future__ import annotations

import json

from engine.cli.common import repo_root_from_args


def register(sub) -> None:
    p = sub.add_parser(
        "rules",
        help="list, add or remove 'always allow' command prefixes",
        description="Commands starting with a remembered prefix run without asking: "
        "here (this repository and its worktrees) or, with --user, everywhere. "
        "Stored in approvals.toml beside the user config, never in the repository.",
    )
    p.set_defaults(func=cmd_rules, rules_cmd=None)
    sub2 = p.add_subparsers(dest="rules_cmd", metavar="{add,remove}")
    for name, text in (("add", "remember a prefix"), ("remove", "forget a prefix")):
        a = sub2.add_parser(name, help=text)
        a.add_argument("prefix", help="command prefix, e.g. 'npm run lint'")
        a.add_argument("--user", action="store_true", help="for me, in every repository")
        a.set_defaults(func=cmd_rules)


def cmd_rules(args) -> int:
    from engine.tools import approval_rules as ar

    root = repo_root_from_args(args)
    scope = ar.RuleScope.USER if getattr(args, "user", False) else ar.RuleScope.PROJECT
    if args.rules_cmd == "add":
        rule = ar.add_rule(args.prefix, scope, root)
        print(f"always allowed ({rule.scope}): {rule.prefix}")
        return 0
    if args.rules_cmd == "remove":
        if not ar.remove_rule(args.prefix, scope, root):
            print(f"no {scope} rule {args.prefix!r} (see `llmflows-tui rules`)")
            return 1
        print(f"removed ({scope}): {args.prefix}")
        return 0
    rules = ar.list_rules(root)
    if args.json:
        print(json.dumps([{"prefix": r.prefix, "scope": r.scope} for r in rules]))
        return 0
    print(format_rules(rules) or "no approval rules (add one at a command gate or `rules add`)")
    print(f"(stored in {ar.rules_path()})")
    return 0


def format_rules(rules) -> str:
    return "\n".join(f"  {r.scope:<8} {r.prefix}" for r in rules)
