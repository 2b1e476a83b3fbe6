"""Typed events: the one stream the engine emits.

The executor appends every event to SQLite (table ``events``) and publishes it
to subscribers (the TUI, ``--json`` output). Events are plain dataclasses so
they serialize to JSON without extra machinery: ``event.to_dict()`` and
``event_from_dict(d)`` round-trip.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from engine.records import Autonomy, Decision, GateKind, RunStatus, StepStatus

E = TypeVar("E", bound=StrEnum)

_REGISTRY: dict[str, type[Event]] = {}


@dataclass(kw_only=True)
class Event:
    """Base of every event. ``seq`` is assigned when the event is stored."""

    type: ClassVar[str] = "event"
    run_id: str | None = None
    seq: int | None = None
    ts: float = field(default_factory=time.time)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        _REGISTRY[cls.type] = cls

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["type"] = self.type
        return d


def _member(enum: type[E], value: Any) -> E:
    """``value`` as a member of ``enum``; a value this version does not know (a stored
    event of a newer one) is kept as it is rather than lost."""
    try:
        return enum(value)
    except ValueError:
        return value  # type: ignore[no-any-return]


def event_from_dict(d: dict[str, Any]) -> Event:
    """Rebuild an event from ``to_dict()`` output (unknown keys are ignored)."""
    cls = _REGISTRY[d["type"]]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(kw_only=True)
class RunStarted(Event):
    type: ClassVar[str] = "run_started"
    flow: str
    goal: str
    model: str
    autonomy: Autonomy

    def __post_init__(self) -> None:
        self.autonomy = _member(Autonomy, self.autonomy)


@dataclass(kw_only=True)
class RunStatusChanged(Event):
    """status: running | paused | completed | failed | stopped | crashed."""

    type: ClassVar[str] = "run_status"
    status: RunStatus
    reason: str = ""
    node: str | None = None

    def __post_init__(self) -> None:
        self.status = _member(RunStatus, self.status)


@dataclass(kw_only=True)
class StepStarted(Event):
    type: ClassVar[str] = "step_started"
    step_id: int
    node: str
    kind: str
    attempt: int = 1
    parent_step_id: int | None = None
    task_id: str | None = None


@dataclass(kw_only=True)
class StepFinished(Event):
    """status: a :class:`StepStatus` (done | failed | ...)."""

    type: ClassVar[str] = "step_finished"
    step_id: int
    node: str
    status: StepStatus
    error: str | None = None
    checkpoint_id: int | None = None
    files_changed: int = 0

    def __post_init__(self) -> None:
        self.status = _member(StepStatus, self.status)


@dataclass(kw_only=True)
class TokenDelta(Event):
    type: ClassVar[str] = "token"
    step_id: int
    text: str


@dataclass(kw_only=True)
class ToolCalled(Event):
    type: ClassVar[str] = "tool_call"
    step_id: int
    name: str
    arguments: dict[str, Any]
    ok: bool = True
    summary: str = ""


@dataclass(kw_only=True)
class PlanUpdated(Event):
    """tasks: [{"id", "title", "description", "files": [...], "status"}]."""

    type: ClassVar[str] = "plan"
    step_id: int | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(kw_only=True)
class DiffReady(Event):
    type: ClassVar[str] = "diff_ready"
    step_id: int | None
    from_checkpoint: int | None
    to_checkpoint: int
    files: list[str] = field(default_factory=list)
    additions: int = 0
    deletions: int = 0


@dataclass(kw_only=True)
class TestOutputLine(Event):
    """One line of a command's output: how runs before output chunks stored it (read only)."""

    type: ClassVar[str] = "test_output"
    step_id: int
    line: str


@dataclass(kw_only=True)
class OutputChunk(Event):
    """Live command output of a ``run`` step: whole lines, batched (published, not stored)."""

    type: ClassVar[str] = "output_chunk"
    step_id: int
    text: str


@dataclass(kw_only=True)
class CommandOutput(Event):
    """A ``run`` step's output, stored once when the command ends (head and tail when capped).

    ``tail_from`` is where the omitted-bytes note starts in ``output`` (-1: nothing
    omitted): a pane that streamed the head live shows only ``output[tail_from:]``.
    """

    type: ClassVar[str] = "command_output"
    step_id: int
    command: str
    output: str
    truncated: bool = False
    tail_from: int = -1


@dataclass(kw_only=True)
class TestResult(Event):
    type: ClassVar[str] = "test_result"
    step_id: int
    command: str
    exit_code: int
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failing: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    @classmethod
    def from_summary(cls, res: dict[str, Any], **kw: Any) -> TestResult:
        """From a test run's summary dict (as kept in the run state); ``kw``: the other
        fields (``step_id``, ``command``, ``run_id``)."""
        return cls(
            exit_code=int(res.get("exit_code", 1)),
            passed=int(res.get("passed", 0)),
            failed=int(res.get("failed", 0)),
            errors=int(res.get("errors", 0)),
            skipped=int(res.get("skipped", 0)),
            failing=list(res.get("failing") or []),
            duration_s=float(res.get("duration_s", 0.0)),
            **kw,
        )


@dataclass(kw_only=True)
class CostUpdate(Event):
    type: ClassVar[str] = "cost"
    step_id: int | None
    model: str
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    cost_usd: float
    run_cost_usd: float
    run_tokens_in: int
    run_tokens_out: int
    budget_usd: float | None = None
    text: str = ""  # the answer's text (streamed as tokens live; stored for the transcript)


@dataclass(kw_only=True)
class GateOpened(Event):
    """kind: a :class:`GateKind` (review, gate, command, breakpoint, crash)."""

    type: ClassVar[str] = "gate_opened"
    gate_id: int
    step_id: int | None
    kind: GateKind
    node: str | None
    prompt: str
    checkpoint_id: int | None = None

    def __post_init__(self) -> None:
        self.kind = _member(GateKind, self.kind)


@dataclass(kw_only=True)
class GateAnswered(Event):
    """decision: approve | reject | stop (a person) or superseded (a rewind)."""

    type: ClassVar[str] = "gate_answered"
    gate_id: int
    decision: Decision
    reason: str = ""

    def __post_init__(self) -> None:
        self.decision = _member(Decision, self.decision)


@dataclass(kw_only=True)
class CheckpointMade(Event):
    type: ClassVar[str] = "checkpoint"
    checkpoint_id: int
    parent_id: int | None
    source: str
    message: str = ""
    step_id: int | None = None
    files_changed: int = 0
    partial: bool = False


@dataclass(kw_only=True)
class Rewound(Event):
    """The run's working tree and head went back to ``checkpoint_id`` (undoable)."""

    type: ClassVar[str] = "rewound"
    checkpoint_id: int
    undo_checkpoint_id: int | None = None


@dataclass(kw_only=True)
class ModelWaiting(Event):
    """A model call is on its way (published, not stored): why the pane is quiet."""

    type: ClassVar[str] = "model_waiting"
    step_id: int | None = None
    model: str = ""
    reason: str = ""


@dataclass(kw_only=True)
class UserMessage(Event):
    """The person's message to the agent (reaches the next model call as an instruction)."""

    type: ClassVar[str] = "user_message"
    text: str = ""


@dataclass(kw_only=True)
class LogMessage(Event):
    type: ClassVar[str] = "log"
    level: str = "info"
    message: str = ""
