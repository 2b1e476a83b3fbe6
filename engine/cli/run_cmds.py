"""Headless run verbs: run, resume, runs, show, retry, export-script.

Exit codes: 0 completed, 1 failed, 2 usage/configuration error, 3 paused at a
gate, 4 stopped by a budget or limit (or by the user).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict
from typing import Any

from engine.errors import UsageError
from engine.events import Event
from engine.git.diffmodel import HunkRef

EXIT_FOR_STATUS = {"completed": 0, "failed": 1, "paused": 3, "stopped": 4}


def register(sub) -> None:
    p = sub.add_parser("run", help="run a flow headless")
    p.add_argument("flow", help="flow name (see `llmflows-tui flows`) or path to a flow file")
    p.add_argument("goal", help="what the agent should do")
    _model_args(p)
    p.add_argument("--autonomy", choices=["review", "auto-edit", "full"], default="review")
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
    p.add_argument("--json", action="store_true", help="print events as JSON lines")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="continue a paused, stopped or crashed run")
    p.add_argument("run_id", metavar="RUN")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--approve", action="store_true", help="approve the open gate")
    g.add_argument("--reject", metavar="REASON", help="reject the open gate with a reason")
    p.add_argument(
        "--hunks",
        metavar="FILE:N,...",
        help="with --approve at a review gate: keep only these hunks (N counts a file's @@ "
        "hunks from 0 in `llmflows-tui diff BASE`); the other text hunks are dropped",
    )
    p.add_argument("--model", help="continue with another model")
    _limit_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("runs", help="list runs in this repository")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("show", help="show a run: attempts, checkpoints, tests, cost")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("retry", help="retry from a checkpoint as a sibling attempt")
    p.add_argument("checkpoint", type=int, metavar="CHECKPOINT")
    p.add_argument("--instruction", default="", help="extra instruction for the model")
    p.add_argument("--model", help="retry with another model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("export-script", help="write a run's model answers as a replay script")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_export_script)


def _model_args(p) -> None:
    p.add_argument("--model", help="litellm model string, or scripted:PATH (offline replay)")


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
    from engine.run.session import Session

    return Session.open(args.cwd, write=write)


class _Printer:
    """Prints events: JSON lines, or a compact human-readable log."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self._in_tokens = False

    def __call__(self, ev: Event) -> None:
        if self.as_json:
            if ev.type != "token":
                print(json.dumps(ev.to_dict(), default=str), flush=True)
            return
        line = _describe(ev)
        if line:
            print(line, flush=True)


def _describe(ev: Event) -> str | None:
    d = ev.to_dict()
    t = ev.type
    if t == "step_started":
        task = f" [{d['task_id']}]" if d.get("task_id") else ""
        return f"▶ {d['node']}{task} ({d['kind']}, attempt {d['attempt']})"
    if t == "step_finished":
        mark = {"done": "✓", "failed": "✗"}.get(d["status"], "•")
        extra = f": {d['error']}" if d.get("error") else ""
        files = f", {d['files_changed']} file(s) changed" if d.get("files_changed") else ""
        return f"{mark} {d['node']} {d['status']}{files}{extra}"
    if t == "tool_call":
        return f"    {d['name']}({_brief(d['arguments'])}){'' if d['ok'] else ' → error'}"
    if t == "test_result":
        return f"    tests: {d['passed']} passed, {d['failed']} failed, {d['errors']} errors" + (
            f" — failing: {', '.join(d['failing'][:5])}" if d["failing"] else ""
        )
    if t == "cost":
        return (
            f"    cost: ${d['run_cost_usd']:.4f} ({d['run_tokens_in']}→{d['run_tokens_out']} tok)"
        )
    if t == "gate_opened":
        return f"⏸ {d['kind']} gate #{d['gate_id']}: {d['prompt']}"
    if t == "checkpoint":
        return f"    checkpoint {d['checkpoint_id']} ({d['source']})"
    if t == "run_status" and d["status"] in ("completed", "failed", "stopped", "crashed"):
        return f"■ run {d['status']}" + (f": {d['reason']}" if d.get("reason") else "")
    if t == "log" and d["level"] in ("warning", "error"):
        return f"  ! {d['message']}"
    return None


def _brief(args: dict[str, Any]) -> str:
    parts = []
    for k, v in args.items():
        s = str(v).replace("\n", "⏎")
        parts.append(f"{k}={s[:40]}{'…' if len(s) > 40 else ''}")
    return ", ".join(parts)


