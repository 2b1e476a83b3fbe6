"""The flow loader: every class of problem reported at the right FILE:LINE:COL."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.errors import FlowValidationError, UsageError
from engine.flow.spec import (
    Edge,
    FlowRuntimeError,
    FlowSpec,
    find_flows,
    get_flow,
    load_flow,
)

HEAD = "name: t\ndescription: test flow\n"


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    # `HEAD + """\nnodes: ..."""` reads better in tests than it looks in the file:
    # drop that blank line so positions in the assertions count from the real text.
    p.write_text(text.replace(HEAD + "\n", HEAD, 1))
    return p


def issues(tmp_path: Path, text: str, name: str = "flow.yaml") -> list[tuple[int, int, str]]:
    p = write(tmp_path, text, name)
    with pytest.raises(FlowValidationError) as ei:
        load_flow(p)
    for i in ei.value.issues:
        assert i.line >= 1 and i.col >= 1
    return [(i.line, i.col, i.message) for i in ei.value.issues]


def only(found: list[tuple[int, int, str]]) -> tuple[int, int, str]:
    assert len(found) == 1, found
    return found[0]


def ok(tmp_path: Path, text: str, name: str = "flow.yaml") -> FlowSpec:
    return load_flow(write(tmp_path, text, name))


MINIMAL = HEAD + textwrap.dedent(
    """\
    nodes:
      - id: a
        kind: llm
        prompt: "Do {{ goal }}"
    """
)


# ---------------------------------------------------------------- happy path


def test_minimal_flow_defaults(tmp_path):
    spec = ok(tmp_path, MINIMAL)
    assert spec.name == "t" and spec.start == "a" and spec.source == "file"
    node = spec.nodes["a"]
    assert node.next == [Edge("end", None, node.line, node.col)]
    assert node.timeout == 600 and node.retries == 0 and node.model is None
    assert node.output == "a" and node.prompt == "Do {{ goal }}" and node.prompt_path is None
    assert (node.line, node.col) == (4, 5)


def test_full_flow_fields_and_fallthrough(tmp_path):
    spec = ok(
        tmp_path,
        HEAD
        + """
start: p
defaults: {timeout: 30, retries: 2, model: "openai/gpt-4o-mini", max_turns: 5}
settings:
  test_command: "pytest -q"
  max_fix: 4
nodes:
  - id: p
    kind: plan
    prompt: "plan {{ goal }}"
  - id: e
    kind: agent
    foreach: plan.tasks
    concurrency: 2
    tools: [read_file, edit_file, finish]
    prompt: "do {{ task.title }}"
    output: edits
  - id: t
    kind: run
    command: "{{ settings.test_command }}"
    tests: true
    next:
      - when: "tests.failed == 0"
        to: g
      - to: f
  - id: f
    kind: agent
    prompt: fix
    max_iterations: settings.max_fix
    on_error: g
    model: other
    timeout: 5.5
    next: t
  - id: g
    kind: gate
    on_reject: f
    breakpoint: true
""",
    )
    assert spec.node_order() == ["p", "e", "t", "f", "g"]
    p, e, t, f, g = (spec.nodes[i] for i in spec.node_order())
    assert p.tools == ["read_file", "list_files", "search", "submit_plan"]
    assert p.next[0].to == "e" and e.next[0].to == "t" and g.next[0].to == "end"
    assert e.tools == ["read_file", "edit_file", "finish"] and e.concurrency == 2
    assert e.output == "edits" and e.model == "openai/gpt-4o-mini" and e.max_turns == 5
    assert t.allow_failure is True and t.tests is True and t.timeout == 30 and t.retries == 2
    assert [(x.to, x.when) for x in t.next] == [("g", "tests.failed == 0"), ("f", None)]
    assert (t.next[0].line, t.next[0].col) == (25, 13)
    assert f.max_iterations == 4 and f.max_iterations_setting == "max_fix"
    assert f.model == "other" and f.timeout == 5.5 and f.on_error == "g"
    assert g.on_reject == "f" and g.breakpoint and g.timeout is None
    assert spec.settings == {"test_command": "pytest -q", "max_fix": 4}
    assert spec.defaults["timeout"] == 30


def test_prompt_from_j2_file(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "a.j2").write_text("Goal: {{ goal }}\n")
    spec = ok(tmp_path, MINIMAL.replace('"Do {{ goal }}"', "prompts/a.j2"))
    node = spec.nodes["a"]
    assert node.prompt == "Goal: {{ goal }}\n"
    assert node.prompt_path == str(tmp_path / "prompts" / "a.j2")


# ---------------------------------------------------------------- YAML level


def test_yaml_syntax_error_position(tmp_path):
    found = issues(
        tmp_path,
        HEAD
        + """
