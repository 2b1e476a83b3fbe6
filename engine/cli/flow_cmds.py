"""``flows`` verbs: list flows, validate a flow file, show a flow's nodes.

    llmflows-tui flows [--json]               built-in + project flows
    llmflows-tui flows check FILE [--json]    exit 0 "ok", or exit 2 with FILE:LINE:COL: lines
    llmflows-tui flows show NAME [--json]     nodes and edges of one flow

None of these need a git repository: outside one only built-ins are listed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import FlowValidationError, NotAGitRepoError

if TYPE_CHECKING:  # the flow engine (jinja2, yaml) loads only for the verbs that use it
    from engine.flow.spec import FlowSpec


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "flows",
        help="list flows (built-in and .llmflows/flows/); `flows check FILE` validates one",
        description="List the available flows. Project flows in .llmflows/flows/*.yaml "
        "override built-ins with the same name.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_flows)
    sub = p.add_subparsers(dest="flows_cmd", metavar="{check,show}")
    c = sub.add_parser("check", help="validate a flow file (exit 2 with FILE:LINE:COL errors)")
    c.add_argument("file", help="path to a flow .yaml (or the name of a known flow)")
    c.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    c.set_defaults(func=cmd_check)
    s = sub.add_parser("show", help="show a flow's nodes and edges")
    s.add_argument("name", help="flow name or path to a .yaml")
    s.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    s.set_defaults(func=cmd_show)


def _repo_root(args: argparse.Namespace) -> Path | None:
    """The git work tree containing -C (None outside a repo: built-ins only)."""
    from engine.git.repo import find_repo_root

    try:
        return find_repo_root(getattr(args, "cwd", ".") or ".")
    except NotAGitRepoError:
        return None


def cmd_flows(args: argparse.Namespace) -> int:
    from engine.flow.listing import find_flows

    infos = find_flows(_repo_root(args))
    if args.json:
        print(json.dumps([vars(i) for i in infos], indent=2))
        return 0
    if not infos:
        print("no flows found")
        return 0
    width = max(len(i.name) for i in infos)
    source_width = max(len(i.label) for i in infos)
    for i in infos:
        print(f"{i.name:<{width}}  {i.label:<{source_width}}  {i.description}")
    return 0


def _resolve_file(args: argparse.Namespace, text: str) -> tuple[Path | None, str]:
    p = Path(text).expanduser()
    if not p.is_absolute() and not p.exists():
        alt = Path(getattr(args, "cwd", ".") or ".") / p
        if alt.exists():
            p = alt
    if p.exists():
        return p, str(p)
    return None, text


def cmd_check(args: argparse.Namespace) -> int:
    from engine.flow.spec import get_flow, load_flow

    as_json = getattr(args, "json", False)
    path, shown = _resolve_file(args, args.file)
    try:
        if path is not None:
            spec = load_flow(path, "file")
        elif not args.file.endswith((".yaml", ".yml")) and "/" not in args.file:
            spec = get_flow(args.file, _repo_root(args))  # a flow name works too
        else:
            spec = load_flow(args.file, "file")  # reports "cannot read flow file"
    except FlowValidationError as e:
        if as_json:
            issues = [_issue(i) for i in e.issues]
            print(json.dumps({"ok": False, "file": shown, "issues": issues}, indent=2))
        for issue in e.issues:  # exactly one FILE:LINE:COL: line per problem
            print(str(issue), file=sys.stderr)
        return 2
    if as_json:
        print(
            json.dumps({"ok": True, "file": spec.path, "flow": spec.name, "nodes": len(spec.nodes)})
        )
    else:
        print(f"ok: {spec.path} (flow {spec.name!r}, {len(spec.nodes)} nodes)")
    return 0


def _issue(i: object) -> dict:
    return {k: getattr(i, k) for k in ("file", "line", "col", "message")}


def _describe(spec: FlowSpec) -> list[dict]:
    out = []
    for node in spec.nodes.values():
        out.append(
            {
                "id": node.id,
                "kind": node.kind,
                "description": node.description,
                "next": [{"to": e.to, "when": e.when} for e in node.next],
                "on_error": node.on_error,
                "on_reject": node.on_reject,
                "foreach": node.foreach,
                "max_iterations": node.max_iterations,
            }
        )
    return out


def cmd_show(args: argparse.Namespace) -> int:
    from engine.flow.spec import find_flows, get_flow

    root = _repo_root(args)
    spec = get_flow(args.name, root)
    source = spec.source
    if source == "project":
        found = next((i for i in find_flows(root) if i.name == spec.name), None)
        source = found.label if found is not None else source
    if getattr(args, "json", False):
        info = {
            "name": spec.name,
            "description": spec.description,
            "source": spec.source,
            "path": spec.path,
            "start": spec.start,
            "settings": spec.settings,
            "nodes": _describe(spec),
        }
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{spec.name} ({source}: {spec.path})")
    print(f"  {spec.description}")
    for node in spec.nodes.values():
        extra = []
        if node.foreach:
            extra.append(f"foreach {node.foreach}")
        if node.max_iterations:
            extra.append(f"max {node.max_iterations}x")
        tail = f"  [{', '.join(extra)}]" if extra else ""
        mark = "*" if node.id == spec.start else " "
        print(f" {mark}{node.id:<12} {node.kind:<6} {node.description}{tail}")
        for e in node.next:
            cond = f"when {e.when}" if e.when else "otherwise" if len(node.next) > 1 else ""
            print(f"      -> {e.to} {cond}".rstrip())
        if node.on_error:
            print(f"      -> {node.on_error} on error")
        if node.on_reject:
            print(f"      -> {node.on_reject} on reject")
    return 0
