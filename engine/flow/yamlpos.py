"""YAML with positions: the flow loader's view of a YAML document.

PyYAML's ``compose()`` keeps a start mark on every node; we turn that node
graph into a small tree of :class:`Y` values that remember their 1-based
line/column, so every validation problem can point at the exact key or value.
Nothing in here raises for bad input: problems come back as ``FlowIssue``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from engine.errors import FlowIssue

_STR = "tag:yaml.org,2002:str"
_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"

# Expanding aliases can blow up exponentially ("billion laughs"); plain() stops here.
MAX_PLAIN_NODES = 100_000


class TooLarge(Exception):
    """Raised by Y.plain() when alias expansion exceeds MAX_PLAIN_NODES."""


@dataclass(eq=False)
class Y:
    """One YAML node: ``kind`` is "map", "seq" or "scalar"; ``line``/``col`` are 1-based.

    ``value`` is the Python scalar for scalars, ``list[Y]`` for sequences and
    ``list[tuple[Y, Y]]`` (key, value) for mappings (duplicate keys dropped).
    """

    kind: str
    line: int
    col: int
    value: Any = None
    style: str | None = None
    end_line: int = 0
    end_col: int = 0
    _index: dict[str, tuple[Y, Y]] = field(default_factory=dict, repr=False)

    def get(self, key: str) -> Y | None:
        """The value node for ``key`` in a mapping (None when absent or not a mapping)."""
        pair = self._index.get(key)
        return pair[1] if pair else None

    def key_node(self, key: str) -> Y | None:
        pair = self._index.get(key)
        return pair[0] if pair else None

    def keys(self) -> list[str]:
        return list(self._index)

    def items(self) -> list[tuple[Y, Y]]:
        return list(self._index.values())

    @property
    def pos(self) -> tuple[int, int]:
        return (self.line, self.col)

    def plain(self, _budget: list[int] | None = None) -> Any:
        """Plain Python data (dicts/lists/scalars). Raises TooLarge on alias bombs."""
        budget = _budget if _budget is not None else [MAX_PLAIN_NODES]
        budget[0] -= 1
        if budget[0] < 0:
            raise TooLarge()
        if self.kind == "scalar":
            return self.value
        if self.kind == "seq":
            return [item.plain(budget) for item in self.value]
        return {k: v.plain(budget) for k, (_, v) in self._index.items()}


def _pos(mark: Any) -> tuple[int, int]:
    if mark is None:
        return (1, 1)
    return (int(mark.line) + 1, int(mark.column) + 1)


def _offset_pos(text: str, index: int) -> tuple[int, int]:
    index = max(0, min(index, len(text)))
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return (line, col)


def parse_yaml(text: str, file: str) -> tuple[Y | None, list[FlowIssue]]:
    """Compose ``text`` into a Y tree; return (root or None, issues)."""
    issues: list[FlowIssue] = []

    def issue(pos: tuple[int, int], msg: str) -> None:
        issues.append(FlowIssue(file, pos[0], pos[1], msg))

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = e.problem or e.context or "invalid YAML"
        ctx = f" ({e.context})" if e.context and e.problem else ""
        issue(_pos(mark), f"YAML syntax error: {what}{ctx}")
        return None, issues
    except yaml.reader.ReaderError as e:
        issue(_offset_pos(text, e.position), f"YAML syntax error: {e.reason}")
        return None, issues
    except yaml.YAMLError as e:
        issue((1, 1), f"YAML syntax error: {e}")
        return None, issues
    except RecursionError:
        issue((1, 1), "YAML nesting is too deep")
        return None, issues
    if root is None:
        issue((1, 1), "the flow file is empty")
        return None, issues

    constructor = SafeConstructor()
    memo: dict[int, Y] = {}
    in_progress: set[int] = set()

    def convert(node: yaml.Node) -> Y:
        nid = id(node)
        if nid in memo:
            return memo[nid]
        pos = _pos(node.start_mark)
        end = _pos(node.end_mark)
        if nid in in_progress:
            issue(pos, "recursive YAML alias (a node that contains itself)")
            return Y("scalar", pos[0], pos[1], None, end_line=end[0], end_col=end[1])
        if isinstance(node, yaml.ScalarNode):
            y = Y("scalar", pos[0], pos[1], _scalar(node, pos), node.style, end[0], end[1])
            memo[nid] = y
            return y
        in_progress.add(nid)
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _SEQ:
                    issue(pos, f"unsupported YAML tag {node.tag}")
                y = Y("seq", pos[0], pos[1], [], None, end[0], end[1])
                memo[nid] = y
                y.value = [convert(child) for child in node.value]
                return y
            if node.tag != _MAP:
                issue(pos, f"unsupported YAML tag {node.tag}")
            if any(k.tag == _MERGE for k, _ in node.value):
                try:
                    constructor.flatten_mapping(node)  # type: ignore[arg-type]  # tag is map
                except (yaml.YAMLError, RecursionError, TypeError, AttributeError) as e:
                    issue(pos, f"bad YAML merge key (<<): {getattr(e, 'problem', None) or e}")
                    node.value = [(k, v) for k, v in node.value if k.tag != _MERGE]
            y = Y("map", pos[0], pos[1], [], None, end[0], end[1])
            memo[nid] = y
            for knode, vnode in node.value:
                key = convert(knode)
                val = convert(vnode)
                if key.kind != "scalar" or not isinstance(key.value, str):
                    shown = key.value if key.kind == "scalar" else f"a {key.kind}"
                    issue(key.pos, f"mapping keys must be strings, got {shown!r} (quote it)")
                    continue
                if key.value in y._index:
                    first = y._index[key.value][0]
                    issue(
                        key.pos, f"duplicate key {key.value!r} (first defined at line {first.line})"
                    )
                    continue
                y._index[key.value] = (key, val)
                y.value.append((key, val))
            return y
        finally:
            in_progress.discard(nid)

    def _scalar(node: yaml.ScalarNode, pos: tuple[int, int]) -> Any:
        if node.tag == _TIMESTAMP:
            return node.value  # dates stay text: flows have no use for datetime objects
        if node.tag not in _PLAIN_TAGS:
            issue(pos, f"unsupported YAML tag {node.tag}")
            return node.value
        if node.tag == _STR:
            return node.value
        try:
            return constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as e:
            issue(pos, f"invalid value {node.value!r}: {e}")
            return node.value

    try:
        return convert(root), issues
    except RecursionError:
        issue((1, 1), "YAML nesting is too deep")
        return None, issues