def _execute(session, run_id: str, as_json: bool) -> int:
    from engine.run.executor import Executor

    unsubscribe = session.bus.subscribe(_Printer(as_json))
    try:
        outcome = asyncio.run(Executor(session, run_id).execute())
    finally:
        unsubscribe()
    return _report(run_id, outcome, as_json)


def _report(run_id: str, outcome, as_json: bool) -> int:
    code = EXIT_FOR_STATUS.get(outcome.status, 1)
    if as_json:
        print(
            json.dumps(
                {
                    "type": "outcome",
                    "run_id": run_id,
                    "status": outcome.status,
                    "reason": outcome.reason,
                    "exit_code": code,
                }
            ),
            flush=True,
        )
        return code
    if outcome.status == "paused":
        gate = outcome.gate or {}
        print(
            f"\nRun {run_id} is paused at a {gate.get('kind', '')} gate. To continue:", flush=True
        )
        print(f"  llmflows-tui resume {run_id} --approve", flush=True)
        print(f'  llmflows-tui resume {run_id} --reject "REASON"', flush=True)
        base = (gate.get("payload") or {}).get("base_checkpoint_id")
        if gate.get("kind") == "review" and base is not None:
            print(f"  llmflows-tui resume {run_id} --approve --hunks FILE:N,...", flush=True)
            print(f"  llmflows-tui diff {base}  # see the changes (hunks of a file: N = 0, 1…)")
        else:
            print(f"  llmflows-tui diff {gate.get('checkpoint_id') or ''}  # see the changes")
    elif outcome.status == "stopped":
        print(f"\nRun {run_id} stopped: {outcome.reason}", flush=True)
        print(f"  llmflows-tui resume {run_id} [--max-cost USD | --max-steps N]", flush=True)
    elif outcome.status == "failed":
        print(f"\nRun {run_id} failed: {outcome.reason}", file=sys.stderr, flush=True)
    else:
        print(f"\nRun {run_id} completed.", flush=True)
    return code


def cmd_run(args) -> int:
    from engine.models import check_model_usable, resolve_model_settings
    from engine.run.operations import create_run

    with _open(args) as session:
        settings = resolve_model_settings(args.model, session.repo_root)
        check_model_usable(settings)
        run_id = create_run(
            session,
            args.flow,
            args.goal,
            model=settings.model,
            model_settings=asdict(settings),
            autonomy=args.autonomy,
            limits=_limits(args),
            breakpoints=args.breakpoint,
            single_step=args.step,
            settings=_settings(args.set),
        )
        if not args.json:
            print(f"run {run_id}: {args.flow} — {args.goal}", flush=True)
        return _execute(session, run_id, args.json)


def cmd_resume(args) -> int:
    from engine.run import operations as ops

    with _open(args) as session:
        run = ops.get_run(session, args.run_id)
        if run["status"] in ("completed", "failed") and not (args.approve or args.reject):
            print(
                f"Run {run['id']} has {run['status']}: there is nothing to resume. "
                f"Start from one of its checkpoints with `llmflows-tui retry CHECKPOINT`.",
                file=sys.stderr,
            )
            return EXIT_FOR_STATUS[run["status"]]
        if any(v is not None for v in _limits(args).values()):
            ops.update_limits(session, run["id"], **_limits(args))
        if args.model:
            ops.set_model(session, run["id"], args.model)
        if args.hunks is not None and not args.approve:
            raise UsageError("--hunks goes with --approve")
        if args.approve:
            keep = _parse_hunks(args.hunks) if args.hunks is not None else None
            ops.answer_gate(session, run["id"], "approve", hunks=keep)
        elif args.reject is not None:
            ops.answer_gate(session, run["id"], "reject", reason=args.reject)
        else:
            ops.reopen(session, run["id"])
        return _execute(session, run["id"], args.json)


def _parse_hunks(text: str) -> set[HunkRef]:
    """``a.py:0,b/c.py:2`` → hunk refs (by index in the review diff)."""
    refs = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        path, sep, n = part.rpartition(":")
        if not sep or not path or not n.isdigit():
            raise UsageError(f"--hunks: {part!r} is not FILE:N (e.g. src/app.py:0)")
        refs.add(HunkRef(path, int(n)))
    return refs


def cmd_runs(args) -> int:
    with _open(args, write=False) as session:
        rows = run_summaries(session)
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    if not rows:
        print('no runs yet — start one with `llmflows-tui run FLOW "GOAL"` or `llmflows-tui`')
        return 0
    print(f"{'RUN':<12} {'STATUS':<10} {'FLOW':<10} {'STEPS':>5} {'COST':>9}  GOAL")
    for r in rows:
        print(
            f"{r['id']:<12} {r['status']:<10} {r['flow']:<10} {r['steps']:>5} "
            f"${r['cost_usd']:>8.4f}  {r['goal'][:60]}"
        )
    return 0


