"""How run verbs print: a readable log, JSON lines (``stream-json``), or one result (``json``).

Every JSON line carries ``schema`` (the output version, :data:`OUTPUT_SCHEMA`).
A stream starts with ``run_started`` (then checkpoint 0 for a new run) and ends
with the ``result`` object; ``json`` prints only that object. Formats are
described in docs/cli-output.md and docs/schema/cli-output.schema.json.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from engine.cli.common import use_color
from engine.events import Event
from engine.records import ENDED, gate_label
from engine.run.result import OUTPUT_SCHEMA, RunResult

_PAINT = {"✓": "\x1b[32m", "✗": "\x1b[31m", "⏸": "\x1b[33m", "■": "\x1b[1m", "!": "\x1b[33m"}


def json_line(d: dict[str, Any]) -> str:
    return json.dumps({"schema": OUTPUT_SCHEMA, **d}, ensure_ascii=False, default=str)


class EventPrinter:
    """A bus subscriber printing events in the chosen output format."""

    def __init__(self, fmt: str = "text"):
        self.fmt = fmt
        self.color = fmt == "text" and use_color(sys.stdout)
        self.run_id: str | None = None  # only this run's events once known

    def __call__(self, ev: Event) -> None:
        if self.run_id and ev.run_id and ev.run_id != self.run_id:
            return
        if self.fmt == "stream-json":
            if ev.type != "token":
                print(json_line(ev.to_dict()), flush=True)
            return
        if self.fmt == "text":
            line = describe(ev)
            if line:
                print(self._paint(line), flush=True)

    def _paint(self, line: str) -> str:
        mark = line.lstrip()[:1]
        if not self.color or mark not in _PAINT:
            return line
        return f"{_PAINT[mark]}{line}\x1b[0m"

    @contextlib.contextmanager
    def opening(self, bus) -> Iterator[None]:
        """Around run creation / gate answers: streamed as JSON lines (so a stream opens
        with run_started and checkpoint 0); the text log prints its own header instead."""
        unsubscribe = bus.subscribe(self) if self.fmt == "stream-json" else None
        try:
            yield
        finally:
            if unsubscribe:
                unsubscribe()

    def replay_start(self, session, run_id: str) -> None:
        """A stream of an existing run (resume, retry) opens with its stored run_started."""
        self.run_id = run_id
        if self.fmt != "stream-json":
            return
        for row in session.store.events_for(run_id):
            if row["type"] == "run_started":
                print(json_line(row), flush=True)
                return

    def result(self, res: RunResult) -> None:
        """The last thing printed: the result object (json formats) or what to do next."""
        if self.fmt != "text":
            print(
                json_line(res.to_dict()) if self.fmt == "stream-json" else _pretty(res), flush=True
            )
            return
        _print_next_steps(res)


def _pretty(res: RunResult) -> str:
    return json.dumps(res.to_dict(), ensure_ascii=False, default=str, indent=2)


def describe(ev: Event) -> str | None:
    """One human line for an event, or None for events the text log leaves out."""
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
        # This call's figures first, the run's running total after: a line per call
        # must not read as if each call cost the whole total.
        return (
            f"    model call: ${d['cost_usd']:.4f} ({d['tokens_in']}→{d['tokens_out']} tok);"
            f" run total ${d['run_cost_usd']:.4f}"
        )
    if t == "gate_opened":
        return f"⏸ {gate_label(d['kind'])} #{d['gate_id']}: {d['prompt']}"
    if t == "checkpoint":
        return f"    checkpoint {d['checkpoint_id']} ({d['source']})"
    if t == "run_status" and d["status"] in ENDED:
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


def _print_next_steps(res: RunResult) -> None:
    rid = res.run_id
    if res.needs_person:
        print(
            f"\nRun {rid} needed a person (--approval never): {res.needs_person}", file=sys.stderr
        )
        print(f"  answer it with: llmflows-tui resume {rid} --approve", file=sys.stderr, flush=True)
    elif res.status == "paused":
        gate = res.gate or {}
        print(
            f"\nRun {rid} is paused at a {gate_label(gate.get('kind', ''))}. To continue:",
            flush=True,
        )
        print(f"  llmflows-tui resume {rid} --approve", flush=True)
        print(f'  llmflows-tui resume {rid} --reject "REASON"', flush=True)
        base = gate.get("base_checkpoint_id")
        if gate.get("kind") == "review" and base is not None:
            print(f"  llmflows-tui resume {rid} --approve --hunks FILE:N,...", flush=True)
            print(f"  llmflows-tui diff {base}  # see the changes (hunks of a file: N = 0, 1…)")
        elif gate.get("kind") == "plan":
            print(
                f"  llmflows-tui resume {rid} --approve --tasks-file FILE  # your task list: "
                "one per line, indented lines describe it",
                flush=True,
            )
        else:
            print(f"  llmflows-tui diff {gate.get('checkpoint_id') or ''}  # see the changes")
    elif res.status == "stopped":
        print(f"\nRun {rid} stopped: {res.reason}", flush=True)
        print(f"  llmflows-tui resume {rid} [--max-cost USD | --max-steps N]", flush=True)
    elif res.status == "failed":
        print(f"\nRun {rid} failed: {res.reason}", file=sys.stderr, flush=True)
    else:
        stat = f" ({res.files_changed} file(s), +{res.additions} -{res.deletions})"
        print(f"\nRun {rid} completed{stat if res.files_changed else ''}.", flush=True)
