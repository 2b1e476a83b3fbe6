"""PlanTree: flow nodes → plan tasks → attempts (steps) → checkpoints, with status icons.

Driven entirely by engine events (``apply_event``), so a live run and a replay
of stored events build the same tree. Icons: pending ○, running ◐, done ✓,
failed ✗, crashed ✖, paused ⏸, rejected ↺, cancelled ⊘, rewound ⤺ (begun after the checkpoint
a rewind went back to), unknown ?; checkpoints ◆ (◇ when only partially recoverable), the one
the working tree is at "◀ here". The node the run is at is marked ▶ and bold; nodes
with a breakpoint ●. Labels are short; the row under the cursor is described in full
(description, error, checkpoint message) in the pane's bottom border.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from engine.events import (
    CheckpointMade,
    Event,
    GateAnswered,
    GateOpened,
    PlanUpdated,
    Rewound,
    RunStatusChanged,
    StepFinished,
    StepStarted,
)
from engine.records import ENDED, StepStatus

STATUS_ICONS = {
    "pending": "○",
    "running": "◐",
    "done": "✓",
    "failed": "✗",
    "paused": "⏸",
    "rejected": "↺",
    "cancelled": "⊘",
    "crashed": "✖",
    "rewound": "⤺",
}
_STATUS_STYLES = {
    "pending": "dim",
    "running": "bold yellow",
    "done": "green",
    "failed": "bold red",
    "paused": "bold magenta",
    "rejected": "yellow",
    "cancelled": "dim",
    "crashed": "bold red",
    "rewound": "dim italic",
}
#: The engine's step statuses as the tree draws them.
_STEP_STATUS: dict[str, str] = {
    StepStatus.RUNNING: "running",
    StepStatus.PAUSED: "paused",
    StepStatus.DONE: "done",
    StepStatus.FAILED: "failed",
    StepStatus.STOPPED: "cancelled",
    StepStatus.ABANDONED: "cancelled",
    StepStatus.REJECTED: "rejected",
    StepStatus.CRASHED: "crashed",
}
# Plan task statuses as a model might write them → our vocabulary.
_TASK_STATUS = {
    "todo": "pending",
    "pending": "pending",
    "open": "pending",
    "in_progress": "running",
    "running": "running",
    "doing": "running",
    "done": "done",
    "completed": "done",
    "complete": "done",
    "failed": "failed",
    "skipped": "cancelled",
    "cancelled": "cancelled",
}


@dataclass
class PlanItem:
    """``TreeNode.data`` of every node: what it is and its key."""

    kind: str  # "flow" | "task" | "step" | "checkpoint" | "group"
    key: str | int
    label: str = ""
    detail: str = ""
    status: str = "pending"
    extra: dict = field(default_factory=dict)


class PlanTree(Tree[PlanItem]):
    """Tree of the run: flow nodes, plan tasks, attempts and checkpoints.

    Public API: :meth:`apply_event`, :meth:`set_flow_nodes`, :meth:`selected_checkpoint`,
    :meth:`node_status`, :meth:`step_status`, :meth:`clear_run`, :attr:`current_node`.

    Messages: :class:`PlanTree.CheckpointSelected` when a checkpoint row is
    highlighted or selected (the app offers rewind / retry from it).
    """

    DEFAULT_CSS = """
    PlanTree {
        background: $surface;
        scrollbar-size-vertical: 1;
    }
    """

    class CheckpointSelected(Message):
        """A checkpoint row was highlighted or selected."""

        def __init__(self, plan_tree: PlanTree, checkpoint_id: int) -> None:
            super().__init__()
            self.plan_tree = plan_tree
            self.checkpoint_id = checkpoint_id

        @property
        def control(self) -> PlanTree:
            return self.plan_tree

    def __init__(
        self,
        label: str = "run",
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(
            label, PlanItem("group", "root"), name=name, id=id, classes=classes, disabled=disabled
        )
        self.show_root = False
        self.guide_depth = 3  # narrower indents: the labels keep the room
        self._reset_state()

    def _reset_state(self) -> None:
        self._flow: dict[str, TreeNode[PlanItem]] = {}
        self._tasks: dict[str, TreeNode[PlanItem]] = {}
        self._steps: dict[int, TreeNode[PlanItem]] = {}
        self._checkpoints: dict[int, TreeNode[PlanItem]] = {}
        self._latest_step: dict[str, int] = {}  # flow node / task id -> latest step id
        self._gates: dict[int, tuple[str, str | int, str]] = {}  # gate -> (kind, key, prev status)
        self._loose: TreeNode[PlanItem] | None = None
        self._current: str | None = None
        self._here: int | None = None  # the checkpoint the working tree is at
        # undo checkpoint of each rewind -> the attempts it changed, with their status before
        self._rewinds: dict[int, list[tuple[TreeNode[PlanItem], str]]] = {}
        self._breakpoints: set[str] = set()
        self.run_status: str | None = None
        """Last run status seen (running, paused, completed, ...)."""

    # ------------------------------------------------------------------ public API

    @property
    def current_node(self) -> str | None:
        """The flow node the run is at (highlighted), if any."""
        return self._current

    def clear_run(self) -> None:
        """Forget everything (flow nodes included)."""
        self.clear()
        self._reset_state()

    def set_flow_nodes(self, nodes: list[tuple[str, str, str]]) -> None:
        """Declare the flow's nodes in order: ``[(node_id, kind, description), ...]``.

        Existing nodes keep their attempts; new ones are appended as pending.
        """
        for node_id, kind, description in nodes:
            if node_id in self._flow:
                item = self._flow[node_id].data
                assert item is not None
                item.extra["kind"], item.detail = kind, description
                self._relabel(self._flow[node_id])
            else:
                self._add_flow_node(node_id, kind, description)

    def apply_event(self, event: Event) -> None:
        """Update the tree from one engine event (others are ignored)."""
        if isinstance(event, StepStarted):
            self._on_step_started(event)
        elif isinstance(event, StepFinished):
            self._on_step_finished(event)
        elif isinstance(event, PlanUpdated):
            self._on_plan(event)
        elif isinstance(event, CheckpointMade):
            self._on_checkpoint(event)
        elif isinstance(event, GateOpened):
            self._on_gate_opened(event)
        elif isinstance(event, GateAnswered):
            self._on_gate_answered(event)
        elif isinstance(event, RunStatusChanged):
            self._on_run_status(event)
        elif isinstance(event, Rewound):
            self._on_rewound(event)

    @property
    def here(self) -> int | None:
        """The checkpoint marked "you are here" (where the working tree is)."""
        return self._here

    def set_here(self, checkpoint_id: int | None) -> None:
        """Mark the checkpoint the working tree is at."""
        previous, self._here = self._here, checkpoint_id
        for key in (previous, checkpoint_id):
            if key is not None and key in self._checkpoints:
                self._relabel(self._checkpoints[key])

    def set_breakpoints(self, nodes: set[str]) -> None:
        """Flow nodes with a breakpoint get a ● marker."""
        changed = nodes ^ self._breakpoints
        self._breakpoints = set(nodes)
        for key in changed:
            if key in self._flow:
                self._relabel(self._flow[key])

    def selected_checkpoint(self) -> int | None:
        """Checkpoint id under the cursor, or None if the cursor is not on a checkpoint."""
        node = self.cursor_node
        if node is not None and node.data is not None and node.data.kind == "checkpoint":
            return int(node.data.key)
        return None

    def select_checkpoint(self, checkpoint_id: int) -> bool:
        """Move the cursor to a checkpoint row (posts CheckpointSelected via highlight)."""
        node = self._checkpoints.get(checkpoint_id)
        if node is None:
            return False
        self._expand_ancestors(node)
        self.move_cursor(node)
        return True

    def select_step(self, step_id: int) -> bool:
        """Move the cursor to a step (attempt) row."""
        node = self._steps.get(step_id)
        if node is None:
            return False
        self._expand_ancestors(node)
        self.move_cursor(node)
        return True

    def node_status(self, node_id: str) -> str | None:
        """Status of a flow node (from its latest attempt), or None if unknown."""
        node = self._flow.get(node_id)
        return node.data.status if node is not None and node.data is not None else None

    def task_status(self, task_id: str) -> str | None:
        """Status of a plan task, or None if unknown."""
        node = self._tasks.get(task_id)
        return node.data.status if node is not None and node.data is not None else None

    def step_status(self, step_id: int) -> str | None:
        """Status of one attempt, or None if unknown."""
        node = self._steps.get(step_id)
        return node.data.status if node is not None and node.data is not None else None

    def checkpoint_ids(self) -> list[int]:
        """All checkpoints shown, in arrival order."""
        return list(self._checkpoints)

    def outline(self) -> list[str]:
        """The visible structure as indented plain-text labels (for tests / debugging)."""
        lines: list[str] = []

        def walk(node: TreeNode[PlanItem], depth: int) -> None:
            for child in node.children:
                lines.append("  " * depth + self._label_text(child).plain)
                walk(child, depth + 1)

        walk(self.root, 0)
        return lines

    # ------------------------------------------------------------------ event handlers

    def _add_flow_node(self, node_id: str, kind: str = "", description: str = "") -> TreeNode:
        item = PlanItem("flow", node_id, label=node_id, detail=description, extra={"kind": kind})
        node = self.root.add(node_id, data=item, expand=True)
        self._flow[node_id] = node
        self._relabel(node)
        return node

    def _flow_node(self, node_id: str) -> TreeNode[PlanItem]:
        return self._flow.get(node_id) or self._add_flow_node(node_id)

    def _on_step_started(self, event: StepStarted) -> None:
        flow = self._flow_node(event.node)
        parent = flow
        if event.task_id is not None and event.task_id in self._tasks:
            parent = self._tasks[event.task_id]
        item = PlanItem(
            "step",
            event.step_id,
            label=f"attempt {event.attempt}",
            status="running",
            extra={
                "node": event.node,
                "task_id": event.task_id,
                "attempt": event.attempt,
                # newest checkpoint when it started: a rewind to an older one undoes it
                "after": max(self._checkpoints, default=-1),
            },
        )
        if event.task_id is not None and parent is self._tasks.get(event.task_id):
            item.label = f"{event.node} · attempt {event.attempt}"
        node = parent.add("", data=item, expand=True)
        self._steps[event.step_id] = node
        self._relabel(node)
        self._latest_step[event.node] = event.step_id
        if event.task_id is not None:
            self._latest_step[f"task:{event.task_id}"] = event.step_id
        self._set_current(event.node)
        self._refresh_owner_status(event.node, event.task_id)

    def _on_step_finished(self, event: StepFinished) -> None:
        node = self._steps.get(event.step_id)
        if node is None or node.data is None:
            return
        # A status the tree has no icon for shows as "?", never as done.
        node.data.status = _STEP_STATUS.get(event.status, event.status)
        if event.error:
            node.data.detail = event.error.splitlines()[0][:80]
        elif event.files_changed:
            node.data.extra["files"] = event.files_changed
            node.data.detail = f"{event.files_changed} file(s) changed"
        if event.checkpoint_id is not None:
            node.data.extra["checkpoint_id"] = event.checkpoint_id
            self._adopt_checkpoint(event.checkpoint_id, node)
        self._relabel(node)
        self._refresh_owner_status(node.data.extra["node"], node.data.extra.get("task_id"))

    def _on_plan(self, event: PlanUpdated) -> None:
        owner_node = None
        if event.step_id is not None and event.step_id in self._steps:
            data = self._steps[event.step_id].data
            assert data is not None
            owner_node = data.extra["node"]
        if owner_node is None:
            plan_nodes = [
                k for k, n in self._flow.items() if n.data and n.data.extra.get("kind") == "plan"
            ]
            owner_node = plan_nodes[0] if plan_nodes else (self._current or "plan")
        owner = self._flow_node(owner_node)
        seen: set[str] = set()
        for i, task in enumerate(event.tasks):
            task_id = str(task.get("id", i + 1))
            seen.add(task_id)
            title = str(task.get("title") or task.get("description") or task_id)
            status = _TASK_STATUS.get(str(task.get("status", "pending")).lower(), "pending")
            node = self._tasks.get(task_id)
            if node is None:
                item = PlanItem("task", task_id, label=title, status=status)
                node = owner.add("", data=item, expand=True)
                self._tasks[task_id] = node
            else:
                assert node.data is not None
                node.data.label = title
                if f"task:{task_id}" not in self._latest_step:
                    node.data.status = status
                else:
                    node.data.extra["plan_status"] = status
            files = task.get("files") or []
            assert node.data is not None
            node.data.detail = ", ".join(map(str, files[:3])) + (" …" if len(files) > 3 else "")
            self._relabel(node)
        # Tasks dropped from a revised plan stay visible but cancelled (history is kept).
        for task_id, node in self._tasks.items():
            if task_id not in seen and node.data is not None and node.data.status == "pending":
                node.data.status = "cancelled"
                self._relabel(node)

    def _on_checkpoint(self, event: CheckpointMade) -> None:
        # "cp N" as in the diff's title; the source only when it is not a step's
        source = {"step": "", "pre-restore": "pre-rewind"}.get(event.source, event.source)
        label = f"cp {event.checkpoint_id}" + (f" {source}" if source else "")
        item = PlanItem(
            "checkpoint",
            event.checkpoint_id,
            label=label,
            detail=event.message.splitlines()[0][:60] if event.message else "",
            status="done",
            extra={"partial": event.partial, "source": event.source},
        )
        parent = self._steps.get(event.step_id) if event.step_id is not None else None
        if parent is None:
            parent = self._loose_group()
        node = parent.add_leaf("", data=item)
        self._checkpoints[event.checkpoint_id] = node
        if event.source != "pre-restore":  # an undo point is kept, not gone to
            self.set_here(event.checkpoint_id)
        self._relabel(node)

    def _on_rewound(self, event: Rewound) -> None:
        """Attempts begun after the target checkpoint are undone on disk: say so.

        Going to the undo checkpoint of an earlier rewind undoes that rewind: the attempts
        it changed get back the status they had (and undoing the undo changes them again).
        """
        owners = set()
        changed: list[tuple[TreeNode[PlanItem], str]] = []  # (attempt, status before)

        def set_status(node: TreeNode[PlanItem], status: str) -> None:
            item = node.data
            assert item is not None
            changed.append((node, item.status))
            item.status = status
            self._relabel(node)
            owners.add((item.extra["node"], item.extra.get("task_id")))

        for node, status in self._rewinds.pop(event.checkpoint_id, []):
            set_status(node, status)
        for node in self._steps.values():
            item = node.data
            if item is None or item.extra.get("after", -1) < event.checkpoint_id:
                continue
            if item.status != "rewound":
                set_status(node, "rewound")
        if event.undo_checkpoint_id is not None:
            self._rewinds[event.undo_checkpoint_id] = changed
        for node_id, task_id in owners:
            self._refresh_owner_status(node_id, task_id)
        self.set_here(event.checkpoint_id)

    def _on_gate_opened(self, event: GateOpened) -> None:
        if event.step_id is not None and event.step_id in self._steps:
            node = self._steps[event.step_id]
            assert node.data is not None
            self._gates[event.gate_id] = ("step", event.step_id, node.data.status)
            node.data.status = "paused"
            node.data.extra["gate"] = event.kind
            self._relabel(node)
            self._refresh_owner_status(node.data.extra["node"], node.data.extra.get("task_id"))
        elif event.node is not None:
            node = self._flow_node(event.node)
            assert node.data is not None
            self._gates[event.gate_id] = ("flow", event.node, node.data.status)
            node.data.status = "paused"
            self._relabel(node)
        if event.node is not None:
            self._set_current(event.node)

    def _on_gate_answered(self, event: GateAnswered) -> None:
        gate = self._gates.pop(event.gate_id, None)
        if gate is None:
            return
        kind, key, previous = gate
        node = self._steps.get(key) if kind == "step" else self._flow.get(str(key))  # type: ignore[arg-type]
        if node is None or node.data is None:
            return
        node.data.extra.pop("gate", None)
        if event.decision == "reject":
            node.data.status = "rejected"
        elif event.decision == "stop":
            node.data.status = "cancelled"
        else:
            node.data.status = previous
        self._relabel(node)
        if kind == "step":
            self._refresh_owner_status(node.data.extra["node"], node.data.extra.get("task_id"))

    def _on_run_status(self, event: RunStatusChanged) -> None:
        self.run_status = event.status
        if event.node:
            self._set_current(event.node)
        if event.status in ("failed", "crashed", "stopped"):
            final = {"stopped": "cancelled", "crashed": "crashed"}.get(event.status, "failed")
            for node in self._steps.values():
                if node.data is not None and node.data.status in ("running", "paused"):
                    node.data.status = final
                    self._relabel(node)
                    self._refresh_owner_status(
                        node.data.extra["node"], node.data.extra.get("task_id")
                    )
        if event.status in ENDED:
            self._set_current(None)

    # ------------------------------------------------------------------ helpers

    def _loose_group(self) -> TreeNode[PlanItem]:
        """Group for checkpoints without a step (start / manual / pre-restore), shown first."""
        if self._loose is None:
            item = PlanItem("group", "checkpoints", label="checkpoints", status="done")
            before = 0 if self.root.children else None
            self._loose = self.root.add("", data=item, expand=True, before=before)
            self._relabel(self._loose)
        return self._loose

    def _adopt_checkpoint(self, checkpoint_id: int, step_node: TreeNode[PlanItem]) -> None:
        """Move a checkpoint that arrived before its StepFinished under the step."""
        node = self._checkpoints.get(checkpoint_id)
        if node is None or node.parent is step_node:
            return
        item = node.data
        node.remove()
        new = step_node.add_leaf("", data=item)
        self._checkpoints[checkpoint_id] = new
        self._relabel(new)

    def _refresh_owner_status(self, node_id: str, task_id: str | None) -> None:
        for key, owner in (
            (node_id, self._flow.get(node_id)),
            (f"task:{task_id}", self._tasks.get(task_id or "")),
        ):
            if owner is None or owner.data is None or key not in self._latest_step:
                continue
            step = self._steps.get(self._latest_step[key])
            if step is not None and step.data is not None:
                owner.data.status = step.data.status
                self._relabel(owner)

    def _set_current(self, node_id: str | None) -> None:
        if node_id == self._current:
            return
        previous, self._current = self._current, node_id
        for key in (previous, node_id):
            if key is not None and key in self._flow:
                self._relabel(self._flow[key])

    def _expand_ancestors(self, node: TreeNode[PlanItem]) -> None:
        parent = node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent

    def _label_text(self, node: TreeNode[PlanItem]) -> Text:
        """A row's label, short enough for a ~27-cell pane at every depth; the longer
        detail (description, error, message) is :meth:`describe`'s, shown for the row
        under the cursor in the pane's bottom border."""
        item = node.data
        if item is None:
            return Text(str(node.label))
        text = Text(no_wrap=True, overflow="ellipsis")
        if item.kind == "checkpoint":
            partial = item.extra.get("partial")
            text.append("◇ " if partial else "◆ ", style="bold yellow" if partial else "cyan")
            text.append(item.label, style="bold yellow" if partial else "cyan")
            if item.key == self._here:
                text.append(" ◀ here", style="bold reverse")
        elif item.kind == "group":
            text.append("◆ " + item.label, style="dim cyan")
            return text
        else:
            icon = STATUS_ICONS.get(item.status, "?")
            text.append(icon + " ", style=_STATUS_STYLES.get(item.status, ""))
            is_current = item.kind == "flow" and item.key == self._current
            if is_current:
                text.append("▶ ", style="bold")
            text.append(item.label, style="bold" if is_current or item.kind == "flow" else "")
            if item.kind == "flow" and item.extra.get("kind"):
                text.append(f" [{item.extra['kind']}]", style="dim")
            if item.kind == "flow" and item.key in self._breakpoints:
                text.append(" ●", style="bold red")
            if item.kind == "step":
                text.append(f" #{item.key}", style="dim")
                if item.extra.get("gate"):
                    text.append(f" {item.extra['gate']}?", style="magenta")
                elif item.extra.get("files"):
                    files = item.extra["files"]
                    text.append(f" {files} file{'s' if files != 1 else ''}", style="dim")
        return text

    def describe(self, node: TreeNode[PlanItem] | None) -> str:
        """The row in words, detail included (what a short label leaves out)."""
        item = node.data if node is not None else None
        if item is None or item.kind == "group":
            return ""
        if item.kind == "checkpoint":
            what = f"checkpoint {item.key} ({item.extra.get('source', '')})"
            if item.extra.get("partial"):
                what += " ◇ partially recoverable"
        elif item.kind == "flow":
            what = f"{item.key} [{item.extra.get('kind', '')}]"
        else:
            what = f"{item.label} {item.status}"
            if item.kind == "step":
                what = f"{item.label} #{item.key} {item.status}"
                if item.extra.get("gate"):
                    what += f", awaiting {item.extra['gate']}"
        if item.kind == "flow" and item.key in self._breakpoints:
            what += " ● breakpoint"
        return f"{what}: {item.detail}" if item.detail else what

    def _relabel(self, node: TreeNode[PlanItem]) -> None:
        node.set_label(self._label_text(node))

    # ------------------------------------------------------------------ messages

    def _post_checkpoint(self, node: TreeNode[PlanItem]) -> None:
        if node.data is not None and node.data.kind == "checkpoint":
            self.post_message(self.CheckpointSelected(self, int(node.data.key)))

    def _on_tree_node_highlighted(self, event: Tree.NodeHighlighted[PlanItem]) -> None:
        self.border_subtitle = self.describe(event.node)
        self._post_checkpoint(event.node)

    def _on_tree_node_selected(self, event: Tree.NodeSelected[PlanItem]) -> None:
        self._post_checkpoint(event.node)
