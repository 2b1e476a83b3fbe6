"""Fuzz the flow loader: any input gives a FlowSpec or FlowValidationError, nothing else.

"Nothing else" includes the loader's own last-resort wrapper: an issue that
says "internal error" means some exception escaped a check, so it fails too.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import FlowValidationError
from engine.flow.spec import NODE_KEYS, FlowSpec, load_flow
from engine.flow.spec import TOP_KEYS as FLOW_TOP_KEYS

# Derandomized: the same 200 inputs on every run, so CI never fails by the luck of the
# draw (bench/ and local runs with a seed explore further).
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

_DIR = Path(tempfile.mkdtemp(prefix="flowfuzz-"))
(_DIR / "prompts").mkdir()
(_DIR / "prompts" / "ok.j2").write_text(
    "Goal {{ goal }} {% for t in plan.tasks %}{{ t }}{% endfor %}"
)
(_DIR / "prompts" / "bad.j2").write_text("{% if goal %}\n{{ nope }}\n")

VALID = {
    "name": "fuzz",
    "description": "a valid flow to mutate",
    "settings": {"test_command": "pytest -q", "n": 3},
    "defaults": {"timeout": 60},
    "nodes": [
        {"id": "plan", "kind": "plan", "prompt": "prompts/ok.j2"},
        {
            "id": "edit",
            "kind": "agent",
            "foreach": "plan.tasks",
            "concurrency": 2,
            "prompt": "Do {{ task.title }}",
        },
        {
            "id": "test",
            "kind": "run",
            "command": "{{ settings.test_command }}",
            "tests": True,
            "next": [{"when": "tests.failed == 0", "to": "review"}, {"to": "fix"}],
        },
        {
            "id": "fix",
            "kind": "agent",
            "prompt": "fix",
            "max_iterations": "settings.n",
            "next": "test",
        },
        {"id": "review", "kind": "gate", "on_reject": "fix", "next": "end"},
    ],
}

_n = [0]


def check(text: str) -> None:
    _n[0] += 1
    p = _DIR / f"f{_n[0] % 8}.yaml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        spec = load_flow(p)
    except FlowValidationError as e:
        assert e.issues, "FlowValidationError without issues"
        for issue in e.issues:
            assert "internal error" not in issue.message, issue
            assert issue.line >= 1 and issue.col >= 1, issue
            assert str(issue).startswith(f"{issue.file}:{issue.line}:{issue.col}: ")
    else:
        assert isinstance(spec, FlowSpec)
        assert spec.start in spec.nodes


def test_valid_base_flow_loads():
    check(yaml.safe_dump(VALID, sort_keys=False))
    assert load_flow(_DIR / f"f{_n[0] % 8}.yaml").node_order() == [
        "plan",
        "edit",
        "test",
        "fix",
        "review",
    ]


_TOKENS = list("abcdeikmnoprstx_-:{}[],&*!|>'\"#%@`?\\ \t\n") + [
    "  ", "- ", ": ", "\n  ", "\n- ", "nodes:", "id: ", "kind: ", "next:", "{{", "}}",
    "{%", "%}", "<<: ", "&a ", "*a", "!!str", "!!python/object", "~", "null", "true",
    "0x1F", "1e999", ".inf", "2024-13-45", "\x00", "\u2028", "\ufeff", "prompts/ok.j2",
]  # fmt: skip
YAMLISH = st.lists(st.sampled_from(_TOKENS), max_size=120).map("".join)


@FUZZ
@given(YAMLISH)
def test_random_yamlish_text(text):
    check(text)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(data):
    _n[0] += 1
    p = _DIR / f"b{_n[0] % 8}.yaml"
    p.write_bytes(data)
    try:
        load_flow(p)
    except FlowValidationError as e:
        assert all("internal error" not in i.message for i in e.issues), e.issues


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            "end",
            "fail",
            "plan",
            "edit",
            "test",
            "fix",
            "review",
            "nope",
            "llm",
            "agent",
            "gate",
            "run",
            "plan.tasks",
            "tests.failed == 0",
            "tests.failed ==",
            "{{ goal }}",
            "{{ goal",
            "{% for %}",
            "{{ settings.nope }}",
            "prompts/ok.j2",
            "prompts/bad.j2",
            "prompts/missing.j2",
            "settings.n",
            "settings.test_command",
            "read_file",
            "submit_plan",
            "bad id!",
            "x" * 200,
        ]
    ),
    st.text(max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=8), st.sampled_from(["to", "when", "id"])), inner, max_size=4
        ),
    ),
    max_leaves=12,
)
KEYS = st.sampled_from([*NODE_KEYS, "bogus"])
TOP_KEYS = st.sampled_from([*FLOW_TOP_KEYS, "extra"])


@st.composite
def mutated_flow(draw):
    flow = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        op = draw(
            st.sampled_from(
                ["set_node", "del_node_key", "set_top", "del_top", "drop_node", "dup_node", "swap"]
            )
        )
        nodes = flow.get("nodes") if isinstance(flow.get("nodes"), list) else None
        if op == "set_node" and nodes:
            node = draw(st.sampled_from(nodes))
            if isinstance(node, dict):
                node[draw(KEYS)] = draw(VALUES)
        elif op == "del_node_key" and nodes:
            node = draw(st.sampled_from(nodes))
            if isinstance(node, dict) and node:
                node.pop(draw(st.sampled_from(sorted(node))), None)
        elif op == "set_top":
            flow[draw(TOP_KEYS)] = draw(VALUES)
        elif op == "del_top":
            flow.pop(draw(TOP_KEYS), None)
        elif op == "drop_node" and nodes:
            nodes.pop(draw(st.integers(min_value=0, max_value=len(nodes) - 1)))
        elif op == "dup_node" and nodes:
            nodes.append(copy.deepcopy(draw(st.sampled_from(nodes))))
        elif op == "swap" and nodes:
            i = draw(st.integers(min_value=0, max_value=len(nodes) - 1))
            nodes[i] = draw(VALUES)
    return flow


@FUZZ
@given(mutated_flow())
def test_structured_mutations(flow):
    check(yaml.safe_dump(flow, sort_keys=False, allow_unicode=True))


def test_alias_bomb_and_recursion():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]\n"
    check(
        "name: bomb\ndescription: d\nsettings:\n  " + bomb.replace("\n", "\n  ") + "\nnodes: []\n"
    )
    check("name: r\ndescription: d\nsettings: &s {x: *s}\nnodes: &n [*n]\n")
    check("name: r\ndescription: d\nsettings: &s {<<: *s}\n")
    check("[" * 5000 + "]" * 5000)
    check(
        "name: x\ndescription: y\nnodes:\n  - id: a\n    kind: llm\n    prompt: '"
        + "{{ (" * 2000
        + "'\n"
    )