nodes:
  - id: a
    kind: llm
   prompt: x
""",
    )
    line, col, msg = only(found)
    assert msg.startswith("YAML syntax error")
    assert (line, col) == (6, 4)


def test_unclosed_quote(tmp_path):
    line, col, msg = only(issues(tmp_path, 'name: "abc\ndescription: x\n'))
    assert "YAML syntax error" in msg and line >= 1


def test_empty_and_non_mapping(tmp_path):
    assert only(issues(tmp_path, ""))[:2] == (1, 1)
    line, col, msg = only(issues(tmp_path, "- a\n- b\n"))
    assert (line, col) == (1, 1) and "must be a mapping" in msg


def test_missing_and_unreadable_file(tmp_path):
    with pytest.raises(FlowValidationError) as ei:
        load_flow(tmp_path / "nope.yaml")
    assert "cannot read" in ei.value.issues[0].message
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(FlowValidationError) as ei:
        load_flow(bad)
    assert "UTF-8" in ei.value.issues[0].message


def test_duplicate_yaml_key(tmp_path):
    found = issues(tmp_path, MINIMAL + "    kind: agent\n")
    line, col, msg = only(found)
    assert (line, col) == (7, 5) and "duplicate key 'kind'" in msg and "line 5" in msg


def test_unsupported_tag(tmp_path):
    found = issues(tmp_path, MINIMAL.replace('"Do {{ goal }}"', "!!python/object:os.system x"))
    assert any("unsupported YAML tag" in m for _, _, m in found)


# ---------------------------------------------------------------- structure


def test_unknown_top_level_key_did_you_mean(tmp_path):
    line, col, msg = only(issues(tmp_path, MINIMAL + "setings: {}\n"))
    assert (line, col) == (7, 1)
    assert "unknown top-level key 'setings'" in msg and "did you mean 'settings'" in msg


def test_unknown_node_key_did_you_mean(tmp_path):
    found = issues(tmp_path, MINIMAL + "    promt: x\n")
    line, col, msg = only(found)
    assert (line, col) == (7, 5) and "did you mean 'prompt'" in msg


def test_unknown_kind(tmp_path):
    line, col, msg = only(issues(tmp_path, MINIMAL.replace("kind: llm", "kind: agnet")))
    assert (line, col) == (5, 11) and "did you mean 'agent'" in msg


def test_missing_required_fields(tmp_path):
    found = issues(tmp_path, "nodes:\n  - kind: llm\n")
    msgs = [m for _, _, m in found]
    assert any("missing required key 'name'" in m for m in msgs)
    assert any("missing required key 'description'" in m for m in msgs)
    assert any("missing required key 'id'" in m for m in msgs)
    assert any("missing required key 'prompt'" in m for m in msgs)
    assert (found[0][0], found[0][1]) == (1, 1)
    found = issues(tmp_path, HEAD + "nodes:\n  - id: r\n    kind: run\n")
    assert only(found)[:2] == (4, 5) and "'command'" in found[0][2]


def test_null_optional_fields_mean_unset(tmp_path):
    spec = ok(tmp_path, MINIMAL + "    on_error: null\n    description: ~\n    model: null\n")
    node = spec.nodes["a"]
    assert node.on_error is None and node.description == "" and node.model is None


def test_bad_names(tmp_path):
    found = issues(
        tmp_path, MINIMAL.replace("name: t", "name: Bad Name").replace("id: a", "id: end")
    )
    assert (1, 7) in [(line, col) for line, col, _ in found]
    assert any("reserved" in m and line == 4 and col == 9 for line, col, m in found)


def test_wrong_types_point_at_values(tmp_path):
    found = issues(
        tmp_path,
        MINIMAL
        + "    timeout: soon\n    retries: -1\n    max_iterations: 0\n    json: yes please\n",
    )
    assert [(line, col) for line, col, _ in found] == [(7, 14), (8, 14), (9, 21), (10, 11)]
    assert "number of seconds" in found[0][2] and "at least 0" in found[1][2]
    assert "at least 1" in found[2][2] and "true or false" in found[3][2]


def test_nodes_not_a_list(tmp_path):
    line, col, msg = only(issues(tmp_path, HEAD + "nodes: {a: 1}\n"))
    assert (line, col) == (3, 8) and "list" in msg


def test_duplicate_ids(tmp_path):
    found = issues(tmp_path, MINIMAL + '  - id: a\n    kind: llm\n    prompt: "x"\n')
    line, col, msg = only(found)
    assert (line, col) == (7, 9) and "duplicate node id 'a'" in msg and "line 4" in msg


def test_all_problems_reported_at_once(tmp_path):
    found = issues(
        tmp_path,
        HEAD
        + """
