"""Scripted model: replay canned responses from a YAML file (``--model scripted:PATH``).

This module holds the *format* (load, validate, choose, write) and imports no
litellm. The litellm side — a ``CustomLLM`` registered as provider
``scripted`` so streaming, usage and cost take litellm's real code path —
lives in :mod:`engine.models.scripted_llm` and is registered by
:func:`engine.models.loader.get_litellm`. See ``docs/scripted.md``.

Script format (YAML)::

    responses:
      - node: plan                 # optional: only calls from this node use it
        task: t2                   # optional: only calls for this plan task (foreach item)
        attempt: 2                 # optional: only calls of this attempt of the step
        text: "Here is the plan"   # optional
        tool_calls:                # optional
          - name: submit_plan
            arguments: {tasks: [{id: t1, title: Add tests}]}
        usage: {prompt_tokens: 120, completion_tokens: 30, cached_tokens: 0}  # optional
        latency: 0.2               # optional, seconds
      - error: 429                 # optional injected error: 429 | 500 | timeout | malformed
    decisions:                     # optional: answers to the run's gates, in order
      - {gate: plan, decision: approve, tasks: [{title: Add tests}]}
      - {gate: review, node: edit, decision: reject, reason: "keep the old name"}

A bare list (without ``responses:``) is accepted too.
"""

from __future__ import annotations

import functools
import os
import stat
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ModelConfigError

if TYPE_CHECKING:
    import yaml

#: litellm provider name registered through ``litellm.custom_provider_map``.
SCRIPTED_PROVIDER = "scripted"
#: The litellm model string every scripted call uses (the path travels in metadata).
SCRIPTED_LITELLM_MODEL = "scripted/script"
#: Documented price of scripted models, so demos show a real (small) cost:
#: $1 per million input tokens, $2 per million output, $0.10 per million cached.
SCRIPTED_PRICE: dict[str, float] = {
    "input_cost_per_token": 1e-6,
    "output_cost_per_token": 2e-6,
    "cache_read_input_token_cost": 1e-7,
}
#: Errors a script entry may inject (raised as the matching litellm exception).
SCRIPTED_ERRORS = ("429", "500", "timeout", "malformed")

_ENTRY_KEYS = {"text", "tool_calls", "node", "task", "attempt", "usage", "latency", "error"}
_USAGE_KEYS = {"prompt_tokens", "completion_tokens", "cached_tokens"}


@dataclass(frozen=True)
class CallKey:
    """What a model call says about itself: its node, plan task and attempt."""

    node: str | None = None
    task: str | None = None
    attempt: int | None = None

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> CallKey:
        attempt = meta.get("attempt")
        return cls(
            node=meta.get("node"),
            task=meta.get("task"),
            attempt=int(attempt) if attempt is not None else None,
        )

    def describe(self) -> str:
        if not self.node:
            return "this call (no node)"
        extra = "".join(
            f", {k} {v!r}" for k, v in (("task", self.task), ("attempt", self.attempt)) if v
        )
        return f"node {self.node!r}{extra}"


@dataclass
class ScriptEntry:
    """One canned response. ``tool_calls`` items: ``{"name", "arguments": dict, "id"?}``."""

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    node: str | None = None
    #: Only calls for this plan task (the foreach item's id) may use the entry.
    task: str | None = None
    #: Only calls of this attempt (1 = first) of their step may use the entry.
    attempt: int | None = None
    usage: dict[str, int] | None = None
    latency: float = 0.0
    error: str | None = None

    def matches(self, call: CallKey) -> bool:
        """True when every key the entry sets agrees with the call's."""
        return (
            (self.node is None or self.node == call.node)
            and (self.task is None or self.task == call.task)
            and (self.attempt is None or self.attempt == call.attempt)
        )

    def to_yaml_dict(self) -> dict[str, Any]:
        """The mapping written to a script file (defaults omitted)."""
        d: dict[str, Any] = {}
        if self.node is not None:
            d["node"] = self.node
        if self.task is not None:
            d["task"] = self.task
        if self.attempt is not None:
            d["attempt"] = self.attempt
        if self.text:
            d["text"] = self.text
        if self.tool_calls:
            d["tool_calls"] = [dict(tc) for tc in self.tool_calls]
        if self.usage is not None:
            d["usage"] = dict(self.usage)
        if self.latency:
            d["latency"] = self.latency
        if self.error is not None:
            d["error"] = self.error
        return d


#: Gate kinds a script may answer: what a person decides about the run's work.
#: Breakpoint and crash pauses belong to one session, not to the run, so a replay
#: leaves them to whoever is watching.
SCRIPTED_GATE_KINDS = ("plan", "review", "gate", "command", "tests", "context")
SCRIPTED_DECISIONS = ("approve", "reject", "stop")
_DECISION_KEYS = {"gate", "node", "decision", "reason", "drop_hunks", "tasks"}


