"""Flow definitions: load, validate and look up YAML flows.

A flow is a YAML graph of nodes (see docs/flows.md for the language). The
loader validates everything *before* anything runs and reports every problem
at once as ``FILE:LINE:COL: message`` (:class:`~engine.errors.FlowIssue`),
raising :class:`~engine.errors.FlowValidationError`. For any input at all it
raises nothing else (a fuzz test holds it to that).

Public API: :class:`Edge`, :class:`NodeSpec`, :class:`FlowSpec`,
:class:`FlowInfo`, :func:`load_flow`, :func:`find_flows`, :func:`get_flow`.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import (
    EngineError,
    FlowIssue,
    FlowNodeMissingError,
    FlowValidationError,
    UsageError,
)
from engine.flow import templates as fj
from engine.flow.listing import (  # noqa: F401 - the listing API stays importable from here
    FlowInfo,
    builtin_flows_dir,
    find_flows,
    project_flows_dir,
)
from engine.flow.yamlpos import TooLarge, Y, parse_yaml
from engine.tools.schemas import TOOL_NAMES as _TOOL_NAMES

KINDS = ("llm", "plan", "agent", "run", "gate")
TARGETS = ("end", "fail")  # reserved edge targets: complete the run / fail it
TOOL_NAMES = tuple(_TOOL_NAMES)  # the public agent tools (engine/tools/schemas.py)
DEFAULT_TOOLS = {
    "agent": [
        "read_file",
        "list_files",
        "search",
        "write_file",
        "edit_file",
        "run_command",
        "finish",
    ],
    "plan": ["read_file", "list_files", "search", "submit_plan"],
}
#: The tools an ``llm`` node may be given: it answers, it never changes anything.
READ_ONLY_TOOLS = ("read_file", "list_files", "search")
BUILTIN_DEFAULTS: dict[str, Any] = {
    "timeout": 600,
    "retries": 0,
    "model": None,
    "max_turns": 30,
    "idempotent": False,
}
TOP_KEYS = ("name", "description", "start", "defaults", "settings", "nodes")
NODE_KEYS = (
    "id",
    "kind",
    "description",
    "prompt",
    "system",
    "next",
    "on_error",
    "on_reject",
    "timeout",
    "retries",
    "max_iterations",
    "foreach",
    "concurrency",
    "output",
    "json",
    "schema",
    "request",
    "tools",
    "max_turns",
    "command",
    "tests",
    "allow_failure",
    "model",
    "idempotent",
    "breakpoint",
)
_NON_GATE = {"llm", "plan", "agent", "run"}
# Which node kinds may use a field (fields not listed are allowed on every kind).
KIND_FIELDS: dict[str, set[str]] = {
    "prompt": {"llm", "plan", "agent", "gate"},
    "system": {"llm", "plan", "agent"},
    "json": {"llm"},
    "schema": {"llm"},
    "request": {"llm", "plan", "agent"},
    "tools": {"agent", "plan", "llm"},
    "max_turns": {"agent", "plan", "llm"},
    "command": {"run"},
    "tests": {"run"},
    "allow_failure": {"run"},
    "on_reject": {"gate"},
    "foreach": {"llm", "agent", "run"},
    "concurrency": {"llm", "agent", "run"},
    "model": {"llm", "plan", "agent"},
    "timeout": _NON_GATE,
    "retries": _NON_GATE,
}
REQUIRED_FIELDS = {
    "llm": ("prompt",),
    "plan": ("prompt",),
    "agent": ("prompt",),
    "run": ("command",),
}
# State keys the engine owns; a node's `output` may not overwrite them
# (except `plan` from a plan node and `tests` from a `tests: true` run node).
RESERVED_OUTPUTS = fj.CONTEXT_NAMES
_FLOW_NAME = re.compile(r"[a-z0-9_-]+\Z")
_NODE_ID = re.compile(r"[A-Za-z0-9_-]+\Z")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SETTING_REF = re.compile(r"settings\.([A-Za-z_][A-Za-z0-9_]*)\Z")


class FlowRuntimeError(EngineError):
    """A template or `when` expression failed while a run was executing."""


@dataclass
class Edge:
    """One outgoing edge: go ``to`` (node id, ``end`` or ``fail``) when ``when`` holds.

    ``when`` None is the default edge (always last in a list).
    """

    to: str
    when: str | None = None
    line: int = 0
    col: int = 0


@dataclass
class NodeSpec:
    """A validated node. Defaults are already applied; ``next`` is never empty.

    ``prompt``/``system`` hold template *source text* (files already read);
    ``prompt_path``/``system_path`` name the .j2 file it came from (None if inline).
    ``marks`` maps each field given in the YAML to its (line, col).
    """

    id: str
    kind: str
    description: str = ""
    prompt: str | None = None
    system: str | None = None
    prompt_path: str | None = None
    system_path: str | None = None
    next: list[Edge] = field(default_factory=list)
    on_error: str | None = None
    on_reject: str | None = None
    timeout: float | None = None
    retries: int = 0
    max_iterations: int | None = None
    max_iterations_setting: str | None = None
    foreach: str | None = None
    concurrency: int | None = None
    output: str = ""
    json: bool = False
    #: JSON Schema the answer of a ``json: true`` node must match.
    schema: dict[str, Any] | None = None
    #: Request fields for this node's model calls (tool_choice, temperature, ...).
    request: dict[str, Any] = field(default_factory=dict)
    tools: list[str] = field(default_factory=list)
    max_turns: int | None = None
    command: str | None = None
    tests: bool = False
    allow_failure: bool = False
    model: str | None = None
    idempotent: bool = False
    breakpoint: bool = False
    line: int = 0
    col: int = 0
    marks: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class FlowSpec:
    """A validated flow. ``nodes`` keeps file order (that is the display order)."""

    name: str
    description: str
    path: str
    source: str  # "builtin" | "project" | "file"
    start: str
    nodes: dict[str, NodeSpec]
    settings: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)

    def node(self, node_id: str) -> NodeSpec:
        """The node ``node_id``; FlowNodeMissingError if the flow (file) has none."""
        try:
            return self.nodes[node_id]
        except KeyError:
            raise FlowNodeMissingError(
                f"flow {self.name} ({self.path}) has no node {node_id!r}, where the run "
                "stands: the flow changed since the run started. Put the node back, or "
                "rewind/retry from a checkpoint before it"
            ) from None

    def node_order(self) -> list[str]:
        """Node ids in file order."""
        return list(self.nodes)

    def _context(self, context: dict[str, Any]) -> dict[str, Any]:
        ctx: dict[str, Any] = {"settings": dict(self.settings)}
        ctx.update(context)
        # `flow` is always this flow ({{ flow }} prints the name, {{ flow.description }} works),
        # even when run state stores just the name under "flow".
        ctx["flow"] = _FlowRef(name=self.name, description=self.description)
        ctx.setdefault("state", dict(context))
        return ctx

    def render(self, template_text: str, context: dict[str, Any]) -> str:
        """Render template source with ``context`` (plus ``flow``/``settings`` if absent).

        Missing optional values render empty (see engine/flow/templates.py); a
        template error raises :class:`FlowRuntimeError`.
        """
        try:
            return fj.render(template_text, self._context(context))
        except Exception as e:  # jinja2 / sandbox / user-object errors alike
            raise FlowRuntimeError(f"flow {self.name}: template failed: {e}") from e

    def eval_when(self, expr: str | Edge, state: dict[str, Any]) -> bool:
        """Evaluate a `when` expression on run state.

        A comparison with a value that does not exist yet is False (so
        ``tests.failed > 0`` before any test ran does not match); any other
        failure raises :class:`FlowRuntimeError` naming the edge's position.
        """
        where = ""
        if isinstance(expr, Edge):
            where = f"{self.path}:{expr.line}:{expr.col}: "
            if expr.when is None:
                return True
            expr = expr.when
        try:
            value = fj.evaluate(expr, self._context(state))
        except Exception as e:
            raise FlowRuntimeError(f"{where}when {expr!r} failed: {e}") from e
        if fj.is_undefined(value):
            return False
        return bool(value)

    def next_node(self, node_id: str, state: dict[str, Any]) -> str:
        """Target of the first edge of ``node_id`` whose `when` holds (node id, end or fail).

        The one routing function: the executor and the gate answer both use it, so a
        failing `when` names its FILE:LINE:COL wherever it is evaluated.
        """
        for edge in self.nodes[node_id].next:
            if self.eval_when(edge, state):
                return edge.to
        return "fail"  # unreachable for validated flows: the last edge is a default

    def max_iterations(self, node_id: str, state: dict[str, Any]) -> int | None:
        """How many times ``node_id`` may run in this run (None: unbounded).

        A bound written ``settings.NAME`` follows the run's setting (``--set NAME=N``);
        the value the flow was loaded with is only its default.
        """
        node = self.nodes[node_id]
        if node.max_iterations_setting:
            value = state.get("settings", {}).get(node.max_iterations_setting)
            if value is not None:
                return int(value)
        return node.max_iterations

    def loop_settings(self) -> set[str]:
        """Names of the settings that bound a loop (``max_iterations: settings.NAME``)."""
        return {n.max_iterations_setting for n in self.nodes.values() if n.max_iterations_setting}


class _FlowRef(dict):
    """``flow`` in templates: a dict {name, description} that renders as the name."""

    def __str__(self) -> str:
        return str(self.get("name", ""))


# --------------------------------------------------------------------------- loading


def _suggest(word: Any, candidates: Any) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(y: Y) -> str:
    if y.kind != "scalar":
        return "a mapping" if y.kind == "map" else "a list"
    v = y.value
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean {v!r}".lower()
    if isinstance(v, int | float):
        return f"number {v!r}"
    return f"text {v!r}"


def load_flow(path: str | os.PathLike[str], source: str = "file") -> FlowSpec:
    """Load and validate the flow file at ``path``.

    ``source`` is recorded on the spec ("builtin", "project" or "file"); for
    builtin/project flows the ``name`` must match the file name. Raises
    FlowValidationError listing every problem; never anything else.
    """
    file = str(path)
    try:
        return _Loader(Path(path), file, source).load()
    except FlowValidationError:
        raise
    except RecursionError:
        raise FlowValidationError([FlowIssue(file, 1, 1, "flow is nested too deeply")]) from None
    except Exception as e:  # last line of defence: the contract is FlowValidationError only
        raise FlowValidationError(
            [FlowIssue(file, 1, 1, f"internal error while validating: {type(e).__name__}: {e}")]
        ) from e


@dataclass
class _Pending:
    """A template or expression to check once all output keys are known."""

    text: str
    kind: str  # "template" | "expression"
    y: Y | None  # inline: the YAML scalar (positions inside it); None for files
    file: str | None  # .j2 file path when the template came from a file
    what: str


class _Loader:
    def __init__(self, path: Path, file: str, source: str):
        self.path = path
        self.file = file
        self.source = source
        self.issues: list[FlowIssue] = []
        self.lines: list[str] = []
        self.pending: list[_Pending] = []
        self.settings: dict[str, Any] = {}
        self.graph_unreliable = False

    # -- helpers
    def err(self, where: Y | tuple[int, int] | None, msg: str, file: str | None = None) -> None:
        if where is None:
            pos = (1, 1)
        elif isinstance(where, Y):
            pos = where.pos
        else:
            pos = where
        self.issues.append(FlowIssue(file or self.file, pos[0], pos[1], msg))

    def fail(self) -> FlowValidationError:
        seen: set[FlowIssue] = set()
        ordered = []
        # Position order, this file first, then the .j2 templates it uses.
        for i in sorted(self.issues, key=lambda i: (i.file != self.file, i.file, i.line, i.col)):
            if i not in seen:
                seen.add(i)
                ordered.append(i)
        return FlowValidationError(ordered)

    def _str(self, y: Y | None, what: str, *, allow_empty: bool = False) -> str | None:
        if y is None:
            return None
        if y.kind != "scalar" or not isinstance(y.value, str):
            self.err(y, f"{what} must be text, got {_type_name(y)}")
            return None
        if not allow_empty and not y.value.strip():
            self.err(y, f"{what} must not be empty")
            return None
        return y.value

    def _bool(self, y: Y | None, what: str) -> bool | None:
        if y is None:
            return None
        if y.kind != "scalar" or not isinstance(y.value, bool):
            self.err(y, f"{what} must be true or false, got {_type_name(y)}")
            return None
        return y.value

    def _int(self, y: Y | None, what: str, minimum: int) -> int | None:
        if y is None:
            return None
        v = y.value
        if y.kind != "scalar" or isinstance(v, bool) or not isinstance(v, int):
            self.err(y, f"{what} must be a whole number, got {_type_name(y)}")
            return None
        if v < minimum:
            self.err(y, f"{what} must be at least {minimum}, got {v}")
            return None
        return v

    def _seconds(self, y: Y | None, what: str) -> float | None:
        if y is None:
            return None
        v = y.value
        if y.kind != "scalar" or isinstance(v, bool) or not isinstance(v, int | float):
            self.err(y, f"{what} must be a number of seconds, got {_type_name(y)}")
            return None
        if not math.isfinite(v) or v <= 0:
            self.err(y, f"{what} must be a positive number of seconds, got {v}")
            return None
        return v

    def _unknown_keys(self, m: Y, allowed: tuple[str, ...], what: str) -> None:
        for key, _ in m.items():
            if key.value not in allowed:
                self.err(key, f"unknown {what} {key.value!r}{_suggest(key.value, allowed)}")

    # -- top level
    def load(self) -> FlowSpec:
        try:
            raw = self.path.read_bytes()
        except OSError as e:
            self.err(None, f"cannot read flow file: {e.strerror or e}")
            raise self.fail() from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.err(None, f"flow file is not UTF-8 text (byte {e.start})")
            raise self.fail() from None
        self.lines = text.splitlines()
        root, issues = parse_yaml(text, self.file)
        self.issues.extend(issues)
        if root is None:
            raise self.fail()
        if root.kind != "map":
            self.err(
                root,
                f"a flow file must be a mapping (name:, description:, nodes:), got {_type_name(root)}",
            )
            raise self.fail()
        spec = self._flow(root)
        if self.issues or spec is None:
            raise self.fail()
        return spec

    def _flow(self, root: Y) -> FlowSpec | None:
        self._unknown_keys(root, TOP_KEYS, "top-level key")
        name = self._str(root.get("name"), "name")
        if root.get("name") is None:
            self.err(root, "missing required key 'name'")
        elif name is not None and not _FLOW_NAME.match(name):
            self.err(root.get("name"), f"name {name!r} must match [a-z0-9_-]+")
        elif name is not None and self.source in ("builtin", "project") and name != self.path.stem:
            self.err(
                root.get("name"),
                f"flow name {name!r} does not match its file name {self.path.name!r}",
            )
        description = self._str(root.get("description"), "description")
        if root.get("description") is None:
            self.err(root, "missing required key 'description'")

        settings_y = root.get("settings")
        if settings_y is not None:
            if settings_y.kind == "scalar" and settings_y.value is None:
                pass
            elif settings_y.kind != "map":
                self.err(settings_y, f"settings must be a mapping, got {_type_name(settings_y)}")
            else:
                try:
                    self.settings = settings_y.plain()
                except TooLarge:
                    self.err(settings_y, "settings are too large (YAML alias expansion)")
        defaults = self._defaults(root.get("defaults"))

        nodes_y = root.get("nodes")
        specs: list[NodeSpec] = []
        if nodes_y is None:
            self.err(root, "missing required key 'nodes'")
        elif nodes_y.kind != "seq":
            self.err(nodes_y, f"nodes must be a list of nodes, got {_type_name(nodes_y)}")
        elif not nodes_y.value:
            self.err(nodes_y, "nodes must not be empty")
        else:
            for item in nodes_y.value:
                spec = self._node(item, defaults)
                if spec is not None:
                    specs.append(spec)

        nodes: dict[str, NodeSpec] = {}
        for spec in specs:
            if spec.id in nodes:
                self.graph_unreliable = True
                first = nodes[spec.id]
                self.err(
                    spec.marks.get("id", (spec.line, spec.col)),
                    f"duplicate node id {spec.id!r} (first defined at line {first.line})",
                )
            else:
                nodes[spec.id] = spec
        # Implicit `next`: fall through to the following node; the last one ends the run.
        for i, spec in enumerate(specs):
            if not spec.next and "next" not in spec.marks:
                following = specs[i + 1].id if i + 1 < len(specs) else "end"
                spec.next = [Edge(following, None, spec.line, spec.col)]

        start = None
        start_y = root.get("start")
        if start_y is not None:
            start = self._str(start_y, "start")
            if start is not None and start not in nodes:
                self.err(start_y, f"start node {start!r} does not exist{_suggest(start, nodes)}")
                start = None
            elif start is None:
                self.graph_unreliable = True
        elif specs:
            start = specs[0].id

        self._check_outputs(specs)
        self._check_pending(nodes)
        graph_ok = self._check_edges(nodes)
        if graph_ok and not self.graph_unreliable and start is not None and start in nodes:
            self._check_graph(nodes, start)

        if self.issues or name is None or description is None or start is None:
            return None
        return FlowSpec(
            name=name,
            description=description,
            path=self.file,
            source=self.source,
            start=start,
            nodes=nodes,
            settings=self.settings,
            defaults=defaults,
        )

    def _defaults(self, y: Y | None) -> dict[str, Any]:
        defaults = dict(BUILTIN_DEFAULTS)
        if y is None or (y.kind == "scalar" and y.value is None):
            return defaults
        if y.kind != "map":
            self.err(y, f"defaults must be a mapping, got {_type_name(y)}")
            return defaults
        self._unknown_keys(y, tuple(BUILTIN_DEFAULTS), "defaults key")
        checks = {
            "timeout": lambda v: self._seconds(v, "defaults.timeout"),
            "retries": lambda v: self._int(v, "defaults.retries", 0),
            "max_turns": lambda v: self._int(v, "defaults.max_turns", 1),
            "idempotent": lambda v: self._bool(v, "defaults.idempotent"),
        }
        for key, check in checks.items():
            value = check(y.get(key))
            if value is not None:
                defaults[key] = value
        model_y = y.get("model")
        if model_y is not None and not (model_y.kind == "scalar" and model_y.value is None):
            model = self._str(model_y, "defaults.model")
            if model is not None:
                defaults["model"] = model
        return defaults

    # -- nodes
    def _node(self, y: Y, defaults: dict[str, Any]) -> NodeSpec | None:
        if y.kind != "map":
            self.err(y, f"each node must be a mapping (id:, kind:, ...), got {_type_name(y)}")
            return None
        self._unknown_keys(y, NODE_KEYS, "node key")
        y = _drop_nulls(y, keep=("id", "kind"))  # `on_error: null` etc. mean "not set"
        marks = {k.value: k.pos for k, _ in y.items()}

        id_y = y.get("id")
        node_id = self._str(id_y, "node id")
        if id_y is None:
            self.err(y, "node is missing required key 'id'")
        elif node_id is not None:
            if not _NODE_ID.match(node_id):
                self.err(id_y, f"node id {node_id!r} must match [A-Za-z0-9_-]+")
                node_id = None
            elif node_id in TARGETS:
                self.err(id_y, f"node id {node_id!r} is reserved (it is an edge target)")
                node_id = None
        label = f"node {node_id!r}" if node_id else "node"

        kind_y = y.get("kind")
        kind = self._str(kind_y, f"{label}: kind")
        if kind_y is None:
            self.err(y, f"{label} is missing required key 'kind' (one of {', '.join(KINDS)})")
        elif kind is not None and kind not in KINDS:
            self.err(
                kind_y,
                f"unknown node kind {kind!r}{_suggest(kind, KINDS)}; expected one of {', '.join(KINDS)}",
            )
            kind = None

        if kind is not None:
            for fld, kinds in KIND_FIELDS.items():
                if y.key_node(fld) is not None and kind not in kinds:
                    only = " or ".join(sorted(kinds))
                    self.err(
                        y.key_node(fld),
                        f"{fld!r} is only allowed on {only} nodes ({label} is kind {kind!r})",
                    )
            for fld in REQUIRED_FIELDS.get(kind, ()):
                if y.get(fld) is None:
                    self.err(y, f"{label} (kind {kind!r}) is missing required key {fld!r}")

        def allowed(fld: str) -> bool:
            return kind is None or kind in KIND_FIELDS.get(fld, set(KINDS))

        spec = NodeSpec(id=node_id or "", kind=kind or "", line=y.line, col=y.col, marks=marks)
        if id_y is not None:
            spec.marks["id"] = id_y.pos

        spec.description = (
            self._str(y.get("description"), f"{label}: description", allow_empty=True) or ""
        )
        for fld in ("prompt", "system"):
            fld_y = y.get(fld)
            if allowed(fld) and fld_y is not None:
                text, tpath = self._template_field(fld_y, f"{label}: {fld}")
                setattr(spec, fld, text)
                setattr(spec, f"{fld}_path", tpath)

        before = len(self.issues)
        spec.next = self._edges(y.get("next"), label)
        if len(self.issues) != before:
            self.graph_unreliable = True  # graph checks would only echo this problem
        for fld in ("on_error", "on_reject"):
            ty = y.get(fld)
            if ty is not None and allowed(fld):
                target = self._str(ty, f"{label}: {fld}")
                if target is not None:
                    setattr(spec, fld, target)
                    spec.marks[f"{fld}:value"] = ty.pos

        if kind != "gate":
            t = self._seconds(y.get("timeout"), f"{label}: timeout") if allowed("timeout") else None
            spec.timeout = t if t is not None else defaults["timeout"]
            r = self._int(y.get("retries"), f"{label}: retries", 0) if allowed("retries") else None
            spec.retries = r if r is not None else defaults["retries"]
        else:
            spec.timeout = None
            spec.retries = 0

        mi_y = y.get("max_iterations")
        if mi_y is not None:
            if mi_y.kind == "scalar" and isinstance(mi_y.value, str):
                m = _SETTING_REF.match(mi_y.value.strip())
                if not m:
                    self.err(
                        mi_y,
                        f"{label}: max_iterations must be a whole number or 'settings.NAME', "
                        f"got {_type_name(mi_y)}",
                    )
                elif m.group(1) not in self.settings:
                    self.err(
                        mi_y,
                        f"{label}: max_iterations refers to settings.{m.group(1)}, which is not "
                        f"declared{_suggest(m.group(1), self.settings)}",
                    )
                else:
                    v = self.settings[m.group(1)]
                    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                        self.err(
                            mi_y,
                            f"{label}: settings.{m.group(1)} must be a whole number >= 1 "
                            f"to bound max_iterations, got {v!r}",
                        )
                    else:
                        spec.max_iterations = v
                        spec.max_iterations_setting = m.group(1)
            else:
                spec.max_iterations = self._int(mi_y, f"{label}: max_iterations", 1)

        fe_y = y.get("foreach")
        if fe_y is not None and allowed("foreach"):
            spec.foreach = self._str(fe_y, f"{label}: foreach")
            if spec.foreach is not None:
                self.pending.append(
                    _Pending(spec.foreach, "expression", fe_y, None, f"{label}: foreach")
                )
        cc_y = y.get("concurrency")
        if cc_y is not None and allowed("concurrency"):
            spec.concurrency = self._int(cc_y, f"{label}: concurrency", 1)
            if fe_y is None:
                self.err(cc_y, f"{label}: concurrency needs foreach (it limits parallel items)")
        if spec.foreach is not None and spec.concurrency is None:
            spec.concurrency = 1

        out_y = y.get("output")
        if out_y is not None:
            out = self._str(out_y, f"{label}: output")
            if out is not None and not _IDENT.match(out):
                self.err(
                    out_y, f"{label}: output {out!r} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)"
                )
            elif out is not None:
                spec.output = out
                spec.marks["output:value"] = out_y.pos
        if not spec.output:
            spec.output = spec.id

        for fld in ("json", "tests", "allow_failure", "idempotent", "breakpoint"):
            if y.get(fld) is not None and allowed(fld):
                v = self._bool(y.get(fld), f"{label}: {fld}")
                if v is not None:
                    setattr(spec, fld, v)
        if y.get("idempotent") is None:
            spec.idempotent = bool(defaults["idempotent"])
        if spec.tests:
            af = y.get("allow_failure")
            if af is not None and af.value is False:
                self.err(af, f"{label}: allow_failure is always true with tests: true")
            spec.allow_failure = True

        if kind in DEFAULT_TOOLS:
            spec.tools = list(DEFAULT_TOOLS[kind])
            tools_y = y.get("tools")
            if tools_y is not None:
                tools = self._tools(tools_y, label, kind)
                if tools is not None:
                    spec.tools = tools
            mt = self._int(y.get("max_turns"), f"{label}: max_turns", 1)
            spec.max_turns = mt if mt is not None else defaults["max_turns"]
        elif kind == "llm" and (tools_y := y.get("tools")) is not None:
            tools = self._tools(tools_y, label, kind) or []
            writers = [t for t in tools if t not in READ_ONLY_TOOLS]
            if writers:
                self.err(
                    tools_y,
                    f"{label}: llm nodes only read ({', '.join(READ_ONLY_TOOLS)}); "
                    f"not {', '.join(writers)}",
                )
            spec.tools = [t for t in tools if t in READ_ONLY_TOOLS]
            mt = self._int(y.get("max_turns"), f"{label}: max_turns", 1)
            spec.max_turns = mt if mt is not None else defaults["max_turns"]
        elif kind is None and (tools_y := y.get("tools")) is not None:
            self._tools(tools_y, label, None)

        schema_y = y.get("schema")
        if schema_y is not None and allowed("schema"):
            spec.schema = self._schema(schema_y, label, spec.json)
        request_y = y.get("request")
        if request_y is not None and allowed("request"):
            spec.request = self._request(request_y, label)

        cmd_y = y.get("command")
        if cmd_y is not None and allowed("command"):
            spec.command = self._str(cmd_y, f"{label}: command")
            if spec.command is not None:
                self.pending.append(
                    _Pending(spec.command, "template", cmd_y, None, f"{label}: command")
                )

        model_y = y.get("model")
        if allowed("model") and kind != "run" and kind != "gate":
            spec.model = defaults["model"]
            if model_y is not None and not (model_y.kind == "scalar" and model_y.value is None):
                spec.model = self._str(model_y, f"{label}: model")
        return spec

    def _request(self, y: Y, label: str) -> dict[str, Any]:
        """Per-node request fields, validated like the model's ``[model.request]``."""
        from engine.models.settings import request_options_problem

        if y.kind != "map":
            self.err(y, f"{label}: request must be a mapping of request fields")
            return {}
        try:
            options = y.plain()
        except TooLarge:
            self.err(y, f"{label}: request is too large (YAML alias expansion)")
            return {}
        problem = request_options_problem(options)
        if problem:
            self.err(y, f"{label}: request: {problem}")
            return {}
        return options

    def _schema(self, y: Y, label: str, is_json: bool) -> dict[str, Any] | None:
        """A JSON Schema (a mapping) for a ``json: true`` node's answer, checked now."""
        import jsonschema

        if not is_json:
            self.err(y, f"{label}: schema needs json: true")
            return None
        if y.kind != "map":
            self.err(y, f"{label}: schema must be a JSON Schema mapping, got {_type_name(y)}")
            return None
        try:
            schema = y.plain()
        except TooLarge:
            self.err(y, f"{label}: schema is too large (YAML alias expansion)")
            return None
        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as e:
            self.err(y, f"{label}: schema is not a valid JSON Schema: {e.message}")
            return None
        return schema

    def _tools(self, y: Y, label: str, kind: str | None) -> list[str] | None:
        if y.kind != "seq":
            self.err(y, f"{label}: tools must be a list of tool names, got {_type_name(y)}")
            return None
        tools: list[str] = []
        for item in y.value:
            name = self._str(item, f"{label}: tool name")
            if name is None:
                continue
            if name.startswith("mcp__"):  # an MCP server's tools: checked when the node runs
                if not name[len("mcp__") :].split("__")[0]:
                    self.err(item, f"{name!r}: write mcp__SERVER or mcp__SERVER__TOOL")
                else:
                    tools.append(name)
                continue
            if name not in TOOL_NAMES:
                self.err(
                    item,
                    f"unknown tool {name!r}{_suggest(name, TOOL_NAMES)}; valid tools: {', '.join(TOOL_NAMES)}",
                )
                continue
            if name == "submit_plan" and kind == "agent":
                self.err(item, f"{label}: submit_plan is only available to plan nodes")
                continue
            if name not in tools:
                tools.append(name)
        if kind == "plan" and "submit_plan" not in tools and len(tools) == len(y.value):
            self.err(y, f"{label}: plan nodes need the submit_plan tool")
        return tools

    def _template_field(self, y: Y, what: str) -> tuple[str | None, str | None]:
        text = self._str(y, what)
        if text is None:
            return None, None
        ref = text.strip()
        if ref.endswith(".j2") and "\n" not in ref and "{" not in ref:
            resolved = self._find_template(ref)
            if resolved is None:
                self.err(
                    y, f"{what}: template file {ref!r} not found (relative to {self.path.parent})"
                )
                return None, None
            try:
                body = resolved.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                self.err(y, f"{what}: cannot read template {ref!r}: {e}")
                return None, None
            self.pending.append(_Pending(body, "template", None, str(resolved), what))
            return body, str(resolved)
        self.pending.append(_Pending(text, "template", y, None, what))
        return text, None

    def _find_template(self, ref: str) -> Path | None:
        # Relative to the flow file; then the built-in flows dir, so a copied
        # built-in flow (.llmflows/flows/x.yaml) keeps using the shipped prompts.
        candidates = [self.path.parent / ref]
        try:
            candidates.append(builtin_flows_dir() / ref)
        except Exception:  # flows package unavailable: only the local path counts
            pass
        for c in candidates:
            try:
                if c.is_file():
                    return c
            except OSError:
                continue
        return None

    def _edges(self, y: Y | None, label: str) -> list[Edge]:
        if y is None:
            return []
        if y.kind == "scalar":
            to = self._str(y, f"{label}: next")
            return [Edge(to, None, y.line, y.col)] if to is not None else []
        if y.kind != "seq":
            self.err(y, f"{label}: next must be a node id or a list of edges, got {_type_name(y)}")
            return []
        if not y.value:
            self.err(y, f"{label}: next must not be an empty list")
            return []
        edges: list[Edge] = []
        default_seen: Y | None = None
        for item in y.value:
            if item.kind != "map":
                self.err(
                    item,
                    f"{label}: each edge must be a mapping with 'to' (and 'when'), got {_type_name(item)}",
                )
                continue
            self._unknown_keys(item, ("to", "when"), "edge key")
            if default_seen is not None:
                self.err(
                    item,
                    f"{label}: edge after the default edge (line {default_seen.line}) is never taken",
                )
            to_y = item.get("to")
            if to_y is None:
                self.err(item, f"{label}: edge is missing required key 'to'")
                continue
            to = self._str(to_y, f"{label}: edge target")
            when_y = item.get("when")
            when = None
            if when_y is not None:
                when = self._str(when_y, f"{label}: when")
                if when is not None:
                    self.pending.append(
                        _Pending(when, "expression", when_y, None, f"{label}: when")
                    )
                else:
                    continue
            else:
                default_seen = item
            if to is not None:
                edges.append(Edge(to, when, to_y.line, to_y.col))
        if default_seen is None and edges:
            self.err(
                y,
                f"{label}: conditional edges need a final default edge without 'when' (- to: NODE)",
            )
        return edges

    # -- cross-node checks
    def _check_outputs(self, specs: list[NodeSpec]) -> None:
        for spec in specs:
            if not spec.id or not spec.kind:
                continue
            out = spec.output
            if out not in RESERVED_OUTPUTS:
                continue
            if (out == "plan" and spec.kind == "plan") or (out == "tests" and spec.tests):
                continue
            pos = spec.marks.get("output:value") or spec.marks.get("id", (spec.line, spec.col))
            hint = "" if "output:value" in spec.marks else "; set output: to another name"
            self.err(pos, f"node {spec.id!r}: output key {out!r} is reserved (engine state){hint}")

    def _known_names(self, nodes: dict[str, NodeSpec]) -> set[str]:
        return set(fj.CONTEXT_NAMES) | {n.output for n in nodes.values() if _IDENT.match(n.output)}

    def _check_pending(self, nodes: dict[str, NodeSpec]) -> None:
        known = self._known_names(nodes)
        keys = {k for k in self.settings if isinstance(k, str)}
        for p in self.pending:
            if p.kind == "template":
                problems = fj.check_template(p.text, known, keys)
            else:
                problems = fj.check_expression(p.text, known, keys)
            for prob in problems:
                if p.file is not None:
                    pos = _token_pos(_file_lines(p.file), prob.lineno, 1, prob.token)
                    self.err(pos, f"{p.what}: {prob.message}", file=p.file)
                else:
                    assert p.y is not None
                    line, col = self._inline_pos(p.y, prob.lineno)
                    pos = _token_pos(self.lines, line, col, prob.token)
                    self.err(pos, f"{p.what}: {prob.message}")

    def _inline_pos(self, y: Y, lineno: int) -> tuple[int, int]:
        """Map line ``lineno`` of an inline template to a file position."""
        if y.style in ("|", ">"):
            line = y.line + lineno  # block content starts on the line after the indicator
        elif lineno <= 1 or y.end_line == y.line:
            return (y.line, y.col + (1 if y.style in ('"', "'") else 0))
        else:
            line = y.line + lineno - 1
        line = max(1, min(line, len(self.lines) or 1))
        text = self.lines[line - 1] if self.lines else ""
        return (line, len(text) - len(text.lstrip(" ")) + 1)

    def _check_edges(self, nodes: dict[str, NodeSpec]) -> bool:
        ok = True
        for spec in nodes.values():
            targets = [(e.to, (e.line, e.col), "next") for e in spec.next]
            for fld in ("on_error", "on_reject"):
                t = getattr(spec, fld)
                if t is not None:
                    targets.append((t, spec.marks.get(f"{fld}:value", (spec.line, spec.col)), fld))
            for to, pos, fld in targets:
                if to in nodes or to in TARGETS:
                    continue
                ok = False
                self.err(
                    pos,
                    f"node {spec.id!r}: {fld} target {to!r} does not exist"
                    f"{_suggest(to, list(nodes) + list(TARGETS))} (use a node id, 'end' or 'fail')",
                )
        return ok

    def _check_graph(self, nodes: dict[str, NodeSpec], start: str) -> None:
        def succ(n: NodeSpec) -> list[str]:
            out = [e.to for e in n.next]
            out += [t for t in (n.on_error, n.on_reject) if t is not None]
            return out

        seen = {start}
        stack = [start]
        reaches_end = False
        while stack:
            n = nodes[stack.pop()]
            for t in succ(n):
                if t == "end":
                    reaches_end = True
                if t in nodes and t not in seen:
                    seen.add(t)
                    stack.append(t)
        for spec in nodes.values():
            if spec.id not in seen:
                self.err(
                    spec.marks.get("id", (spec.line, spec.col)),
                    f"node {spec.id!r} is unreachable from start {start!r}",
                )
        if not reaches_end:
            s = nodes[start]
            self.err(
                s.marks.get("id", (s.line, s.col)), f"no path from start {start!r} reaches 'end'"
            )

        # Unbounded loops: drop nodes that bound a loop (max_iterations) and gates
        # (a human answers each time round); whatever cycle remains can spin forever.
        free = {i for i, n in nodes.items() if n.max_iterations is None and n.kind != "gate"}
        graph = {
            i: [
                t
                for t in [e.to for e in nodes[i].next]
                + ([nodes[i].on_error] if nodes[i].on_error else [])
                if t in free
            ]
            for i in free
        }
        order = list(nodes)
        for comp in _sccs(graph, order):
            if len(comp) == 1 and comp[0] not in graph[comp[0]]:
                continue
            comp.sort(key=order.index)
            first = nodes[comp[0]]
            loop = " -> ".join(comp + [comp[0]]) if len(comp) > 1 else f"{comp[0]} -> {comp[0]}"
            self.err(
                first.marks.get("id", (first.line, first.col)),
                f"unbounded loop {loop}: set max_iterations on one of these nodes",
            )


