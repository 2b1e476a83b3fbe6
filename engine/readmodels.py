"""Read models shared by the CLI and the TUI.

Each function takes an open :class:`engine.run.session.Session` and returns
typed records (``engine.records``) or the small dataclasses below; none of
them writes. Front ends reach them through :class:`engine.api.EngineAPI` (TUI)
or call them directly (CLI, on its own thread).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from engine.records import (
    RESUMABLE,
    ApprovalRule,
    GateRecord,
    RunFlags,
    RunRecord,
    RunStatus,
    shown_status,
)

if TYPE_CHECKING:
    from pathlib import Path

    from engine.events import Event
    from engine.git.diffmodel import Diff
    from engine.run.session import Session


@dataclass(frozen=True)
class ApprovalRules:
    """The remembered "always allow" rules that apply here: this repository's
    (``project``) first, then the person's own (``user``), and the file holding them."""

    path: str
    rules: list[ApprovalRule]


def approval_rules(session: Session) -> ApprovalRules:
    """The rules that apply in the session's repository (``UsageError`` if the file is bad)."""
    from engine.tools.approval_rules import list_rules, rules_path

    return ApprovalRules(str(rules_path()), list_rules(session.repo_root))


@dataclass(frozen=True)
class TestTally:
    """A run's last test result: tests passed, and failed or errored."""

    passed: int
    failed: int


@dataclass(frozen=True)
class RunSummary:
    """One line of run history: what `runs`, `show` and the history screen print."""

    id: str
    flow: str
    goal: str
    status: RunStatus
    model: str
    autonomy: str
    steps: int
    cost_usd: float
    created_at: float | None
    finished_at: float | None
    head_checkpoint_id: int | None
    #: The run's last test result (None: no test ran).
    tests: TestTally | None = None
    #: Another checkout's path when the run lives in a linked worktree (``run --worktree``).
    worktree: str | None = None

    @property
    def resumable(self) -> bool:
        """A person can continue this run (paused, stopped or crashed)."""
        return self.status in RESUMABLE

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the CLI's ``--json``)."""
        return asdict(self)


def _held(session: Session) -> bool:
    """True while a live process holds the store's writer lock."""
    from engine.store.lock import pid_alive, read_holder_pid

    holder = read_holder_pid(session.store.lock_path)
    return bool(holder and pid_alive(holder))


def effective_status(session: Session, status: str) -> RunStatus:
    """``running`` only while a live process holds the writer lock; else ``crashed``."""
    if status != RunStatus.RUNNING:
        return RunStatus(status)
    return shown_status(status, held=_held(session))


def run_summaries(session: Session, run_id: str | None = None) -> list[RunSummary]:
    """Every run (or one), newest first, from one query (steps, cost, last test)."""
    held: bool | None = None
    out = []
    for row in session.store.run_summaries(run_id):
        passed = row["tests_passed"]
        status = row["status"]
        if status == RunStatus.RUNNING:
            held = _held(session) if held is None else held
        out.append(
            RunSummary(
                id=row["id"],
                flow=row["flow"],
                goal=row["goal"],
                status=shown_status(status, held=bool(held)),
                model=row["model"],
                autonomy=row["autonomy"],
                steps=int(row["steps"] or 0),
                cost_usd=float(row["cost_usd"] or 0.0),
                created_at=row["created_at"],
                finished_at=row["finished_at"],
                head_checkpoint_id=row["head_checkpoint_id"],
                tests=None if passed is None else TestTally(passed, row["tests_failed"] or 0),
            )
        )
    return out


def run_summary(session: Session, run_id: str) -> RunSummary:
    """One run's summary (``RunNotFoundError`` if there is none)."""
    from engine.errors import RunNotFoundError

    rows = run_summaries(session, run_id)
    if not rows:
        raise RunNotFoundError(f"no run {run_id!r} in {session.store.path}")
    return rows[0]


@dataclass(frozen=True)
class FlowNode:
    """One node of a run's flow, in plan order."""

    id: str
    kind: str
    description: str


@dataclass(frozen=True)
class RunView:
    """Everything a screen needs to draw a run: record, plan, stored events, open gate."""

    run: RunRecord
    nodes: list[FlowNode]
    events: list[Event]
    gate: GateRecord | None
    flags: RunFlags


def _gate(row: dict[str, Any] | None) -> GateRecord | None:
    return None if row is None else GateRecord.from_row(row)


def run_view(session: Session, run_id: str) -> RunView:
    """The run, its flow's nodes (empty if the flow no longer loads), events and gate."""
    from engine.flow.spec import get_flow

    run = RunRecord.from_row(session.store.get_run(run_id))
    try:
        flow = get_flow(run.config.get("flow_path") or run.flow, session.repo_root)
        nodes = [
            FlowNode(n, flow.nodes[n].kind, flow.nodes[n].description) for n in flow.node_order()
        ]
    except Exception:  # a deleted or broken project flow still shows its stored events
        nodes = []
    from engine.events import event_from_dict

    events = [event_from_dict(d) for d in session.store.events_for(run_id)]
    flags = RunFlags(session.store.breakpoints(run_id), run.single_step)
    return RunView(run, nodes, events, _gate(session.store.pending_gate(run_id)), flags)


def pending_gate(session: Session, run_id: str) -> GateRecord | None:
    """The run's open gate, if it waits for a person."""
    return _gate(session.store.pending_gate(run_id))


def clash_diff(session: Session, run_id: str) -> Diff | None:
    """At a crash gate over clashing files: the step's version (-) against yours now (+)."""
    from engine.git.blobs import versions_diff

    gate = session.store.pending_gate(run_id)
    versions = ((gate or {}).get("payload") or {}).get("versions")
    if not gate or gate["kind"] != "crash" or not versions:
        return None
    return versions_diff(session.repo_root, versions)[0]