nodes:
  - id: a
    kind: llm
    prompt: "{{ goal"
    next: bb
    tools: [x]
  - id: b
    kind: gat
""",
    )
    assert len(found) >= 4


# ---------------------------------------------------------------- edges and graph


def test_missing_edge_target(tmp_path):
    found = issues(
        tmp_path,
        HEAD
        + """
nodes:
  - id: build
    kind: llm
    prompt: x
    next: biuld
""",
    )
    line, col, msg = only(found)
    assert (
        (line, col) == (7, 11) and "'biuld' does not exist" in msg and "did you mean 'build'" in msg
    )


def test_missing_on_error_target(tmp_path):
    line, col, msg = only(issues(tmp_path, MINIMAL + "    on_error: nowhere\n"))
    assert (line, col) == (7, 15) and "on_error target 'nowhere'" in msg


def test_unreachable_node(tmp_path):
    found = issues(
        tmp_path, MINIMAL + '    next: end\n  - id: orphan\n    kind: llm\n    prompt: "x"\n'
    )
    line, col, msg = only(found)
    assert (line, col) == (8, 9) and "'orphan' is unreachable" in msg


def test_no_path_to_end(tmp_path):
    found = issues(tmp_path, MINIMAL + "    next: fail\n")
    assert only(found)[2] == "no path from start 'a' reaches 'end'"


UNBOUNDED = (
    HEAD
    + """
nodes:
  - id: work
    kind: agent
    prompt: x
    next: check
  - id: check
    kind: run
    command: make test
    tests: true
    next:
      - when: "tests.failed == 0"
        to: end
      - to: work
"""
)


def test_unbounded_cycle(tmp_path):
    line, col, msg = only(issues(tmp_path, UNBOUNDED))
    assert (line, col) == (4, 9)
    assert "unbounded loop work -> check -> work" in msg and "max_iterations" in msg


def test_bounded_cycle_ok(tmp_path):
    spec = ok(
        tmp_path, UNBOUNDED.replace("    prompt: x\n", "    prompt: x\n    max_iterations: 3\n")
    )
    assert spec.nodes["work"].max_iterations == 3


def test_self_loop_unbounded(tmp_path):
    found = issues(
        tmp_path,
        MINIMAL + '    next:\n      - when: "iteration < 3"\n        to: a\n      - to: end\n',
    )
    assert "unbounded loop a -> a" in only(found)[2]


def test_cycle_through_gate_is_bounded_by_the_human(tmp_path):
    ok(
        tmp_path,
        HEAD
        + """
nodes:
  - id: work
    kind: agent
    prompt: x
  - id: review
    kind: gate
    on_reject: work
    next:
      - when: "outputs.review"
        to: end
      - to: work
""",
    )


def test_on_error_cycle_is_checked(tmp_path):
    found = issues(
        tmp_path,
        HEAD
        + """