def effective_status(session, run: dict[str, Any], *, writer_alive: bool | None = None) -> str:
    """'running' only while a live process holds the writer lock; else it crashed.

    ``writer_alive`` lets a caller listing many runs read the lock once.
    """
    if run["status"] != "running":
        return run["status"]
    if writer_alive is None:
        writer_alive = _writer_alive(session)
    return "running" if writer_alive else "crashed"


def _writer_alive(session) -> bool:
    from engine.store.lock import pid_alive, read_holder_pid

    holder = read_holder_pid(session.store.lock_path)
    return bool(holder and pid_alive(holder))


def run_summaries(session) -> list[dict[str, Any]]:
    """History: one line per run, newest first — one store query whatever the run count.

    Each dict has ``id, flow, goal, status`` (effective: a dead writer's run is
    ``crashed``), ``model, autonomy, steps, cost_usd, tests`` (``{"passed", "failed"}``
    of the last test result or None), ``created_at, finished_at, head_checkpoint_id``.
    """
    rows = session.store.run_summaries()
    alive = _writer_alive(session) if any(r["status"] == "running" for r in rows) else False
    for r in rows:
        r["status"] = effective_status(session, r, writer_alive=alive)
        r["cost_usd"] = float(r["cost_usd"] or 0.0)
    return rows


def _run_summary(session, run: dict[str, Any]) -> dict[str, Any]:
    steps = session.store.steps_for(run["id"])
    cost = session.store.run_cost(run["id"])
    return {
        "id": run["id"],
        "flow": run["flow"],
        "goal": run["goal"],
        "status": effective_status(session, run),
        "model": run["model"],
        "autonomy": run["autonomy"],
        "steps": len(steps),
        "cost_usd": float(cost.get("cost_usd") or 0.0),
        "created_at": run.get("created_at"),
        "finished_at": run.get("finished_at"),
        "head_checkpoint_id": run.get("head_checkpoint_id"),
    }


def run_details(session, run_id: str) -> dict[str, Any]:
    """Everything `show` prints: attempts, checkpoints, tests, cost."""
    from engine.run.operations import get_run

    run = get_run(session, run_id)
    steps = session.store.steps_for(run_id)
    tests = [e for e in session.store.events_for(run_id) if e["type"] == "test_result"]
    return {
        "run": _run_summary(session, run),
        "error": run.get("error"),
        "steps": steps,
        "checkpoints": session.store.list_checkpoints(run_id),
        "tests": tests,
        "cost": session.store.run_cost(run_id),
        "gate": session.store.pending_gate(run_id),
    }


def cmd_show(args) -> int:
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
            f" ({c.get('files_changed', 0)} files){flag}"
        )
    if d["tests"]:
        t = d["tests"][-1]
        print(f"\nlast tests: {t['passed']} passed, {t['failed']} failed, {t['errors']} errors")
    c = d["cost"]
    print(
        f"\ncost: ${float(c.get('cost_usd') or 0):.4f}  tokens in {c.get('tokens_in', 0)}, "
        f"out {c.get('tokens_out', 0)}, cached {c.get('tokens_cached', 0)}"
    )
    if d["gate"]:
        print(f"\nwaiting: {d['gate']['kind']} gate — {d['gate']['prompt']}")
    return 0


def cmd_retry(args) -> int:
    from engine.run.operations import retry

    with _open(args) as session:
        run_id = retry(session, args.checkpoint, instruction=args.instruction, model=args.model)
        if not args.json:
            print(f"retrying run {run_id} from checkpoint {args.checkpoint}", flush=True)
        return _execute(session, run_id, args.json)


def export_script(session, run_id: str) -> list[dict[str, Any]]:
    """The run's model answers, in order, as scripted-provider entries."""
    from engine.run.operations import get_run

    get_run(session, run_id)
    entries = []
    for e in session.store.effects_for_run(run_id):
        if e["kind"] != "llm" or e["status"] != "done":
            continue
        res = dict(e.get("result") or {})
        res["node"] = (e.get("request") or {}).get("node")
        entries.append(res)
    return entries


def cmd_export_script(args) -> int:
    from engine.models import write_script

    with _open(args, write=False) as session:
        entries = export_script(session, args.run_id)
    if args.output:
        write_script(args.output, entries)
        print(f"wrote {len(entries)} response(s) to {args.output}")
    else:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "script.yaml"
            write_script(path, entries)
            sys.stdout.write(path.read_text())
    return 0