@dataclass(frozen=True)
class RangeDiff:
    """A diff and the checkpoints it spans (``to`` None: the working tree)."""

    base: int
    to: int | None
    diff: Diff


def run_diff(
    session: Session, run_id: str, *, to_head: bool, first_files: int | None = None
) -> RangeDiff | None:
    """The whole change of the run: first checkpoint → head (or the working tree).

    Hunks are read for every file, or only for the first ``first_files`` files (the
    others when first asked for)."""
    first = session.store.first_checkpoint(run_id)
    if first is None:
        return None
    to = session.store.get_run(run_id)["head_checkpoint_id"] if to_head else None
    diff = session.checkpoints.diff(first["id"], to)
    diff.load_hunks(None if first_files is None else diff.files[:first_files])
    return RangeDiff(first["id"], to, diff)


@dataclass(frozen=True)
class RewindPreview:
    """What a rewind to ``target`` changes on disk, and where the run's head is now."""

    target: int
    head: int | None
    diff: Diff


def rewind_preview(session: Session, run_id: str, checkpoint_id: int) -> RewindPreview:
    """Head → target plus anything unsaved in the tree."""
    head = session.store.get_run(run_id)["head_checkpoint_id"]
    diff = session.checkpoints.diff(checkpoint_id, None).load_hunks()
    return RewindPreview(checkpoint_id, head, diff)


@dataclass(frozen=True)
class FlowChoice:
    """A flow a run can use; ``valid`` False when its project file has errors."""

    name: str
    description: str
    source: str
    valid: bool = True
    shadows_builtin: bool = False  # a project flow replacing the built-in of that name


@dataclass(frozen=True)
class StartInfo:
    """What the start screen shows first: repository, flows (checked), model, tests."""

    root: str
    flows: list[FlowChoice] = field(default_factory=list)
    #: ``FILE:LINE:COL: message`` lines for project flow files that do not load.
    flow_issues: list[str] = field(default_factory=list)
    flows_error: str | None = None
    model: str = ""
    model_error: str | None = None
    #: The project's test command ("" when none is configured or detected) and where
    #: it came from (``from .llmflows/config.toml`` / ``detected from pyproject.toml, …``).
    test_command: str = ""
    test_source: str = ""
    #: True when ``test_command`` is configured (a change at the start is for one run).
    test_configured: bool = False


def project_flow_issues(infos: list[Any], repo_root: Any) -> tuple[list[str], set[str]]:
    """Validate the project's flow files: ``FILE:LINE:COL: message`` lines, bad flow names.

    Built-in flows are tested; project files are the person's and may be half-written.
    """
    from engine.errors import FlowValidationError

    issues: list[str] = []
    bad: set[str] = set()
    for info in infos:
        if info.source != "project":
            continue
        from engine.flow.spec import load_flow  # the validator: only for project files

        try:
            load_flow(info.path, "project")
        except FlowValidationError as e:
            bad.add(info.name)
            for issue in e.issues:
                rel = os.path.relpath(issue.file, repo_root) if issue.file else info.path
                issues.append(f"{rel}:{issue.line}:{issue.col}: {issue.message}")
    return issues, bad


@dataclass(frozen=True)
class FlowCheck:
    """The project's flow files checked: ``FILE:LINE:COL: message`` lines, bad flow names."""

    issues: list[str] = field(default_factory=list)
    invalid: frozenset[str] = frozenset()


def check_project_flows(session: Session) -> FlowCheck:
    """Validate the project's flow files (the start screen asks once it is usable)."""
    from engine.flow.listing import find_flows

    issues, bad = project_flow_issues(find_flows(session.repo_root), session.repo_root)
    return FlowCheck(issues, frozenset(bad))


def start_info(root: Path, cli_model: str | None, *, check_flows: bool = True) -> StartInfo:
    """Flows with their check results, the model that would be used, the test command
    of the repository at ``root``.

    It reads files only, not the run store: a start screen is usable before the store
    (and SQLite tooling) is even opened; :func:`resumable_runs` comes after. With
    ``check_flows=False`` project flow files are listed but not validated (every flow
    ``valid``): :func:`check_project_flows` does that part, so the screen is usable
    before the flow validator (and jinja2) is imported.
    """
    from engine.flow.listing import find_flows
    from engine.models import resolve_model_settings

    flows: list[FlowChoice] = []
    issues: list[str] = []
    bad: set[str] = set()
    flows_error = None
    try:
        infos = find_flows(root)
        if check_flows:
            issues, bad = project_flow_issues(infos, root)
        flows = [
            FlowChoice(f.name, f.description, f.source, f.name not in bad, f.shadows_builtin)
            for f in infos
        ]
    except Exception as e:  # an unreadable flows folder must not hide the rest of the screen
        flows_error = str(e)
    model, model_error = cli_model or "", None
    try:
        model = resolve_model_settings(cli_model, root).model
    except Exception as e:
        model_error = str(e)
    from engine.errors import UsageError
    from engine.tools.testdetect import project_test_command

    try:
        tests = project_test_command(root)
    except UsageError as e:  # a broken [tests] table: say so where the command would be
        tests, test_source = None, str(e)
    else:
        test_source = tests.where() if tests else "nothing detected: each flow's own default"
    return StartInfo(
        root=str(root),
        flows=flows,
        flow_issues=issues,
        flows_error=flows_error,
        model=model,
        model_error=model_error,
        test_command=tests.command if tests else "",
        test_source=test_source,
        test_configured=tests is not None and tests.source == "config",
    )


def resumable_runs(session: Session) -> list[RunSummary]:
    """This checkout's paused or crashed runs, newest first (what the start screen offers)."""
    return [s for s in run_summaries(session) if s.resumable]
