"""The built-in bugfix flow on a real temp repo with a real pytest: a failure that was
there before the run is never taken as the reproduction, focused runs use the new
failing ids, and locate's files reach fix."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from tests.support.fake_model import FakeModel, say, tool
from tests.support.gitutil import init_repo

PY = f'"{sys.executable}" -m pytest -q -p no:cacheprovider'
TESTS = (
    "from calc import add\n\n\ndef test_old_broken():\n    assert 'already' == 'broken'\n\n\n"
    "def test_fine():\n    assert add(1, 0) == 1\n"
)


def _append(text: str) -> dict:
    return say(tool("edit_file", path="tests/test_calc.py", old=TESTS, new=TESTS + text))


def test_preexisting_failure_is_not_reproduction_and_focus_skips_it(tmp_path: Path):
    project = init_repo(
        tmp_path / "p",
        {
            "calc.py": "def add(a, b):\n    return a - b\n",
            "tests/__init__.py": "",
            "tests/test_calc.py": TESTS,
        },
    )
    passing = "\n\ndef test_add_zero():\n    assert add(2, 0) == 2\n"
    failing = "\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    model = FakeModel(
        {
            "reproduce": [
                _append(passing),  # passes even with the bug: no reproduction
                say(tool("finish", summary="added test_add_zero")),
                say(tool("edit_file", path="tests/test_calc.py", old=passing, new=failing)),
                say(tool("finish", summary="added test_add")),
            ],
            "locate": [
                say(text='{"cause": "add subtracts b instead of adding it", "files": ["calc.py"]}')
            ],
            "fix": [
                say(tool("edit_file", path="calc.py", old="a - b", new="a + b")),
                say(tool("finish", summary="add adds")),
            ],
            "summary": [say(text="Fixed add.")],
        }
    )
    with Session.open(project) as s:
        run_id = ops.create_run(
            s,
            "bugfix",
            "add is wrong",
            model="fake/model",
            autonomy="full",
            settings={"test_command": PY},
        )
        out = asyncio.run(Executor(s, run_id, model_factory=lambda _s: model).execute())
        assert out.status == "completed", out.reason
        steps = [x["node"] for x in s.store.steps_for(run_id)]
        commands = [
            e["request"]["command"]
            for st in s.store.steps_for(run_id)
            for e in s.store.effects_for_step(st["id"])
            if e["kind"] == "command"
        ]
        logs = [e["message"] for e in s.store.events_for(run_id) if e["type"] == "log"]
    # confirm saw test_old_broken fail the first time, and still went back to reproduce.
    assert steps == [
        "baseline", "reproduce", "confirm", "reproduce", "confirm",
        "locate", "fix", "test", "regress", "summary",
    ]  # fmt: skip
    assert commands[0] == PY  # baseline: the whole suite
    assert commands[1] == commands[2] == f"{PY} tests/test_calc.py"  # confirm: the changed test
    assert commands[3] == f"{PY} tests/test_calc.py::test_add"  # focused: new failure only
    assert commands[4] == PY  # the full suite once at the end
    assert any("new failing test(s) the run wrote: tests/test_calc.py::test_add" in m for m in logs)
    # locate's files (calc.py) were shown to fix.
    fix_prompt = next(c for c in model.calls if c["node"] == "fix")["messages"][1]["content"]
    assert "--- calc.py" in fix_prompt