nodes:
  - id: a
    kind: llm
    prompt: x
    on_error: b
  - id: b
    kind: llm
    prompt: y
    next:
      - when: "tests.failed"
        to: a
      - to: end
""",
    )
    assert "unbounded loop a -> b -> a" in only(found)[2]


def test_bad_start(tmp_path):
    line, col, msg = only(issues(tmp_path, MINIMAL + "start: b\n"))
    assert (line, col) == (7, 8) and "start node 'b' does not exist" in msg


def test_default_edge_must_be_last_and_present(tmp_path):
    found = issues(
        tmp_path,
        MINIMAL + '    next:\n      - to: end\n      - when: "tests.failed"\n        to: a\n',
    )
    assert any("never taken" in m and (line, col) == (9, 9) for line, col, m in found)
    found = issues(
        tmp_path, MINIMAL + '    next:\n      - when: "tests.failed == 0"\n        to: end\n'
    )
    line, col, msg = only(found)
    assert (line, col) == (8, 7) and "final default edge" in msg


def test_edge_shape_errors(tmp_path):
    found = issues(tmp_path, MINIMAL + "    next:\n      - go: end\n")
    msgs = [m for _, _, m in found]
    assert any("unknown edge key 'go'" in m for m in msgs)
    assert any("missing required key 'to'" in m for m in msgs)
    line, col, msg = only(issues(tmp_path, MINIMAL + "    next: []\n"))
    assert "empty" in msg and (line, col) == (7, 11)


def test_bad_when_expression(tmp_path):
    found = issues(
        tmp_path,
        MINIMAL + '    next:\n      - when: "tests.failed =="\n        to: end\n      - to: end\n',
    )
    line, col, msg = only(found)
    assert (line, col) == (8, 16) and "expression syntax error" in msg  # inside the quotes


def test_unknown_name_in_when(tmp_path):
    found = issues(
        tmp_path,
        MINIMAL + '    next:\n      - when: "test.failed == 0"\n        to: end\n      - to: end\n',
    )
    line, col, msg = only(found)
    assert (line, col) == (8, 16) and "unknown name 'test'" in msg and "did you mean 'tests'" in msg


def test_output_keys_are_known_names(tmp_path):
    ok(
        tmp_path,
        HEAD
        + """
nodes:
  - id: judge
    kind: llm
    json: true
    prompt: x
    output: verdict
    next:
      - when: "verdict.ok and outputs.judge"
        to: end
      - to: fail
""",
    )


# ---------------------------------------------------------------- templates


def test_inline_block_template_error_maps_to_file_line(tmp_path):
    found = issues(
        tmp_path,
        HEAD
        + """
nodes:
  - id: a
    kind: llm
    prompt: |
      first line {{ goal }}
      second line
      broken {% if %}