def _drop_nulls(y: Y, keep: tuple[str, ...]) -> Y:
    pairs = [
        (k, v)
        for k, v in y.items()
        if k.value in keep or not (v.kind == "scalar" and v.value is None)
    ]
    out = Y("map", y.line, y.col, pairs, y.style, y.end_line, y.end_col)
    out._index = {k.value: (k, v) for k, v in pairs}
    return out


def _file_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _token_pos(lines: list[str], line: int, col: int, token: str | None) -> tuple[int, int]:
    """Move ``col`` to where ``token`` (a whole word) appears on ``line``, if it does."""
    if token and 0 < line <= len(lines):
        m = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(token)}(?![A-Za-z0-9_])").search(
            lines[line - 1], max(col - 1, 0)
        )
        if m:
            return (line, m.start() + 1)
    return (line, col)


def _sccs(graph: dict[str, list[str]], order: list[str]) -> list[list[str]]:
    """Strongly connected components (iterative Kosaraju)."""
    visited: set[str] = set()
    finish: list[str] = []
    for root in (n for n in order if n in graph):
        if root in visited:
            continue
        visited.add(root)
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack.pop()
            succ = graph[node]
            if i < len(succ):
                stack.append((node, i + 1))
                nxt = succ[i]
                if nxt not in visited:
                    visited.add(nxt)
                    stack.append((nxt, 0))
            else:
                finish.append(node)
    reverse: dict[str, list[str]] = {n: [] for n in graph}
    for n, succ in graph.items():
        for t in succ:
            reverse[t].append(n)
    assigned: set[str] = set()
    comps: list[list[str]] = []
    for root in reversed(finish):
        if root in assigned:
            continue
        comp = []
        assigned.add(root)
        todo = [root]
        while todo:
            n = todo.pop()
            comp.append(n)
            for t in reverse[n]:
                if t not in assigned:
                    assigned.add(t)
                    todo.append(t)
        comps.append(comp)
    return comps


# --------------------------------------------------------------------------- lookup


def get_flow(
    name_or_path: str | os.PathLike[str], repo_root: str | os.PathLike[str] | None
) -> FlowSpec:
    """Load a flow by name (project overrides built-in) or by path to a .yaml file.

    Unknown names raise UsageError listing the available flows.
    """
    text = str(name_or_path)
    looks_like_path = (
        isinstance(name_or_path, os.PathLike)
        or text.endswith((".yaml", ".yml"))
        or "/" in text
        or os.sep in text
    )
    if looks_like_path:
        p = Path(text).expanduser()
        if not p.is_file() and not p.is_absolute() and repo_root is not None:
            alt = Path(repo_root) / p
            if alt.is_file():
                p = alt
        if not p.is_file():
            raise UsageError(f"flow file not found: {text}")
        return load_flow(p, "file")
    flows = find_flows(repo_root)
    for info in flows:
        if info.name == text:
            return load_flow(info.path, info.source)
    names = [f.name for f in flows]
    raise UsageError(
        f"unknown flow {text!r}{_suggest(text, names)}; available flows: {', '.join(names) or '(none)'}"
    )