@dataclass(frozen=True)
class ScriptDecision:
    """A person's answer to one gate, replayed in order (``decisions:`` in a script).

    ``drop_hunks``: ``(path, index, key)`` of hunks dropped by a partial approval
    (matched by ``key`` — the hunk's content — when given). ``tasks``: the task list
    the person approved at a plan gate, when they edited it.
    """

    gate: str
    decision: str
    node: str | None = None
    reason: str = ""
    drop_hunks: tuple[tuple[str, int, str | None], ...] = ()
    tasks: tuple[dict[str, Any], ...] | None = None

    def to_yaml_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"gate": self.gate}
        if self.node is not None:
            d["node"] = self.node
        d["decision"] = self.decision
        if self.reason:
            d["reason"] = self.reason
        if self.drop_hunks:
            d["drop_hunks"] = [
                {"path": p, "index": i, **({"key": k} if k else {})} for p, i, k in self.drop_hunks
            ]
        if self.tasks is not None:
            d["tasks"] = [dict(t) for t in self.tasks]
        return d

    def describe(self) -> str:
        where = f" at {self.node}" if self.node else ""
        return f"{self.decision} ({self.gate} gate{where})"


@dataclass
class Script:
    path: str
    entries: list[ScriptEntry]
    #: When every entry a node can use has been used, start again (least used first)
    #: instead of failing: for demos, where a person may reject and retry.
    repeat: bool = False
    #: Answers to the run's gates, in the order the gates open.
    decisions: list[ScriptDecision] = field(default_factory=list)

    def choose(self, call: CallKey, consumed: Iterable[int]) -> int | None:
        """Index of the first unused entry whose ``node``, ``task`` and ``attempt``
        match the call (each when set).

        ``consumed`` lists one index per use. With ``repeat``, a call whose
        entries are all used gets the least-used one (earliest first), so its
        sequence plays again from the start.
        """
        uses = Counter(consumed)
        usable = [i for i, e in enumerate(self.entries) if e.matches(call)]
        for i in usable:
            if not uses[i]:
                return i
        if self.repeat and usable:
            return min(usable, key=lambda i: (uses[i], i))
        return None

    def exhausted_message(self, call: CallKey, consumed: Iterable[int]) -> str:
        usable = [i for i, e in enumerate(self.entries) if e.matches(call)]
        used = set(consumed)
        return (
            f"script exhausted: {self.path} has no response left for {call.describe()}: "
            f"{len(self.entries)} entries in the file, {len(usable)} usable by it, "
            f"{len([i for i in usable if i in used])} already used. "
            "Add entries to the script (or record a run and `export-script` it)."
        )


def _fail(path: str, where: str, msg: str) -> ModelConfigError:
    return ModelConfigError(f"{path}: {where}: {msg}")


