"""run_tests on a real tiny project with a real pytest subprocess."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from engine.tools import TestReport, is_pytest_command, parse_junit, run_tests, scrubbed_env

PYTEST = f"{shlex.quote(sys.executable)} -m pytest"
# The inner pytest does not need this venv's plugins; skipping them saves seconds.
ENV = {**scrubbed_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

PROJECT = {
    "tests/__init__.py": "",
    "tests/test_mix.py": """
import pytest

def test_ok():
    assert 1 + 1 == 2

def test_bad():
    assert 1 + 1 == 3

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

def test_errors(broken):
    pass

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n == 1

class TestGroup:
    def test_in_class(self):
        assert True

    def test_in_class_fails(self):
        assert False
""",
    "tests/test_other.py": "def test_fine():\n    pass\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for name, text in PROJECT.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    # Keep the inner pytest independent of this repo's config and plugins' caches.
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    return root


async def test_pytest_counts_and_failing_ids(project: Path) -> None:
    lines: list[str] = []
    report = await run_tests(f"{PYTEST} -q", project, timeout_s=60, on_line=lines.append, env=ENV)
    assert report.parsed
    assert (report.passed, report.failed, report.errors, report.skipped) == (4, 3, 1, 1)
    assert report.failing == [
        "tests/test_mix.py::test_bad",
        "tests/test_mix.py::test_errors",
        "tests/test_mix.py::test_param[2]",
        "tests/test_mix.py::TestGroup::test_in_class_fails",
    ]
    assert "tests/test_other.py::test_fine" in report.durations
    assert "tests/test_mix.py::TestGroup::test_in_class" in report.durations
    assert report.exit_code == 1
    assert not report.ok
    assert lines, "output was streamed"
    assert any("failed" in line for line in lines)
    assert report.output == "\n".join(lines)
    assert report.summary().startswith("4 passed, 3 failed, 1 error, 1 skipped")
    d = report.to_dict()
    assert d["failing"] == report.failing and d["parsed"] is True
    # The junit report went to a temp file outside the project.
    assert not list(project.rglob("*.xml"))


async def test_pytest_all_passing_subset(project: Path) -> None:
    report = await run_tests(f"{PYTEST} -q tests/test_other.py", project, timeout_s=60, env=ENV)
    assert report.parsed and report.ok
    assert (report.passed, report.failed, report.errors, report.skipped) == (1, 0, 0, 0)
    assert report.failing == []
    assert report.exit_code == 0


async def test_collection_error_is_reported(project: Path) -> None:
    (project / "tests" / "test_broken.py").write_text("import does_not_exist_xyz\n")
    report = await run_tests(f"{PYTEST} -q tests/test_broken.py", project, timeout_s=60, env=ENV)
    assert report.parsed
    assert report.errors == 1
    assert report.failing == ["tests/test_broken.py"]
    assert report.exit_code != 0


async def test_non_pytest_command_uses_exit_code(tmp_path: Path) -> None:
    lines: list[str] = []
    report = await run_tests(
        "sh -c 'echo checking; exit 1'", tmp_path, timeout_s=20, on_line=lines.append
    )
    assert not report.parsed
    assert report.exit_code == 1
    assert (report.passed, report.failed) == (0, 1)
    assert not report.ok
    assert lines == ["checking"]
    report = await run_tests("sh -c 'exit 0'", tmp_path, timeout_s=20)
    assert not report.parsed and report.ok
    assert (report.passed, report.failed) == (1, 0)


async def test_timeout_is_reported(project: Path) -> None:
    (project / "tests" / "test_slow.py").write_text(
        "import time\ndef test_slow():\n    time.sleep(60)\n"
    )
    report = await run_tests(f"{PYTEST} -q tests/test_slow.py", project, timeout_s=3, env=ENV)
    assert report.timed_out
    assert not report.ok
    assert not report.parsed  # no junit report was written


@pytest.mark.parametrize(
    ("cmd", "expected"),
    [
        ("pytest", True),
        ("pytest -q tests/test_x.py::test_y", True),
        ("py.test -x", True),
        ("python -m pytest", True),
        ("python3 -m pytest -k foo", True),
        (".venv/bin/python -m pytest", True),
        (".venv/bin/pytest tests", True),
        ("/usr/bin/python3.11 -m pytest", True),
        ("PYTHONPATH=src pytest", True),
        ("uv run pytest", True),
        ("python -m unittest", False),
        ("python script.py -m pytest", False),
        ("make test", False),
        ("pytest | tee out.txt", False),
        ("cd sub && pytest", False),
        ("tox", False),
    ],
)
def test_is_pytest_command(cmd: str, expected: bool) -> None:
    assert is_pytest_command(cmd) is expected


def test_parse_junit_xunit2_without_file_attribute(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("")
    xml = """<?xml version="1.0"?>
<testsuites><testsuite name="pytest" tests="4">
  <testcase classname="tests.test_a" name="test_one" time="0.01"/>
  <testcase classname="tests.test_a.TestK" name="test_two" time="0.02">
    <failure message="boom">trace</failure></testcase>
  <testcase classname="tests.test_a" name="test_three" time="0">
    <skipped message="xfail" type="pytest.xfail"/></testcase>
  <testcase classname="tests.test_a" name="test_four[a-b]" time="0.5">
    <error message="teardown">trace</error></testcase>
</testsuite></testsuites>"""
    r = parse_junit(xml, tmp_path)
    assert isinstance(r, TestReport)
    assert (r.passed, r.failed, r.errors, r.skipped) == (1, 1, 1, 1)
    assert r.failing == ["tests/test_a.py::TestK::test_two", "tests/test_a.py::test_four[a-b]"]
    assert r.durations["tests/test_a.py::test_four[a-b]"] == 0.5


async def test_our_junit_report_file_is_not_shown_in_the_output(tmp_path):
    import sys

    from engine.tools import run_tests

    (tmp_path / "test_a.py").write_text("def test_ok():\n    assert True\n")
    lines: list[str] = []
    report = await run_tests(
        f"{sys.executable} -m pytest -q -p no:cacheprovider", tmp_path, on_line=lines.append
    )
    assert report.passed == 1
    assert lines and not any("generated xml file" in ln for ln in lines)
    assert "generated xml file" not in report.output and "1 passed" in report.output
