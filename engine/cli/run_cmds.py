"""Headless run verbs: run, resume, runs, show, retry, export-script.

Exit codes: 0 completed, 1 failed, 2 usage/configuration error, 3 paused at a
gate, 4 stopped by a budget or limit (or by the user).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from engine.errors import UsageError
from engine.git.diffmodel import HunkRef
from engine.records import AUTONOMY_CHOICES, RunStatus, gate_label
from engine.run.result import EXIT_FOR_STATUS, ApprovalMode
from engine.run.review_notes import LineComment

if TYPE_CHECKING:  # events and run results load only for the verbs that print them
    from engine.cli.output import EventPrinter


def register(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a flow headless",
        description="Run FLOW on GOAL. The goal is an argument, '-' (read stdin) or "
        "--goal-file. With --continue, a follow-up to the last run: a new linked run "
        "starting from that run's final tree (FLOW may then be left out).",
    )
    p.add_argument("flow", nargs="?", help="flow name (see `llmflows-tui flows`) or a flow file")
    p.add_argument("goal", nargs="?", help="what the agent should do; '-' reads it from stdin")
    p.add_argument("--goal-file", metavar="PATH", help="read the goal from a file ('-': stdin)")
    p.add_argument(
        "--continue",
        dest="follow_up",
        action="store_true",
        help="follow up the last run: new run from its final tree, linked to it",
    )
    _model_args(p)
    p.add_argument("--autonomy", choices=AUTONOMY_CHOICES, default=None)
    _limit_args(p)
    p.add_argument(
        "--breakpoint",
        action="append",
        default=[],
        metavar="NODE",
        help="pause before this node (repeatable)",
    )
    p.add_argument("--step", action="store_true", help="single-step: pause before every node")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a flow setting, e.g. --set test_command='make test'",
    )
    _approval_args(p)
    p.add_argument(
        "--worktree",
        nargs="?",
        const="",
        metavar="NAME",
        help="run in a new git worktree (.llmflows/worktrees/NAME, detached at HEAD) with its "
        "own store, so runs go in parallel; uncommitted work is not copied",
    )
    _git_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="continue a paused, stopped or crashed run")
    p.add_argument("run_id", metavar="RUN", nargs="?", help="run id (or --last)")
    p.add_argument("--last", action="store_true", help="the most recent run")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--approve", action="store_true", help="approve the open gate")
    g.add_argument("--reject", metavar="REASON", help="reject the open gate with a reason")
    p.add_argument(
        "--hunks",
        metavar="FILE:N,...",
        help="with --approve at a review gate: keep only these hunks (N counts a file's @@ "
        "hunks from 0 in `llmflows-tui diff BASE`); the other text hunks are dropped",
    )
    p.add_argument(
        "--tasks-file",
        metavar="PATH",
        help="with --approve at a plan gate: run this task list instead (one task per line, "
        "indented lines describe it; or a YAML list; '-': stdin). Add, remove, reword or "
        "reorder tasks",
    )
    p.add_argument(
        "--comment",
        action="append",
        default=[],
        metavar="FILE:LINE:TEXT",
        help="a comment on a line, for the model (repeatable; at a review gate). Without "
        "--approve it asks for changes",
    )
    p.add_argument(
        "--always",
        choices=["project", "user"],
        help="with --approve at a command gate: always allow this command's prefix here "
        "(project) or everywhere (user)",
    )
    p.add_argument("--prefix", default="", help="the prefix for --always (default: suggested)")
    p.add_argument("--model", help="continue with another model")
    _limit_args(p)
    _approval_args(p)
    _git_args(p)
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("runs", help="list runs in this repository")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("show", help="show a run: attempts, checkpoints, tests, cost")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument(
        "--prompts",
        action="store_true",
        help="print what the model was sent and answered, step by step (secrets scrubbed)",
    )
    p.add_argument("--step", type=int, metavar="STEP", help="with --prompts: only this step")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("retry", help="retry from a checkpoint as a sibling attempt")
    p.add_argument("checkpoint", type=int, metavar="CHECKPOINT")
    p.add_argument("--instruction", default="", help="extra instruction for the model")
    p.add_argument("--model", help="retry with another model")
    _approval_args(p)
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("export-script", help="write a run's model answers as a replay script")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_export_script)


def _model_args(p) -> None:
    p.add_argument("--model", help="litellm model string, or scripted:PATH (offline replay)")


def _approval_args(p) -> None:
    p.add_argument(
        "--trust",
        action="store_true",
        help="accept this repository's .llmflows/ config and flows for this run without "
        "recording trust (CI; see `llmflows-tui trust`)",
    )
    p.add_argument(
        "--approval",
        choices=[m.value for m in ApprovalMode],
        default=ApprovalMode.ASK.value,
        help="never: for CI — anything that needs a person stops the run with exit code 5 "
        "and says what it was (the run stays paused and resumable)",
    )


def _git_args(p) -> None:
    p.add_argument(
        "--commit",
        action="store_true",
        help="when the run completes, commit its change (your identity; the run summary as "
        "message; Co-authored-by: the model)",
    )
    p.add_argument("--branch", metavar="NAME", help="like --commit, on a new branch NAME")


def _limit_args(p) -> None:
    p.add_argument("--max-cost", type=float, metavar="USD", help="stop before spending more")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N steps")
    p.add_argument("--max-tokens", type=int, metavar="N", help="stop after N tokens")


def _limits(args) -> dict[str, Any]:
    return {
        "max_cost_usd": args.max_cost,
        "max_steps": args.max_steps,
        "max_tokens": args.max_tokens,
    }


def _settings(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set needs KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


def _open(args, write: bool = True):
    from engine.git.repo import find_repo_root
    from engine.run.session import Session
    from engine.trust import require_trust

    if hasattr(args, "trust"):  # verbs that run a flow: project files must be trusted
        require_trust(find_repo_root(args.cwd), args.trust)
    return Session.open(args.cwd, write=write)


def read_goal(args) -> str:
    """The goal from argv, ``-`` (stdin) or ``--goal-file`` — exactly one of them."""
    from pathlib import Path

    if args.goal is not None and args.goal_file:
        raise UsageError("give the goal as an argument or with --goal-file, not both")
    source = args.goal_file if args.goal_file else args.goal
    if source is None:
        raise UsageError('no goal: llmflows-tui run FLOW "GOAL" (or -, or --goal-file PATH)')
    if source == "-":
        text = sys.stdin.read()
    elif args.goal_file:
        try:
            text = Path(args.goal_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"cannot read --goal-file {args.goal_file}: {e}") from None
    else:
        text = source
    if not text.strip():
        raise UsageError("the goal is empty: say what the agent should do")
    return text.strip()


def _execute(session, run_id: str, printer: EventPrinter, approval: str = "ask", args=None) -> int:
    """Run until the run ends or pauses; commit if asked; print the result; return the code."""
    from engine.notify import TerminalNotifier, notify_mode
    from engine.run.executor import Executor
    from engine.run.result import build_result

    printer.run_id = run_id
    unsubscribe = session.bus.subscribe(printer)
    unnotify = session.bus.subscribe(TerminalNotifier(notify_mode(getattr(args, "notify", None))))
    try:
        import asyncio

        from engine.run.script_decisions import answer_from_script

        outcome = asyncio.run(Executor(session, run_id).execute())
        # A script with `decisions:` answers the gates as the recorded person did.
        while outcome.status == RunStatus.PAUSED and (d := answer_from_script(session, run_id)):
            if printer.fmt == "text":
                print(f"answered from the script: {d.describe()}", flush=True)
            outcome = asyncio.run(Executor(session, run_id).execute())
    finally:
        unsubscribe()
        unnotify()
    needs = ""
    if outcome.status == RunStatus.PAUSED and approval == ApprovalMode.NEVER:
        gate = outcome.gate
        if gate is not None:
            needs = f"{gate_label(gate.kind)} #{gate.id}: {gate.prompt or ''}"
    branch = getattr(args, "branch", None)
    if outcome.status == "completed" and (getattr(args, "commit", False) or branch):
        from engine.git.commit import commit_run

        done = commit_run(session, run_id, branch=branch)
        if printer.fmt == "text":
            print(f"committed {done.sha[:12]} on {done.branch or 'detached HEAD'}", flush=True)
    res = build_result(
        session, run_id, status=outcome.status, reason=outcome.reason, needs_person=needs
    )
    printer.result(res)
    return res.exit_code


def cmd_run(args) -> int:
    from engine.models import check_model_usable, resolve_model_settings
    from engine.run.operations import create_run

    if args.follow_up and args.goal is None and not args.goal_file:
        args.flow, args.goal = None, args.flow  # `run --continue GOAL`: the flow is the last run's
    if args.follow_up and args.flow:
        raise UsageError("--continue keeps the last run's flow: give only the goal")
    goal = read_goal(args)
    from engine.cli.output import EventPrinter

    printer = EventPrinter(args.output_format)
    if args.worktree is not None:
        from engine.cli.common import repo_root_from_args
        from engine.git.worktree import create_worktree

        args.cwd = str(create_worktree(repo_root_from_args(args), args.worktree or None))
        if printer.fmt == "text":
            print(f"worktree: {args.cwd}", flush=True)
    with _open(args) as session:
        if args.follow_up:
            return _follow_up(session, args, goal, printer)
        if not args.flow:
            raise UsageError('no flow: llmflows-tui run FLOW "GOAL" (see `llmflows-tui flows`)')
        settings = resolve_model_settings(args.model, session.repo_root)
        check_model_usable(settings)
        # Subscribed before the run exists: the stream opens with run_started and checkpoint 0.
        with printer.opening(session.bus):
            run_id = create_run(
                session,
                args.flow,
                goal,
                model=settings.model,
                model_settings=asdict(settings),
                autonomy=args.autonomy or "review",
                limits=_limits(args),
                breakpoints=args.breakpoint,
                single_step=args.step,
                settings=_settings(args.set),
            )
        if printer.fmt == "text":
            print(f"run {run_id}: {args.flow} — {goal}", flush=True)
            _print_test_command(ops_run_config(session, run_id))
        return _execute(session, run_id, printer, args.approval, args)


def last_run_id(session) -> str:
    """The most recently created run (``resume --last``, ``run --continue``)."""
    runs = session.store.list_runs()
    if not runs:
        raise UsageError(
            'no runs yet in this repository: start one with llmflows-tui run FLOW "GOAL"'
        )
    return max(runs, key=lambda r: (r.get("created_at") or 0, r["id"]))["id"]


def _follow_up(session, args, goal: str, printer: EventPrinter) -> int:
    from engine.run import operations as ops

    previous = last_run_id(session)
    with printer.opening(session.bus):
        run_id = ops.follow_up(
            session,
            previous,
            goal,
            model=args.model,
            autonomy=args.autonomy,
            limits={k: v for k, v in _limits(args).items() if v is not None},
        )
    if printer.fmt == "text":
        print(f"run {run_id}: follow-up to {previous} — {goal}", flush=True)
    return _execute(session, run_id, printer, args.approval, args)


def ops_run_config(session, run_id: str) -> dict:
    """The stored config of a run (model, limits, test command, ...)."""
    return session.store.get_run(run_id).get("config") or {}


def _print_test_command(config: dict) -> None:
    found = config.get("test_command")
    if not found:
        return
    if found.get("source") == "config":
        print(f"test command: {found['command']} (from .llmflows/config.toml)", flush=True)
    else:
        print(
            f"test command: {found['command']} (detected: {found.get('reason')}; "
            "saved to .llmflows/config.toml [tests] — edit it there)",
            flush=True,
        )


def cmd_resume(args) -> int:
    from engine.run import operations as ops

    if bool(args.run_id) == bool(args.last):
        raise UsageError("resume needs a RUN id or --last (not both)")
    from engine.cli.output import EventPrinter

    printer = EventPrinter(args.output_format)
    with _open(args) as session:
        run = ops.get_run(session, args.run_id or last_run_id(session))
        if run["status"] in ("completed", "failed") and not (args.approve or args.reject):
            print(
                f"Run {run['id']} has {run['status']}: there is nothing to resume. "
                f"Start from one of its checkpoints with `llmflows-tui retry CHECKPOINT`, "
                f"or follow it up with `llmflows-tui run --continue GOAL`.",
                file=sys.stderr,
            )
            return EXIT_FOR_STATUS[run["status"]]
        printer.replay_start(session, run["id"])
        if any(v is not None for v in _limits(args).values()):
            ops.update_limits(session, run["id"], **_limits(args))
        if args.model:
            ops.set_model(session, run["id"], args.model)
        if args.hunks is not None and not args.approve:
            raise UsageError("--hunks goes with --approve")
        if args.tasks_file and not args.approve:
            raise UsageError("--tasks-file goes with --approve (at a plan gate)")
        tasks = _read_tasks(args.tasks_file) if args.tasks_file else None
        if args.always and not args.approve:
            raise UsageError("--always goes with --approve")
        if args.always:
            from engine.tools.approval_rules import remember_gate_command

            rule = remember_gate_command(session, run["id"], args.always, args.prefix)
            if printer.fmt == "text":
                print(f"always allowed ({rule.scope}): {rule.prefix}", flush=True)
        comments = [LineComment.parse(c) for c in args.comment]
        with printer.opening(session.bus):
            if args.approve:
                keep = _parse_hunks(args.hunks) if args.hunks is not None else None
                ops.answer_gate(
                    session, run["id"], "approve", hunks=keep, comments=comments, tasks=tasks
                )
            elif args.reject is not None or comments:
                reason = args.reject or "see the line comments"
                ops.answer_gate(session, run["id"], "reject", reason=reason, comments=comments)
            else:
                ops.reopen(session, run["id"])
        return _execute(session, run["id"], printer, args.approval, args)


def _read_tasks(path: str) -> list[dict[str, Any]]:
    """The task list of ``--tasks-file`` (see :mod:`engine.run.plan_edit`)."""
    from pathlib import Path

    from engine.run.plan_edit import parse_task_text

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read --tasks-file {path}: {e}") from None
    tasks = parse_task_text(text)
    if not tasks:
        raise UsageError(f"--tasks-file {path} lists no task (one task per line)")
    return tasks


def _parse_hunks(text: str) -> set[HunkRef]:
    """``a.py:0,b/c.py:2`` → hunk refs (by index in the review diff)."""
    refs = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        path, sep, n = part.rpartition(":")
        if not sep or not path or not n.isdigit():
            raise UsageError(f"--hunks: {part!r} is not FILE:N (e.g. src/app.py:0)")
        refs.add(HunkRef(path, int(n)))
    return refs


def clip(text: str, width: int) -> str:
    """One line of at most ``width`` characters, with an ellipsis when cut."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1].rstrip() + "…"