def _check_keys(path: str, where: str, raw: Any, allowed: set[str] | frozenset[str]) -> None:
    """``raw`` is a mapping whose keys are all ``allowed`` (else the error names them)."""
    if not isinstance(raw, Mapping):
        raise _fail(path, where, f"expected a mapping, got {type(raw).__name__}")
    unknown = set(raw) - allowed
    if unknown:
        raise _fail(path, where, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _parse_entry(path: str, i: int, raw: Any) -> ScriptEntry:
    where = f"responses[{i}]"
    _check_keys(path, where, raw, _ENTRY_KEYS)
    text = raw.get("text") or ""
    if not isinstance(text, str):
        raise _fail(path, where, "`text` must be a string")
    node = raw.get("node")
    if node is not None and not isinstance(node, str):
        raise _fail(path, where, "`node` must be a string")
    task = raw.get("task")
    if task is not None and not isinstance(task, str):
        raise _fail(path, where, "`task` must be a string (a plan task id such as t2)")
    attempt = raw.get("attempt")
    if attempt is not None and (
        isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1
    ):
        raise _fail(path, where, "`attempt` must be a whole number from 1")
    calls: list[dict[str, Any]] = []
    for j, tc in enumerate(raw.get("tool_calls") or []):
        if not isinstance(tc, Mapping) or not isinstance(tc.get("name"), str):
            raise _fail(path, f"{where}.tool_calls[{j}]", "needs `name` (string)")
        args = tc.get("arguments") or {}
        if not isinstance(args, Mapping):
            raise _fail(path, f"{where}.tool_calls[{j}]", "`arguments` must be a mapping")
        call: dict[str, Any] = {"name": tc["name"], "arguments": dict(args)}
        if tc.get("id") is not None:
            call["id"] = str(tc["id"])
        calls.append(call)
    usage = raw.get("usage")
    if usage is not None:
        if not isinstance(usage, Mapping) or set(usage) - _USAGE_KEYS:
            raise _fail(path, where, f"`usage` keys must be among {sorted(_USAGE_KEYS)}")
        if not all(isinstance(v, int) and v >= 0 for v in usage.values()):
            raise _fail(path, where, "`usage` values must be non-negative integers")
        usage = dict(usage)
    latency = raw.get("latency") or 0.0
    if not isinstance(latency, int | float) or latency < 0:
        raise _fail(path, where, "`latency` must be a non-negative number of seconds")
    error = raw.get("error")
    if error is not None:
        error = str(error)
        if error not in SCRIPTED_ERRORS:
            raise _fail(path, where, f"`error` must be one of {list(SCRIPTED_ERRORS)}")
    return ScriptEntry(
        text=text,
        tool_calls=calls,
        node=node,
        task=task,
        attempt=attempt,
        usage=usage,
        latency=float(latency),
        error=error,
    )


def _parse_decision(path: str, i: int, raw: Any) -> ScriptDecision:
    where = f"decisions[{i}]"
    _check_keys(path, where, raw, _DECISION_KEYS)
    gate, decision = raw.get("gate"), raw.get("decision")
    if gate not in SCRIPTED_GATE_KINDS:
        raise _fail(path, where, f"`gate` must be one of {list(SCRIPTED_GATE_KINDS)}")
    if decision not in SCRIPTED_DECISIONS:
        raise _fail(path, where, f"`decision` must be one of {list(SCRIPTED_DECISIONS)}")
    node, reason = raw.get("node"), raw.get("reason") or ""
    if node is not None and not isinstance(node, str):
        raise _fail(path, where, "`node` must be a string")
    if not isinstance(reason, str) or (decision == "reject" and not reason.strip()):
        raise _fail(path, where, "`reason` must be a string (a rejection needs one)")
    hunks = []
    for j, h in enumerate(raw.get("drop_hunks") or []):
        if (
            not isinstance(h, Mapping)
            or not isinstance(h.get("path"), str)
            or not isinstance(h.get("index"), int)
        ):
            raise _fail(path, f"{where}.drop_hunks[{j}]", "needs `path` and `index`")
        key = h.get("key")
        hunks.append((h["path"], h["index"], str(key) if key is not None else None))
    tasks = raw.get("tasks")
    if tasks is not None:
        if not isinstance(tasks, list) or not tasks:
            raise _fail(path, where, "`tasks` must be a non-empty list")
        if gate != "plan" or decision != "approve":
            raise _fail(path, where, "`tasks` goes with `gate: plan` and `decision: approve`")
        tasks = tuple({"title": t} if isinstance(t, str) else dict(t) for t in tasks)
    return ScriptDecision(
        gate=str(gate),
        decision=str(decision),
        node=node,
        reason=reason,
        drop_hunks=tuple(hunks),
        tasks=tasks,
    )


_cache: dict[str, tuple[float, int, Script]] = {}
_cache_lock = threading.Lock()


def load_script(path: str | os.PathLike[str]) -> Script:
    """Load and validate a script; ModelConfigError (with file and entry) if it is wrong.

    Cached by (mtime, size) so each call re-reads a file edited between calls.
    """
    p = str(path)
    try:
        st = os.stat(p)
    except OSError as e:
        raise ModelConfigError(
            f"scripted model: cannot read script {p}: {e.strerror or e}"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelConfigError(f"scripted model: {p} is not a file; give the script's YAML file")
    with _cache_lock:
        hit = _cache.get(p)
        if hit and hit[0] == st.st_mtime and hit[1] == st.st_size:
            return hit[2]
    import yaml

    try:
        data = yaml.safe_load(Path(p).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ModelConfigError(f"scripted model: cannot read script {p}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        loc = f"{mark.line + 1}:{mark.column + 1}" if mark else "?"
        problem = getattr(e, "problem", None) or str(e)
        raise ModelConfigError(f"{p}:{loc}: invalid YAML: {problem}") from None
    repeat = False
    raw_decisions: Any = []
    if isinstance(data, Mapping):
        if "responses" not in data:
            raise ModelConfigError(f"{p}: expected a top-level `responses:` list")
        repeat = data.get("repeat", False)
        if not isinstance(repeat, bool):
            raise ModelConfigError(f"{p}: `repeat` must be true or false")
        raw_decisions = data.get("decisions") or []
        if not isinstance(raw_decisions, list):
            raise ModelConfigError(f"{p}: `decisions` must be a list of gate answers")
        unknown = set(data) - {"responses", "repeat", "decisions"}
        if unknown:
            raise ModelConfigError(f"{p}: unknown top-level key(s): {', '.join(sorted(unknown))}")
        data = data["responses"]
    if data is None:
        data = []
    if not isinstance(data, list):
        raise ModelConfigError(f"{p}: `responses` must be a list of entries")
    entries = [_parse_entry(p, i, raw) for i, raw in enumerate(data)]
    decisions = [_parse_decision(p, i, raw) for i, raw in enumerate(raw_decisions)]
    script = Script(path=p, entries=entries, repeat=repeat, decisions=decisions)
    with _cache_lock:
        _cache[p] = (st.st_mtime, st.st_size, script)
    return script


def entry_from_response(resp: Any) -> ScriptEntry:
    """A script entry from a ModelResponse (or its ``to_dict()``) plus optional ``node``.

    Token counts (``tokens_in/out/cached``) become ``usage`` so a replay costs the
    same as the recording; ``usage`` given directly is used as is.
    """
    d: dict[str, Any] = resp.to_dict() if hasattr(resp, "to_dict") else dict(resp)
    calls = []
    for tc in d.get("tool_calls") or []:
        tc = tc.to_dict() if hasattr(tc, "to_dict") else dict(tc)
        call: dict[str, Any] = {"name": tc["name"], "arguments": dict(tc.get("arguments") or {})}
        if tc.get("id"):
            call["id"] = str(tc["id"])
        calls.append(call)
    usage = d.get("usage")
    if usage is None and any(k in d for k in ("tokens_in", "tokens_out", "tokens_cached")):
        usage = {
            "prompt_tokens": int(d.get("tokens_in") or 0),
            "completion_tokens": int(d.get("tokens_out") or 0),
            "cached_tokens": int(d.get("tokens_cached") or 0),
        }
    return ScriptEntry(
        text=d.get("text") or "",
        tool_calls=calls,
        node=d.get("node"),
        task=d.get("task"),
        attempt=d.get("attempt"),
        usage=dict(usage) if usage is not None else None,
        latency=float(d.get("latency") or 0.0) if "latency" in d else 0.0,
        error=str(d["error"]) if d.get("error") is not None else None,
    )


@functools.cache
def _script_dumper() -> type[yaml.SafeDumper]:
    """A YAML dumper writing multi-line text in block style, so recorded answers stay
    readable and diffable (made on first use: yaml is not imported for model names)."""
    import yaml

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        # PyYAML refuses block style for strings with trailing spaces; fall back to quoted.
        if "\n" in value and not any(line.endswith(" ") for line in value.split("\n")):
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
        return dumper.represent_scalar("tag:yaml.org,2002:str", value)

    class ScriptDumper(yaml.SafeDumper):
        """SafeDumper plus the block-style text representer above."""

    ScriptDumper.add_representer(str, text)
    return ScriptDumper


def write_script(
    path: str | os.PathLike[str],
    responses: Iterable[Any],
    decisions: Iterable[ScriptDecision] = (),
) -> Path:
    """Write responses (ModelResponse objects or dicts, each optionally with ``node``
    and ``task``) and the person's gate decisions.

    Used by ``export-script`` (record → replay). ``load_script`` of the written
    file yields the same entries as :func:`entry_from_response` of the inputs.
    """
    entries = [entry_from_response(r) for r in responses]
    doc: dict[str, Any] = {"responses": [e.to_yaml_dict() for e in entries]}
    answers = [d.to_yaml_dict() for d in decisions]
    if answers:
        doc["decisions"] = answers
    import yaml

    text = (
        "# llmflows-tui scripted model: replay with --model scripted:<this file>\n"
        "# Format: docs/scripted.md\n"
        + yaml.dump(doc, Dumper=_script_dumper(), sort_keys=False, allow_unicode=True, width=100)
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)  # atomic: a crash never leaves half a script
    return out


# -- per-call side channel ------------------------------------------------------
# The litellm handler runs inside litellm; it tells the client which entries a
# call consumed (errors included, so a retry moves past an injected 429) and
# whether the script ran dry, through the call's own record: the client puts the
# object in the call's metadata (litellm hands it to the handler as is), so there
# is no registry shared between calls.


@dataclass
class CallRecord:
    """What one scripted call did: entries it consumed and a non-HTTP failure, if any."""

    consumed: list[int] = field(default_factory=list)
    #: (ModelError kind, message) when the handler failed for a non-HTTP reason.
    failure: tuple[str, str] | None = None

    def note_consumed(self, index: int) -> None:
        self.consumed.append(index)

    def note_failure(self, kind: str, message: str) -> None:
        self.failure = (kind, message)


class ScriptCursor:
    """A run's place in its script: one entry index per use, rebuilt from the journal.

    Owned by the run's scripted model factory
    (:class:`engine.models.scripted_replay.ScriptedModels`), not by the executor.
    """

    def __init__(self, consumed: Iterable[int] = ()) -> None:
        self._consumed = list(consumed)
        self._lock = threading.Lock()

    def consumed(self) -> list[int]:
        with self._lock:
            return list(self._consumed)

    def advance(self, used: Iterable[int]) -> None:
        with self._lock:
            self._consumed.extend(used)
