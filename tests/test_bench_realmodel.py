"""The real-model benchmark's reading of the journal (``bench/realmodel.py``).

The benchmark itself is opt-in (it installs a model and a server); this checks only
how it labels each model call from the ``steps`` and ``effects`` rows.
"""

from __future__ import annotations

import json

from bench.realmodel import changed_paths, classify


def _llm(step_id: int, finish: str = "stop", tools: tuple[str, ...] = (), status: str = "done"):
    result = {
        "finish_reason": finish,
        "tool_calls": [{"id": f"c{i}", "name": n, "arguments": {}} for i, n in enumerate(tools)],
        "tokens_in": 100,
        "tokens_out": 10,
    }
    return {
        "step_id": step_id,
        "kind": "llm",
        "status": status,
        "result": json.dumps(result) if status == "done" else None,
        "error": None
        if status == "done"
        else "ModelError: m: tool call 'finish' has malformed JSON arguments (...)",
    }


def test_each_call_gets_its_problem_and_how_the_app_handled_it():
    steps = [
        {
            "id": 1,
            "node": "reproduce",
            "kind": "agent",
            "attempt": 1,
            "status": "failed",
            "error": "the model answered without calling a tool twice",
        },
        {"id": 2, "node": "locate", "kind": "llm", "attempt": 1, "status": "done", "error": None},
    ]
    effects = [
        _llm(1),
        _llm(1, finish="length"),
        _llm(1, status="failed"),
        _llm(1, tools=("read_file",)),
        {"step_id": 1, "kind": "tool", "status": "done", "result": '{"ok": true}', "error": None},
        _llm(1),
        _llm(2),
        _llm(2),
    ]
    calls = classify(steps, effects)
    assert [(c.step, c.problem, c.handled) for c in calls] == [
        ("reproduce#1", "no tool call", "told to call a tool; asked again"),
        ("reproduce#1", "truncated (finish_reason length)", "retried with twice the output cap"),
        (
            "reproduce#1",
            "truncated (tool-call JSON does not parse)",
            "retried with twice the output cap",
        ),
        ("reproduce#1", "", "tools run, results sent back"),
        (
            "reproduce#1",
            "no tool call",
            "step failed: the model answered without calling a tool twice",
        ),
        ("locate#1", "answer not usable (JSON / schema)", "told what was wrong; asked again"),
        ("locate#1", "", "step done"),
    ]
    assert calls[2].finish == "error"


def test_changed_paths_sees_edits_additions_and_removals():
    before = {"a": "644 x", "b": "644 y"}
    assert changed_paths(before, before) == []
    assert changed_paths(before, {"a": "600 x", "c": "644 z"}) == ["a", "b", "c"]