def checkpoint_holds(c: dict[str, Any]) -> str:
    """What a checkpoint holds, in words (``show``): a step's change, or the whole tree."""
    n = int(c.get("files_changed") or 0)
    if c.get("source") == "pre-restore":
        return f"your files just before that rewind; `rewind {c['id']}` undoes it"
    if c.get("source") == "start":
        return "your tree when the run began"
    return f"{n} file{'s' if n != 1 else ''} changed"


def cmd_runs(args) -> int:
    from engine.git.worktree import runs_in_all_worktrees

    with _open(args, write=False) as session:
        rows = [r.as_dict() for r in runs_in_all_worktrees(session)]
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    if not rows:
        print('no runs yet — start one with `llmflows-tui run FLOW "GOAL"` or `llmflows-tui`')
        return 0
    print(f"{'RUN':<12} {'STATUS':<10} {'FLOW':<10} {'STEPS':>5} {'COST':>9}  GOAL")
    for r in rows:
        where = f"  [worktree {r['worktree']}]" if r["worktree"] else ""
        print(
            f"{r['id']:<12} {r['status']:<10} {r['flow']:<10} {r['steps']:>5} "
            f"${r['cost_usd']:>8.4f}  {clip(r['goal'], 60)}{where}"
        )
    return 0


def run_details(session, run_id: str) -> dict[str, Any]:
    """Everything `show` prints: attempts, checkpoints, tests, cost, approvals."""
    from engine.readmodels import run_summary
    from engine.run.operations import get_run
    from engine.tools.approval_rules import list_rules

    run = get_run(session, run_id)
    steps = session.store.steps_for(run_id)
    tests = [e for e in session.store.events_for(run_id) if e["type"] == "test_result"]
    head = (
        session.store.get_checkpoint(run["head_checkpoint_id"])
        if run.get("head_checkpoint_id")
        else None
    )
    state = session.store.get_blob(head["state_hash"]) if head else {}
    return {
        "run": run_summary(session, run_id).as_dict(),
        "instructions": list((state or {}).get("instructions") or []),
        "test_command": (run.get("config") or {}).get("test_command"),
        "error": run.get("error"),
        "steps": steps,
        "checkpoints": session.store.list_checkpoints(run_id),
        "tests": tests,
        "cost": session.store.run_cost(run_id),
        "gate": session.store.pending_gate(run_id),
        "approved_commands": sorted(session.store.command_decisions(run_id)[0]),
        "approval_rules": [
            {"prefix": r.prefix, "scope": str(r.scope)} for r in list_rules(session.repo_root)
        ],
    }


