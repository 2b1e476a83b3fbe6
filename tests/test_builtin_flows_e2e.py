"""Each built-in flow end to end on a real temp repo, with the scripted model (via the CLI,
in process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.gitutil import init_repo

SCRIPTS = Path(__file__).parent / "scripts"
CALC = "def add(a, b):\n    return a + b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
PYTEST = f'"{sys.executable}" -m pytest -q -p no:cacheprovider'


@pytest.mark.parametrize(
    "flow, goal",
    [("feature", "add a mul function"), ("refactor", "name the magic number in add")],
)
def test_builtin_flow_end_to_end(tmp_path: Path, flow: str, goal: str, cli):
    repo = init_repo(tmp_path / "repo", {"calc.py": CALC, "test_calc.py": TESTS})
    res = cli(
        "run",
        flow,
        goal,
        "--model",
        f"scripted:{SCRIPTS / f'{flow}.yaml'}",
        "--autonomy",
        "full",
        "--set",
        f"test_command={PYTEST}",
        "--json",
        repo=repo,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert events[-1]["type"] == "result" and events[-1]["status"] == "completed"
    tests = [e for e in events if e["type"] == "test_result"]
    assert tests and tests[-1]["failed"] == 0 and tests[-1]["passed"] >= 1
    done = [e["node"] for e in events if e["type"] == "step_finished" and e["status"] == "done"]
    assert done[-1] == "summary"
    check = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout
    if flow == "feature":
        # the first test run caught the slip; the bounded fix loop repaired it
        assert [t["failed"] for t in tests] == [1, 0]
        assert done.count("edit") == 2 and "fix" in done
        assert "return a * b" in (repo / "calc.py").read_text()
    else:
        assert done[:2] == ["analyze", "plan"]
        assert "ZERO = 0" in (repo / "calc.py").read_text()