""",
    )
    line, col, msg = only(found)
    assert (line, col) == (9, 7) and "template syntax error" in msg


def test_unknown_template_name_column(tmp_path):
    line, col, msg = only(issues(tmp_path, MINIMAL.replace("{{ goal }}", "{{ gaol }}")))
    assert (line, col) == (6, 20) and "did you mean 'goal'" in msg


def test_undeclared_setting(tmp_path):
    text = (
        HEAD
        + 'settings: {test_command: pytest}\nnodes:\n  - id: r\n    kind: run\n    command: "{{ settings.test_comand }} -q"\n'
    )
    line, col, msg = only(issues(tmp_path, text))
    assert (line, col) == (7, 27) and "did you mean 'test_command'" in msg


def test_unknown_filter(tmp_path):
    line, col, msg = only(issues(tmp_path, MINIMAL.replace("{{ goal }}", "{{ goal | shout }}")))
    assert "No filter named 'shout'" in msg and line == 6


def test_include_is_rejected(tmp_path):
    found = issues(tmp_path, MINIMAL.replace("{{ goal }}", "{% include 'x.j2' %}"))
    assert "self-contained" in only(found)[2]


def test_j2_file_error_reports_template_file(tmp_path):
    (tmp_path / "prompts").mkdir()
    j2 = tmp_path / "prompts" / "p.j2"
    j2.write_text("Goal: {{ goal }}\n\n{% for t in plan.tasks %}\n{{ t.title }}\n{{ taks }}\n")
    p = write(tmp_path, MINIMAL.replace('"Do {{ goal }}"', "prompts/p.j2"))
    with pytest.raises(FlowValidationError) as ei:
        load_flow(p)
    syntax = ei.value.issues[0]
    assert len(ei.value.issues) == 1 and "template syntax error" in syntax.message
    assert (syntax.file, syntax.line) == (str(j2), 5)  # unclosed for: reported at the end
    # a name error in a file template points at its line and column
    j2.write_text("Goal: {{ goal }}\nTask: {{ taks.title }}\n")
    with pytest.raises(FlowValidationError) as ei:
        load_flow(p)
    issue = ei.value.issues[0]
    assert (issue.file, issue.line, issue.col) == (str(j2), 2, 10)
    assert "did you mean 'task'" in issue.message
    assert str(issue).startswith(f"{j2}:2:10: ")


def test_missing_template_file(tmp_path):
    line, col, msg = only(
        issues(tmp_path, MINIMAL.replace('"Do {{ goal }}"', "prompts/missing.j2"))
    )
    assert (line, col) == (6, 13) and "'prompts/missing.j2' not found" in msg


def test_copied_builtin_uses_shipped_prompts(tmp_path):
    spec = ok(tmp_path, MINIMAL.replace('"Do {{ goal }}"', "prompts/summary.j2"))
    assert spec.nodes["a"].prompt_path.endswith("flows/prompts/summary.j2")


# ---------------------------------------------------------------- kinds and fields


def test_unknown_tool(tmp_path):
    text = (
        HEAD
        + "nodes:\n  - id: a\n    kind: agent\n    prompt: x\n    tools: [read_file, edit_fle]\n"
    )
    line, col, msg = only(issues(tmp_path, text))
    assert (
        (line, col) == (7, 24)
        and "unknown tool 'edit_fle'" in msg
        and "did you mean 'edit_file'" in msg
    )


def test_plan_tools_need_submit_plan_and_agents_cannot_plan(tmp_path):
    text = HEAD + "nodes:\n  - id: a\n    kind: plan\n    prompt: x\n    tools: [read_file]\n"
    assert "need the submit_plan tool" in only(issues(tmp_path, text))[2]
    text = HEAD + "nodes:\n  - id: a\n    kind: agent\n    prompt: x\n    tools: [submit_plan]\n"
    assert "only available to plan nodes" in only(issues(tmp_path, text))[2]


def test_gate_only_field_on_other_kind(tmp_path):
    line, col, msg = only(issues(tmp_path, MINIMAL + "    on_reject: a\n"))
    assert (line, col) == (7, 5) and "'on_reject' is only allowed on gate nodes" in msg


def test_fields_on_wrong_kind(tmp_path):
    text = (
        HEAD
        + 'nodes:\n  - id: g\n    kind: gate\n    command: "ls"\n    timeout: 3\n    tools: [finish]\n'
    )
    found = issues(tmp_path, text)
    assert [(line, col) for line, col, _ in found] == [(6, 5), (7, 5), (8, 5)]


def test_foreach_misuse(tmp_path):
    line, col, msg = only(issues(tmp_path, MINIMAL + "    concurrency: 2\n"))
    assert (line, col) == (7, 18) and "needs foreach" in msg
    text = HEAD + "nodes:\n  - id: g\n    kind: gate\n    foreach: plan.tasks\n"
    assert "'foreach' is only allowed" in only(issues(tmp_path, text))[2]
    line, col, msg = only(issues(tmp_path, MINIMAL + '    foreach: "plan.tasks |"\n'))
    assert (line, col) == (7, 15) and "syntax" in msg
    assert (
        "at least 1"
        in only(issues(tmp_path, MINIMAL + "    foreach: plan.tasks\n    concurrency: 0\n"))[2]
    )


def test_allow_failure_with_tests(tmp_path):
    text = (
        HEAD
        + "nodes:\n  - id: r\n    kind: run\n    command: x\n    tests: true\n    allow_failure: false\n"
    )
    assert "always true with tests" in only(issues(tmp_path, text))[2]


def test_reserved_output_keys(tmp_path):
    line, col, msg = only(issues(tmp_path, MINIMAL + "    output: goal\n"))
    assert (line, col) == (7, 13) and "reserved" in msg
    line, col, msg = only(issues(tmp_path, MINIMAL.replace("id: a", "id: tests")))
    assert "reserved" in msg and (line, col) == (4, 9)
    # a plan node may write `plan`, a tests run node `tests`
    ok(
        tmp_path,
        HEAD
        + "nodes:\n  - id: plan\n    kind: plan\n    prompt: x\n  - id: tests\n    kind: run\n    command: x\n    tests: true\n",
    )


def test_max_iterations_setting_reference(tmp_path):
    base = HEAD + "settings: {n: 2, s: x}\nnodes:\n  - id: a\n    kind: llm\n    prompt: x\n"
    assert ok(tmp_path, base + "    max_iterations: settings.n\n").nodes["a"].max_iterations == 2
    assert "not declared" in only(issues(tmp_path, base + "    max_iterations: settings.m\n"))[2]
    assert (
        "whole number >= 1" in only(issues(tmp_path, base + "    max_iterations: settings.s\n"))[2]
    )
    assert "'settings.NAME'" in only(issues(tmp_path, base + "    max_iterations: lots\n"))[2]


def test_defaults_validation(tmp_path):
    found = issues(tmp_path, MINIMAL + "defaults: {timeout: -1, retrys: 1}\n")
    msgs = sorted(m for _, _, m in found)
    assert any("did you mean 'retries'" in m for m in msgs)
    assert any("positive number of seconds" in m for m in msgs)


def test_name_must_match_file_for_project_flows(tmp_path):
    p = write(tmp_path, MINIMAL, "other.yaml")
    load_flow(p)  # fine as a plain file
    with pytest.raises(FlowValidationError) as ei:
        load_flow(p, "project")
    assert "does not match its file name" in ei.value.issues[0].message


# ---------------------------------------------------------------- runtime helpers


def test_render_missing_optional_values_are_empty(tmp_path):
    spec = ok(tmp_path, MINIMAL.replace("name: t", "name: t\nsettings: {cmd: pytest}"))
    out = spec.render(
        "{{ goal }}|{{ tests.failed }}|{% for t in plan.tasks %}x{% endfor %}|{{ settings.cmd }}|"
        "{{ flow.name }}|{% if feedback %}F{% endif %}|{{ tests.failed | int }}",
        {"goal": "G"},
    )
    assert out == "G|||pytest|t||0"
    assert spec.render("{{ state.goal }}", {"goal": "G"}) == "G"
    # run state may store the flow's name under "flow"; templates still get the flow
    assert spec.render("{{ flow }}: {{ flow.description }}", {"flow": "t"}) == "t: test flow"


def test_render_errors_are_flow_runtime_errors(tmp_path):
    spec = ok(tmp_path, MINIMAL)
    with pytest.raises(FlowRuntimeError):
        spec.render("{{ goal.__class__.__mro__ }}{{ 1 / 0 }}", {"goal": "x"})


def test_eval_when(tmp_path):
    spec = ok(tmp_path, MINIMAL)
    green = {"tests": {"failed": 0, "errors": 0, "exit_code": 0}}
    assert spec.eval_when("tests.failed == 0 and tests.exit_code == 0", green) is True
    assert spec.eval_when("tests.failed > 0", green) is False
    assert spec.eval_when("tests.failed > 0", {}) is False  # nothing ran yet
    assert spec.eval_when("tests.failed + tests.errors > 0", {}) is False
    assert spec.eval_when(Edge("x", None, 1, 1), {}) is True
    with pytest.raises(FlowRuntimeError) as ei:
        spec.eval_when(Edge("x", "tests.failed > 'a'", 3, 9), {"tests": {"failed": 1}})
    assert ":3:9:" in str(ei.value)


def test_next_node(tmp_path):
    spec = ok(
        tmp_path, UNBOUNDED.replace("    prompt: x\n", "    prompt: x\n    max_iterations: 3\n")
    )
    assert spec.next_node("work", {}) == "check"
    assert spec.next_node("check", {"tests": {"failed": 0}}) == "end"
    assert spec.next_node("check", {"tests": {"failed": 2}}) == "work"


# ---------------------------------------------------------------- lookup


def test_find_flows_builtins_without_repo():
    names = {(f.name, f.source) for f in find_flows(None)}
    assert {("bugfix", "builtin"), ("feature", "builtin"), ("refactor", "builtin")} <= names


def test_project_flow_overrides_builtin(repo):
    proj = repo / ".llmflows" / "flows"
    proj.mkdir(parents=True)
    (proj / "bugfix.yaml").write_text(MINIMAL.replace("name: t", "name: bugfix"))
    (proj / "mine.yaml").write_text(MINIMAL.replace("name: t", "name: mine"))
    infos = {f.name: f for f in find_flows(repo)}
    assert infos["bugfix"].source == "project" and infos["bugfix"].path == str(proj / "bugfix.yaml")
    assert infos["feature"].source == "builtin" and infos["mine"].source == "project"
    spec = get_flow("bugfix", repo)
    assert spec.source == "project" and spec.node_order() == ["a"]
    assert get_flow("bugfix", None).source == "builtin"


def test_broken_project_flow_is_listed_but_rejected_on_load(repo):
    proj = repo / ".llmflows" / "flows"
    proj.mkdir(parents=True)
    (proj / "broken.yaml").write_text("name: [\n")
    infos = {f.name: f for f in find_flows(repo)}
    assert "invalid" in infos["broken"].description
    with pytest.raises(FlowValidationError):
        get_flow("broken", repo)


def test_start_info_lists_project_flows_and_checks_them_apart(repo):
    """The start screen's listing needs no validation; the check comes separately, and
    the session made no snapshotter (git helpers) for either."""
    from engine.readmodels import check_project_flows, start_info
    from engine.run.session import Session

    proj = repo / ".llmflows" / "flows"
    proj.mkdir(parents=True)
    (proj / "mine.yaml").write_text(MINIMAL.replace("name: t", "name: mine"))
    (proj / "bad.yaml").write_text(
        MINIMAL.replace("name: t", "name: bad").replace("kind: llm", "kind: nope")
    )
    with Session.open(repo) as session:
        quick = {f.name: f for f in start_info(repo, None, check_flows=False).flows}
        check = check_project_flows(session)
        full = {f.name: f for f in start_info(repo, None).flows}
        assert session._snapshotter is None
    assert quick["bad"].valid and quick["mine"].valid
    assert check.invalid == {"bad"} and any("bad.yaml" in i for i in check.issues)
    assert not full["bad"].valid and full["mine"].valid


def test_get_flow_by_path(tmp_path):
    p = write(tmp_path, MINIMAL)
    spec = get_flow(str(p), None)
    assert spec.source == "file" and spec.path == str(p)
    assert get_flow(p, None).name == "t"


def test_get_flow_relative_path_from_repo_root(repo):
    write(repo, MINIMAL, "flows/x.yaml")
    assert get_flow("flows/x.yaml", repo).name == "t"
    with pytest.raises(UsageError, match="flow file not found"):
        get_flow("flows/nope.yaml", repo)


def test_get_flow_unknown_name_lists_available():
    with pytest.raises(UsageError) as ei:
        get_flow("bugfx", None)
    msg = str(ei.value)
    assert "did you mean 'bugfix'" in msg and "bugfix, feature, refactor" in msg
    assert not isinstance(ei.value, FlowValidationError)


def test_opening_a_repository_for_the_start_screen_loads_no_template_engine(repo):
    """Finding the work tree, opening the store and listing flows: a fresh interpreter
    has not imported jinja2 (the flows' template engine) when the screen is ready."""
    import subprocess
    import sys

    code = (
        "import sys; from engine.run.session import Session; "
        "from engine.readmodels import start_info; "
        f"s = Session.open({str(repo)!r}); start_info(s.repo_root, None, check_flows=False); "
        "print(sorted(m for m in ('jinja2',) if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