def _show_prompts(args) -> int:
    from engine.context.prompts import format_step_prompts, step_prompts
    from engine.run.operations import get_run

    with _open(args, write=False) as session:
        run = get_run(session, args.run_id)
        steps = [
            s
            for s in session.store.steps_for(run["id"])
            if s["kind"] in ("llm", "plan", "agent") and args.step in (None, s["id"])
        ]
        if args.step is not None and not steps:
            raise UsageError(f"run {run['id']} has no model step #{args.step}")
        found = [(s, step_prompts(session.store, s["id"])) for s in steps]
    if args.json:
        print(json.dumps([{"step": s["id"], "node": s["node"], "calls": c} for s, c in found]))
        return 0
    for s, calls in found:
        task = f" [{s['task_id']}]" if s.get("task_id") else ""
        print(f"━━ step #{s['id']} {s['node']}{task} attempt {s['attempt']}: {s['status']}")
        print(format_step_prompts(calls) if calls else "(no model calls)\n")
    return 0


def cmd_show(args) -> int:
    if args.prompts:
        return _show_prompts(args)
    with _open(args, write=False) as session:
        d = run_details(session, args.run_id)
    if args.json:
        print(json.dumps(d, default=str))
        return 0
    r = d["run"]
    print(
        f"run {r['id']}  {r['status']}  flow={r['flow']}  model={r['model']}  "
        f"autonomy={r['autonomy']}"
    )
    print(f"goal: {r['goal']}")
    if d["error"]:
        print(f"note: {d['error']}")
    if d["test_command"]:
        print(f"test command: {d['test_command']['command']}")
    if d["instructions"]:
        print(f"project instructions: {', '.join(d['instructions'])}")
    print("\nattempts:")
    children: dict[Any, list[dict]] = {}
    for s in d["steps"]:
        children.setdefault(s.get("parent_step_id"), []).append(s)
    for s in d["steps"]:
        indent = "    " if s.get("parent_step_id") else "  "
        task = f" [{s['task_id']}]" if s.get("task_id") else ""
        err = f" — {s['error'][:80]}" if s.get("error") else ""
        print(
            f"{indent}#{s['id']} {s['node']}{task} attempt {s['attempt']}: {s['status']}"
            f"{' → cp ' + str(s['checkpoint_id']) if s.get('checkpoint_id') else ''}{err}"
        )
    print("\ncheckpoints:")
    for c in d["checkpoints"]:
        when = time.strftime("%H:%M:%S", time.localtime(c.get("created_at") or 0))
        flag = "" if not c.get("partial") else "  (partially recoverable)"
        print(
            f"  {c['id']:>4} {when} {c['source']:<11} {c.get('message') or ''}"
            f" ({checkpoint_holds(c)}){flag}"
        )
    if d["tests"]:
        t = d["tests"][-1]
        print(f"\nlast tests: {t['passed']} passed, {t['failed']} failed, {t['errors']} errors")
    c = d["cost"]
    print(
        f"\ncost: ${float(c.get('cost_usd') or 0):.4f}  tokens in {c.get('tokens_in', 0)}, "
        f"out {c.get('tokens_out', 0)}, cached {c.get('tokens_cached', 0)}"
    )
    if d["approved_commands"]:
        print("\ncommands approved in this run:")
        for command in d["approved_commands"]:
            print(f"  {command}")
    if d["approval_rules"]:
        print("\nalways allowed (llmflows-tui rules):")
        for r in d["approval_rules"]:
            print(f"  {r['scope']:<8} {r['prefix']}")
    if d["gate"]:
        print(f"\nwaiting at {gate_label(d['gate']['kind'])} — {d['gate']['prompt']}")
    return 0


