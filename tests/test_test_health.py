"""Test health (a command that cannot run, collects nothing, or errors at collection)
and detection of a project's test command, on real temp projects and real runners."""

from __future__ import annotations

import asyncio
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from engine.tools import TestHealth, run_tests, scrubbed_env
from engine.tools.testdetect import configured_test_command, detect_test_command
from tests.support.fake_model import FakeModel
from tests.support.gitutil import init_repo

PY = shlex.quote(sys.executable)
ENV = {**scrubbed_env(), "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

FLOW = """name: t
description: one test run
settings:
  test_command: "python -m pytest -q"
nodes:
  - id: test
    kind: run
    command: "{{ settings.test_command }}"
    tests: true
    next:
      - when: "tests.failed == 0"
        to: end
      - to: fail
"""


async def test_missing_command_cannot_run(tmp_path: Path) -> None:
    report = await run_tests("no-such-test-runner-xyz -q", tmp_path, timeout_s=30)
    assert report.exit_code == 127
    assert report.health == TestHealth.CANNOT_RUN
    assert "no-such-test-runner-xyz -q" in report.problem()
    assert "test_command" in report.problem()


async def test_pytest_that_collects_nothing_is_no_tests(tmp_path: Path) -> None:
    (tmp_path / "lib.py").write_text("X = 1\n")
    report = await run_tests(f"{PY} -m pytest -q -p no:cacheprovider", tmp_path, env=ENV)
    assert report.exit_code == 5
    assert report.health == TestHealth.NO_TESTS
    assert "collected no tests" in report.problem()


async def test_collection_error_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "test_a.py").write_text("import not_a_module_xyz\n\ndef test_a():\n    pass\n")
    report = await run_tests(f"{PY} -m pytest -q -p no:cacheprovider", tmp_path, env=ENV)
    assert report.health == TestHealth.COLLECTION_ERROR
    assert report.collection_errors == ["test_a.py"]
    assert "test_a.py" in report.problem()


async def test_other_runners_junit_xml_is_parsed(tmp_path: Path) -> None:
    # Any runner that writes JUnit XML: this one is a shell script.
    xml = (
        '<testsuite name="s" tests="2"><testcase classname="pkg.mod" name="ok"/>'
        '<testcase classname="pkg.mod" name="bad"><failure message="x"/></testcase></testsuite>'
    )
    (tmp_path / "run.sh").write_text(f"cat > report.xml <<'EOF'\n{xml}\nEOF\nexit 1\n")
    report = await run_tests("sh run.sh", tmp_path, junit_path="report.xml")
    assert report.parsed
    assert (report.passed, report.failed) == (1, 1)
    assert report.failing == ["pkg/mod.py::bad"]
    assert report.health == TestHealth.OK


def _flow(tmp_path: Path) -> str:
    path = tmp_path / "t.yaml"
    path.write_text(FLOW)
    return str(path)


def test_unrunnable_test_command_pauses_then_reruns_with_the_configured_one(tmp_path: Path):
    project = init_repo(tmp_path / "p", {"test_ok.py": "def test_ok():\n    assert True\n"})
    with Session.open(project) as s:
        run_id = ops.create_run(
            s,
            _flow(tmp_path),
            "check",
            model="fake/model",
            autonomy="full",
            settings={"test_command": "no-such-python-xyz -m pytest -q"},
        )
        out = asyncio.run(Executor(s, run_id, model_factory=lambda _s: FakeModel({})).execute())
        # Not routed as a failing test (the flow would have gone to `fail`): paused.
        assert out.status == "paused"
        assert out.gate.kind == "tests"
        assert "could not run (exit 127): no-such-python-xyz -m pytest -q" in out.gate.prompt
        (project / ".llmflows" / "config.toml").write_text(
            f'[tests]\ncommand = "{sys.executable} -m pytest -q -p no:cacheprovider"\n'
        )
        ops.answer_gate(s, run_id, "approve")
        out = asyncio.run(Executor(s, run_id, model_factory=lambda _s: FakeModel({})).execute())
        assert out.status == "completed"
        steps = [(x["node"], x["status"]) for x in s.store.steps_for(run_id)]
        assert steps == [("test", "abandoned"), ("test", "done")]


def test_detected_command_is_saved_once_and_then_read_back(tmp_path: Path):
    project = init_repo(
        tmp_path / "p",
        {
            "pyproject.toml": "[project]\nname = 'x'\n",
            "src/pkg/__init__.py": "def one():\n    return 1\n",
            "tests/test_one.py": "from pkg import one\n\ndef test_one():\n    assert one() == 1\n",
        },
    )
    with Session.open(project) as s:
        ops.create_run(s, _flow(tmp_path), "a", model="fake/model", autonomy="full")
        saved = configured_test_command(project)
        assert saved is not None and saved.startswith("PYTHONPATH=src ")
        run_id = ops.create_run(s, _flow(tmp_path), "b", model="fake/model", autonomy="full")
        assert s.store.get_run(run_id)["config"]["test_command"]["source"] == "config"
    # The detected command really runs this src/ layout's tests.
    report = asyncio.run(
        run_tests(saved.replace(saved.split()[1], PY, 1) + " -p no:cacheprovider", project, env=ENV)
    )
    assert report.passed == 1 and report.health == TestHealth.OK


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"package.json": '{"scripts": {"test": "node t.js"}}', "t.js": ""}, "npm test"),
        ({"package.json": '{"scripts": {"test": "node t.js"}}', "pnpm-lock.yaml": ""}, "pnpm test"),
        ({"package.json": '{"scripts": {"test": "node t.js"}}', "yarn.lock": ""}, "yarn test"),
        ({"go.mod": "module example.com/x\n\ngo 1.21\n"}, "go test ./..."),
        ({"Cargo.toml": '[package]\nname = "x"\nversion = "0.1.0"\n'}, "cargo test"),
        ({"Makefile": "test:\n\t@echo ok\n"}, "make test"),
        ({"tox.ini": "[tox]\n", "setup.py": ""}, "tox -q"),
        (
            {"package.json": '{"scripts": {"test": "echo \\"Error: no test specified\\""}}'},
            None,
        ),
    ],
)
def test_detection_by_project_kind(tmp_path: Path, files, expected) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    found = detect_test_command(tmp_path)
    assert (found.command if found else None) == expected


async def test_detected_commands_run_where_the_tool_exists(tmp_path: Path) -> None:
    samples = {
        "npm": {
            "package.json": '{"name": "x", "scripts": {"test": "node t.js"}}',
            "t.js": "process.exit(require('./m.js') === 3 ? 0 : 1)\n",
            "m.js": "module.exports = 1 + 2\n",
        },
        "make": {"Makefile": "test:\n\t@test 3 -eq 3\n"},
    }
    ran = 0
    for tool, files in samples.items():
        if shutil.which(tool) is None:
            continue
        root = tmp_path / tool
        root.mkdir()
        for name, text in files.items():
            (root / name).write_text(text)
        found = detect_test_command(root)
        assert found is not None
        report = await run_tests(found.command, root, timeout_s=120)
        assert report.ok and report.health == TestHealth.OK, report.output
        ran += 1
    if not ran:
        pytest.skip("neither npm nor make is installed here")
