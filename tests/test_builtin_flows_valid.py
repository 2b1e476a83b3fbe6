"""The shipped flows load clean, decide success by tests, and render with any context."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.flow.spec import builtin_flows_dir, find_flows, load_flow

BUILTINS = sorted(p.stem for p in builtin_flows_dir().glob("*.yaml"))
DOCS = Path(__file__).resolve().parents[1] / "docs" / "flows.md"

FULL_CONTEXT = {
    "goal": "add() returns a - b",
    "plan": {
        "tasks": [
            {
                "id": "t1",
                "title": "Fix add",
                "description": "d",
                "files": ["a.py"],
                "status": "done",
            },
            {"id": "t2", "title": "Docs", "description": "", "files": [], "status": "pending"},
        ]
    },
    "task": {
        "id": "t1",
        "title": "Fix add",
        "description": "d",
        "files": ["a.py"],
        "status": "running",
    },
    "tests": {
        "passed": 3,
        "failed": 1,
        "errors": 0,
        "skipped": 0,
        "failing": ["tests/test_a.py::test_add", {"name": "test_b", "message": "boom"}],
        "output": "E   assert 1 == 3\n" * 2000,
        "exit_code": 1,
    },
    "outputs": {"locate": {"cause": "sign"}, "reproduce": "added tests/test_a.py"},
    "feedback": ["too broad", "keep the API"],
    "user_edits": [{"files": ["a.py"], "note": "renamed a variable"}],
    "instruction": "only touch a.py",
    "iteration": 1,
    "files": {"a.py": "def add(a, b):\n    return a - b\n"},
}


def test_three_builtins_exist():
    assert {"bugfix", "feature", "refactor"} <= set(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_is_listed_without_yaml_as_yaml_reads_it(name):
    # The start screen lists built-ins from their first lines (no YAML import).
    from engine.flow import listing

    path = builtin_flows_dir() / f"{name}.yaml"
    assert listing._peek_builtin(path) == listing._peek(path)


def test_a_builtin_whose_header_is_not_plain_text_is_read_with_yaml(tmp_path):
    from engine.flow import listing

    quoted = tmp_path / "quoted.yaml"
    quoted.write_text('name: quoted\ndescription: "with: a colon"\nnodes: []\n')
    assert listing._peek_builtin(quoted) is None
    assert listing._peek(quoted) == ("quoted", "with: a colon")


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_loads_clean(name):
    spec = load_flow(builtin_flows_dir() / f"{name}.yaml", "builtin")
    assert spec.name == name and spec.description
    assert "test_command" in spec.settings


@pytest.mark.parametrize("name", BUILTINS)
def test_success_is_decided_by_tests(name):
    spec = load_flow(builtin_flows_dir() / f"{name}.yaml", "builtin")
    test_nodes = [n for n in spec.nodes.values() if n.kind == "run" and n.tests]
    assert test_nodes
    for node in test_nodes:
        conditions = [e.when for e in node.next if e.when]
        assert all("tests." in c for c in conditions)
        # Only the baseline run records without deciding anything.
        assert conditions or node.id == "baseline"
    # No model-output node decides where the run goes.
    for node in spec.nodes.values():
        if node.kind in ("llm", "agent", "plan"):
            assert all(e.when is None for e in node.next), node.id
    # Every loop is bounded by a node with max_iterations (the loader checks; spot-check here).
    assert any(n.max_iterations for n in spec.nodes.values())
    assert any(n.kind == "gate" for n in spec.nodes.values())
    assert list(spec.nodes)[-1] == "summary"


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("context", [{}, FULL_CONTEXT], ids=["empty", "full"])
def test_prompts_render(name, context):
    spec = load_flow(builtin_flows_dir() / f"{name}.yaml", "builtin")
    for node in spec.nodes.values():
        for text in (node.system, node.prompt, node.command):
            if text is not None:
                out = spec.render(text, context)
                assert "{{" not in out and "{%" not in out
        if node.kind in ("llm", "agent", "plan") and context:
            assert context["goal"] in spec.render(node.prompt, context) or node.id == "review"


def test_fix_prompt_carries_failures_feedback_and_edits():
    spec = load_flow(builtin_flows_dir() / "bugfix.yaml", "builtin")
    text = spec.render(spec.nodes["fix"].system, FULL_CONTEXT) + spec.render(
        spec.nodes["fix"].prompt, FULL_CONTEXT
    )
    for needle in (
        "test_a.py::test_add",
        "test_b: boom",
        "too broad",
        "keep the API",
        "renamed a variable",
        "only touch a.py",
        "return a - b",
        "attempt 2 of 3",
    ):
        assert needle in text, needle
    assert len(text) < 20000  # long test output is cut to its end


def test_bugfix_node_ids_and_edges():
    spec = load_flow(builtin_flows_dir() / "bugfix.yaml", "builtin")
    assert spec.node_order() == [
        "baseline",
        "reproduce",
        "confirm",
        "locate",
        "fix",
        "test",
        "regress",
        "review",
        "summary",
    ]
    red = {"tests": {"failed": 1, "errors": 0, "exit_code": 1, "new_failing": ["t::a"]}}
    green = {"tests": {"failed": 0, "errors": 0, "exit_code": 0, "new_failing": []}}
    reproduced = {"tests": {"failed": 1, "exit_code": 1, "reproduced": ["tests/test_new.py::t"]}}
    # A failure that is not in a test the run wrote (e.g. one already failing) is no proof.
    old_failure = {"tests": {"failed": 1, "exit_code": 1, "reproduced": []}}
    assert spec.next_node("baseline", red) == "reproduce"
    assert spec.next_node("reproduce", {}) == "confirm"
    assert spec.next_node("confirm", reproduced) == "locate"
    assert spec.next_node("confirm", old_failure) == "reproduce"
    assert spec.next_node("confirm", green) == "reproduce"
    # The regression run tolerates failures the baseline already had.
    tolerated = {"tests": {"failed": 1, "exit_code": 1, "new_failing": []}}
    assert spec.next_node("regress", tolerated) == "summary"
    assert spec.next_node("locate", {}) == "fix"
    assert spec.next_node("fix", {}) == "test"
    assert spec.next_node("test", red) == "fix" and spec.next_node("test", green) == "regress"
    assert spec.next_node("regress", red) == "fix" and spec.next_node("regress", green) == "summary"
    assert spec.nodes["review"].on_reject == "fix" and spec.next_node("review", {}) == "summary"
    assert spec.next_node("summary", {}) == "end"
    assert spec.nodes["fix"].max_iterations == 3 and spec.nodes["fix"].on_error == "review"
    assert spec.nodes["locate"].json is True
    assert spec.nodes["locate"].tools == ["read_file", "list_files", "search"]
    assert spec.nodes["locate"].schema["required"] == ["cause", "files"]


def test_feature_and_refactor_shape():
    feature = load_flow(builtin_flows_dir() / "feature.yaml", "builtin")
    assert feature.node_order() == ["plan", "edit", "test", "fix", "review", "summary"]
    assert feature.nodes["edit"].foreach == "plan.tasks" and feature.nodes["plan"].kind == "plan"
    refactor = load_flow(builtin_flows_dir() / "refactor.yaml", "builtin")
    assert refactor.node_order() == ["analyze", "plan", "step", "test", "fix", "review", "summary"]
    assert refactor.nodes["step"].foreach == "plan.tasks"
    assert "run_command" in refactor.nodes["step"].tools


def test_docs_list_builtin_node_ids():
    text = DOCS.read_text()
    for info in find_flows(None):
        spec = load_flow(info.path, "builtin")
        for node_id in spec.node_order():
            assert f"`{node_id}`" in text, (info.name, node_id)
