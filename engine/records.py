"""Typed records and the one definition of every status / mode list.

The store keeps rows as dicts (sqlite-utils); front ends and read models see
these frozen dataclasses, built with ``from_row``. Each enum is a ``StrEnum``,
so a member compares equal to the string stored in SQLite and in events
(``RunStatus.PAUSED == "paused"``): code that still holds a plain string keeps
working while the names are checked in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Self


class RunStatus(StrEnum):
    """Where a run is."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"
    FAILED = "failed"
    CRASHED = "crashed"


#: Statuses a person can continue (a "running" row nobody holds is a crash).
RESUMABLE: frozenset[RunStatus] = frozenset(
    {RunStatus.PAUSED, RunStatus.CRASHED, RunStatus.RUNNING, RunStatus.STOPPED}
)
#: Statuses of a run that ended on its own or by a person (stopped can be reopened).
FINISHED: frozenset[RunStatus] = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.STOPPED}
)
#: Statuses at which an executing run has ended (a crash included).
ENDED: frozenset[RunStatus] = FINISHED | {RunStatus.CRASHED}


def shown_status(status: str, *, held: bool = False) -> RunStatus:
    """The status to show: a ``running`` row no live process holds is ``crashed``."""
    if status == RunStatus.RUNNING and not held:
        return RunStatus.CRASHED
    return RunStatus(status)


class StepStatus(StrEnum):
    """Where one attempt of one node is."""

    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"
    CRASHED = "crashed"
    ABANDONED = "abandoned"
    REJECTED = "rejected"


#: Step statuses that mean "entered but not finished": re-entered on continue.
IN_FLIGHT_STEPS: tuple[StepStatus, ...] = (
    StepStatus.RUNNING,
    StepStatus.PAUSED,
    StepStatus.STOPPED,
)


class GateKind(StrEnum):
    """Why a run waits for a person."""

    REVIEW = "review"
    GATE = "gate"
    COMMAND = "command"
    BREAKPOINT = "breakpoint"
    CRASH = "crash"
    TESTS = "tests"  # the test command could not say anything (cannot run, no tests)
    CONTEXT = "context"  # the prompt does not fit the model's window even compacted
    PLAN = "plan"  # review autonomy: the plan is shown before any edit


def gate_label(kind: str) -> str:
    """How a gate kind reads in a sentence: ``review gate``, but a flow's own ``gate``."""
    return "gate" if kind == GateKind.GATE else f"{kind} gate"


class Decision(StrEnum):
    """A person's answer to a gate (``superseded``: closed by a rewind, not a person)."""

    APPROVE = "approve"
    REJECT = "reject"
    STOP = "stop"
    SUPERSEDED = "superseded"


#: The decisions a person can give (``superseded`` is the engine's).
HUMAN_DECISIONS: tuple[Decision, ...] = (Decision.APPROVE, Decision.REJECT, Decision.STOP)


class Autonomy(StrEnum):
    """How often a run pauses for a person."""

    REVIEW = "review"
    AUTO_EDIT = "auto-edit"
    FULL = "full"

    @property
    def summary(self) -> str:
        """One line for pickers and help."""
        return _AUTONOMY_SUMMARY[self]


_AUTONOMY_SUMMARY = {
    Autonomy.REVIEW: "pause after every change",
    Autonomy.AUTO_EDIT: "pause at gates and the end",
    Autonomy.FULL: "pause only at gates / budget",
}

#: The autonomy names, for argparse ``choices``.
AUTONOMY_CHOICES: list[str] = [a.value for a in Autonomy]


class RuleScope(StrEnum):
    """Where a remembered "always allow" rule applies (engine/tools/approval_rules.py)."""

    PROJECT = "project"  # this repository (and its worktrees)
    USER = "user"  # every repository of this person


@dataclass(frozen=True)
class ApprovalRule:
    """A command prefix that runs without asking, and where."""

    prefix: str
    scope: RuleScope


class _Record:
    """``from_row``: build the dataclass from a store row, ignoring unknown columns."""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in row.items() if k in names})


@dataclass(frozen=True)
class RunRecord(_Record):
    """One run (``runs`` row; ``config`` decoded)."""

    id: str
    flow: str
    goal: str
    model: str
    autonomy: str
    status: str
    head_checkpoint_id: int | None = None
    state_hash: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    single_step: bool = False  # pause before every node
    user_git: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    finished_at: float | None = None


@dataclass(frozen=True)
class RunFlags:
    """Where a run pauses for a person besides its gates: breakpoints and single-step."""

    breakpoints: list[str]
    single_step: bool


@dataclass(frozen=True)
class StepRecord(_Record):
    """One attempt of one node (``steps`` row)."""

    id: int
    run_id: str
    node: str
    status: str
    kind: str | None = None
    attempt: int = 1
    parent_step_id: int | None = None
    task_id: str | None = None
    base_checkpoint_id: int | None = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    checkpoint_id: int | None = None
    output_hash: str | None = None


@dataclass(frozen=True)
class CheckpointRecord(_Record):
    """One durable snapshot (``checkpoints`` row)."""

    id: int
    source: str
    commit_sha: str
    tree_sha: str
    ref: str
    run_id: str | None = None
    step_id: int | None = None
    parent_id: int | None = None
    seq: int | None = None
    message: str | None = None
    state_hash: str | None = None
    files_changed: int = 0
    partial: bool = False
    skipped: list[dict[str, str]] = field(default_factory=list)
    created_at: float | None = None


@dataclass(frozen=True)
class GateRecord(_Record):
    """A question put to a person (``gates`` row; ``payload`` decoded)."""

    id: int
    run_id: str
    kind: str
    status: str
    node: str | None = None
    step_id: int | None = None
    prompt: str | None = None
    checkpoint_id: int | None = None
    payload: dict[str, Any] | None = None
    decision: str | None = None
    reason: str | None = None
    answer: Any = None
    created_at: float | None = None
    answered_at: float | None = None


@dataclass(frozen=True)
class EffectRecord(_Record):
    """One journaled side effect (``effects`` row; request/result decoded)."""

    id: int
    run_id: str
    key: str
    kind: str
    status: str
    step_id: int | None = None
    request: Any = None
    result: Any = None
    error: str | None = None
    idempotent: bool = False
    created_at: float | None = None
    done_at: float | None = None