def cmd_retry(args) -> int:
    from engine.cli.output import EventPrinter
    from engine.run.operations import get_run, retry

    printer = EventPrinter(args.output_format)
    with _open(args) as session:
        cp = session.store.get_checkpoint(args.checkpoint)
        if cp and cp.get("run_id"):
            printer.replay_start(session, get_run(session, cp["run_id"])["id"])
        with printer.opening(session.bus):
            run_id = retry(session, args.checkpoint, instruction=args.instruction, model=args.model)
        if printer.fmt == "text":
            print(f"retrying run {run_id} from checkpoint {args.checkpoint}", flush=True)
        return _execute(session, run_id, printer, args.approval, args)


def export_script(session, run_id: str) -> list[dict[str, Any]]:
    """The run's model answers, in order, as scripted-provider entries (with their
    node, and the plan task they worked on)."""
    from engine.run.operations import get_run

    get_run(session, run_id)
    tasks = {s["id"]: s.get("task_id") for s in session.store.steps_for(run_id)}
    entries = []
    for e in session.store.effects_for_run(run_id):
        if e["kind"] != "llm" or e["status"] != "done":
            continue
        if (e.get("request") or {}).get("copied"):
            continue  # an answer reused after a crash or stop: exported where first given
        res = dict(e.get("result") or {})
        res["node"] = (e.get("request") or {}).get("node")
        res["task"] = tasks.get(e.get("step_id"))
        entries.append(res)
    return entries


def cmd_export_script(args) -> int:
    from engine.models import write_script
    from engine.run.script_decisions import recorded_decisions

    with _open(args, write=False) as session:
        entries = export_script(session, args.run_id)
        decisions = recorded_decisions(session, args.run_id)
    if args.output:
        write_script(args.output, entries, decisions)
        print(
            f"wrote {len(entries)} response(s) and {len(decisions)} gate decision(s) "
            f"to {args.output}"
        )
    else:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "script.yaml"
            write_script(path, entries, decisions)
            sys.stdout.write(path.read_text())
    return 0
