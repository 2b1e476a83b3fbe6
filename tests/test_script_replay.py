"""Scripts that express a real supervised run: entries matched by ``task:`` and
``attempt:``, gate decisions exported and replayed, and a plan the person edited
(CLI in process, real git repos, the scripted model through litellm)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from engine.errors import ModelConfigError
from engine.models.scripted import CallKey, load_script
from engine.run.plan_edit import edited_plan, parse_task_text, tasks_to_text
from tests.support.gitutil import init_repo

CALC = "def add(a, b):\n    return a + b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
PYTEST = f'"{sys.executable}" -m pytest -q -p no:cacheprovider'

# Entries for t2 and for t1's second attempt come first: only `task:` and `attempt:`
# keep each call to its own answers (in file order, t2 would get t1's edit).
SCRIPT = """\
responses:
  - node: plan
    tool_calls:
      - name: submit_plan
        arguments:
          tasks:
            - {title: "Add mul to calc", files: [calc.py]}
            - {title: "Test mul", files: [test_mul.py]}
  - node: edit
    task: t2
    tool_calls:
      - name: write_file
        arguments:
          path: test_mul.py
          content: "from calc import mul\\n\\n\\ndef test_mul():\\n    assert mul(3, 4) == 12\\n"
  - {node: edit, task: t2, tool_calls: [{name: finish, arguments: {summary: tested mul}}]}
  - node: edit
    task: t1
    attempt: 2
    tool_calls:
      - name: edit_file
        arguments:
          path: calc.py
          old: "    return a + b\\n"
          new: "    return a + b\\n\\n\\ndef mul(a, b):\\n    return a * b\\n"
  - {node: edit, task: t1, attempt: 2, tool_calls: [{name: finish, arguments: {summary: mul}}]}
  - node: edit
    task: t1
    attempt: 1
    tool_calls:
      - name: edit_file
        arguments:
          path: calc.py
          old: "    return a + b\\n"
          new: "    return a + b\\n\\n\\ndef multiply(a, b):\\n    return a * b\\n"
  - {node: edit, task: t1, tool_calls: [{name: finish, arguments: {summary: multiply}}]}
  - {node: summary, text: "Added calc.mul with a test."}
"""


def _repo(tmp_path: Path, name: str) -> Path:
    return init_repo(tmp_path / name, {"calc.py": CALC, "test_calc.py": TESTS})


def _start(cli, repo: Path, model: str) -> str:
    res = cli(
        "run",
        "feature",
        "add a mul function",
        "--model",
        model,
        "--set",
        f"test_command={PYTEST}",
        "--json",
        repo=repo,
    )
    assert res.returncode == 3, res.stdout[-2000:] + res.stderr  # the plan gate
    return json.loads(res.stdout.splitlines()[0])["run_id"]


def _steps(cli, repo: Path, run_id: str) -> list[tuple[str, str | None, int, str]]:
    res = cli("show", run_id, "--json", repo=repo)
    steps = json.loads(res.stdout)["steps"]
    return [(s["node"], s.get("task_id"), s["attempt"], s["status"]) for s in steps]


def _supervised_run(cli, repo: Path, script: Path) -> str:
    """Plan approved, t1's first edit rejected, the rest approved: the run completes."""
    run_id = _start(cli, repo, f"scripted:{script}")
    for answer in (
        ["--approve"],  # plan gate
        ["--reject", "call it mul, like add"],  # t1, attempt 1
        ["--approve"],  # t1, attempt 2
    ):
        assert cli("resume", run_id, *answer, repo=repo).returncode == 3
    assert cli("resume", run_id, "--approve", repo=repo).returncode == 0  # t2
    return run_id


EXPECTED_STEPS = [
    ("plan", None, 1, "done"),
    ("edit", "t1", 1, "rejected"),
    ("edit", "t1", 2, "done"),
    ("edit", "t2", 1, "done"),
    ("test", None, 1, "done"),
    ("summary", None, 1, "done"),
]


def test_entries_match_task_and_attempt(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCRIPT)
    script = load_script(path)
    assert script.choose(CallKey("edit", "t1", 1), []) == 5
    assert script.choose(CallKey("edit", "t1", 2), []) == 3
    assert script.choose(CallKey("edit", "t2", 1), []) == 1
    assert script.choose(CallKey("edit", "t3", 1), []) is None
    assert "node 'edit', task 't3', attempt 1" in script.exhausted_message(
        CallKey("edit", "t3", 1), []
    )
    path.write_text("responses:\n  - {node: edit, attempt: 0}\n")
    with pytest.raises(ModelConfigError, match=r"responses\[0\]: `attempt` must be"):
        load_script(path)


def test_task_and_attempt_script_drives_a_multi_task_feature_run(tmp_path: Path, cli) -> None:
    repo = _repo(tmp_path, "repo")
    script = tmp_path / "feature.yaml"
    script.write_text(SCRIPT)
    run_id = _supervised_run(cli, repo, script)
    assert _steps(cli, repo, run_id) == EXPECTED_STEPS
    assert "def mul(a, b):\n    return a * b" in (repo / "calc.py").read_text()
    assert "multiply" not in (repo / "calc.py").read_text()  # the rejected attempt is gone
    assert (repo / "test_mul.py").exists()


def test_exported_script_replays_the_persons_decisions(tmp_path: Path, cli) -> None:
    repo = _repo(tmp_path, "recorded")
    script = tmp_path / "feature.yaml"
    script.write_text(SCRIPT)
    run_id = _supervised_run(cli, repo, script)
    exported = tmp_path / "exported.yaml"
    res = cli("export-script", run_id, "-o", str(exported), repo=repo)
    assert "4 gate decision(s)" in res.stdout
    decisions = load_script(exported).decisions
    assert [(d.gate, d.node, d.decision, d.reason) for d in decisions] == [
        ("plan", "plan", "approve", ""),
        ("review", "edit", "reject", "call it mul, like add"),
        ("review", "edit", "approve", ""),
        ("review", "edit", "approve", ""),
    ]
    # A fresh repo, no person: the script answers every gate as the person did.
    replay = _repo(tmp_path, "replay")
    res = cli(
        "run",
        "feature",
        "add a mul function",
        "--model",
        f"scripted:{exported}",
        "--set",
        f"test_command={PYTEST}",
        repo=replay,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr
    assert "answered from the script: reject (review gate at edit)" in res.stdout
    replay_id = res.stdout.split("run ", 1)[1].split(":", 1)[0]
    assert _steps(cli, replay, replay_id) == EXPECTED_STEPS
    for name in ("calc.py", "test_mul.py"):
        assert (replay / name).read_text() == (repo / name).read_text()


def test_a_decision_for_another_gate_leaves_the_run_paused(tmp_path: Path, cli) -> None:
    repo = _repo(tmp_path, "repo")
    script = tmp_path / "s.yaml"
    script.write_text(SCRIPT + "decisions:\n  - {gate: review, decision: approve}\n")
    res = cli(
        "run",
        "feature",
        "add mul",
        "--model",
        f"scripted:{script}",
        repo=repo,
    )
    assert res.returncode == 3
    assert "script decision 1 is approve (review gate), but the run waits at a plan gate" in (
        res.stdout + res.stderr
    )


def test_task_text_round_trips_and_keeps_what_the_person_did_not_change() -> None:
    old = [
        {"id": "t1", "title": "Add mul", "description": "in calc.py", "files": ["calc.py"]},
        {"id": "t2", "title": "Test mul", "description": "", "files": ["test_mul.py"]},
    ]
    text = tasks_to_text(old)
    assert parse_task_text(text) == [
        {"title": "Add mul", "description": "in calc.py"},
        {"title": "Test mul", "description": ""},
    ]
    edited = "1. Test mul first\n- Add mul\n    with a docstring\n\n# dropped: nothing\n"
    tasks = edited_plan(old, parse_task_text(edited))
    assert [(t["id"], t["title"], t["description"], t["files"]) for t in tasks] == [
        ("t1", "Test mul first", "", []),
        ("t2", "Add mul", "with a docstring", ["calc.py"]),
    ]
    assert parse_task_text("- Add mul\n- {title: Doc, files: [README.md]}\n")[1] == {
        "title": "Doc",
        "files": ["README.md"],
    }


PLAN3 = """\
responses:
  - node: plan
    tool_calls:
      - name: submit_plan
        arguments:
          tasks:
            - {title: "Add mul to calc", files: [calc.py]}
            - {title: "Test mul", files: [test_mul.py]}
            - {title: "Update the README"}
  - node: edit
    task: t1
    tool_calls:
      - name: write_file
        arguments:
          path: test_mul.py
          content: "from calc import mul\\n\\n\\ndef test_mul():\\n    assert mul(3, 4) == 12\\n"
  - {node: edit, task: t1, tool_calls: [{name: finish, arguments: {summary: tested mul}}]}
  - node: edit
    task: t2
    tool_calls:
      - name: edit_file
        arguments:
          path: calc.py
          old: "    return a + b\\n"
          new: "    return a + b\\n\\n\\ndef mul(a, b):\\n    return a * b\\n"
  - {node: edit, task: t2, tool_calls: [{name: finish, arguments: {summary: mul}}]}
  - {node: summary, text: "Added calc.mul with a test."}
"""


def test_person_edits_the_plan_at_the_plan_gate_from_the_cli(tmp_path: Path, cli) -> None:
    repo = _repo(tmp_path, "repo")
    script = tmp_path / "plan3.yaml"
    script.write_text(PLAN3)
    run_id = _start(cli, repo, f"scripted:{script}")
    res = cli("resume", run_id, repo=repo)  # paused at the plan gate: what can be done
    assert f"resume {run_id} --approve --tasks-file FILE" in res.stdout
    tasks_file = tmp_path / "tasks.txt"
    tasks_file.write_text("")
    res = cli("resume", run_id, "--approve", "--tasks-file", str(tasks_file), repo=repo)
    assert res.returncode == 2 and "lists no task" in res.stderr
    res = cli("resume", run_id, "--reject", "no", "--tasks-file", str(tasks_file), repo=repo)
    assert res.returncode == 2 and "--tasks-file goes with --approve" in res.stderr
    # Reorder, reword, drop the README task; the gate is still open after the errors.
    tasks_file.write_text("- Test mul first\n    in test_mul.py\n- Add mul to calc\n")
    res = cli("resume", run_id, "--approve", "--tasks-file", str(tasks_file), repo=repo)
    assert res.returncode == 3, res.stdout[-2000:] + res.stderr  # t1's review
    res = cli("resume", run_id, "--approve", "--tasks-file", str(tasks_file), repo=repo)
    assert res.returncode == 2 and "goes with approving a plan gate" in res.stderr
    assert cli("resume", run_id, "--approve", repo=repo).returncode == 3
    assert cli("resume", run_id, "--approve", repo=repo).returncode == 0
    steps = [s for s in _steps(cli, repo, run_id) if s[0] == "edit"]
    assert steps == [("edit", "t1", 1, "done"), ("edit", "t2", 1, "done")]
    prompts = json.loads(cli("show", run_id, "--prompts", "--json", repo=repo).stdout)
    first_edit = next(p for p in prompts if p["node"] == "edit")
    sent = "\n".join(str(m["content"]) for m in first_edit["calls"][0]["messages"])
    assert "You are working on task t1: Test mul first\nin test_mul.py" in sent
    assert "t2: Add mul to calc" in sent and "README" not in sent
    # The edited plan is part of the recorded decisions and replays as it ran.
    exported = tmp_path / "exported.yaml"
    cli("export-script", run_id, "-o", str(exported), repo=repo)
    plan_decision = load_script(exported).decisions[0]
    assert [t["title"] for t in plan_decision.tasks or ()] == ["Test mul first", "Add mul to calc"]
    replay = _repo(tmp_path, "replay")
    res = cli("run", "feature", "add mul", "--model", f"scripted:{exported}", repo=replay)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr
    assert (replay / "calc.py").read_text() == (repo / "calc.py").read_text()


def test_a_partial_approval_replays_dropping_the_same_hunk(tmp_path: Path, cli) -> None:
    import yaml

    from tests.test_tui_app import CHANGED, ORIGINAL, TINY_FLOW, _edit_entries, trust

    script = tmp_path / "tiny.yaml"
    script.write_text(yaml.safe_dump({"responses": _edit_entries(CHANGED)}))

    def repo(name: str) -> Path:
        path = init_repo(tmp_path / name, {"data.txt": ORIGINAL})
        (path / ".llmflows" / "flows").mkdir(parents=True)
        (path / ".llmflows" / "flows" / "tiny.yaml").write_text(TINY_FLOW)
        trust(path)
        return path

    first = repo("first")
    res = cli("run", "tiny", "change data.txt", "--model", f"scripted:{script}", repo=first)
    assert res.returncode == 3, res.stdout + res.stderr
    run_id = res.stdout.split("run ", 1)[1].split(":", 1)[0]
    assert cli("resume", run_id, "--approve", "--hunks", "data.txt:0", repo=first).returncode == 0
    kept = (first / "data.txt").read_text()
    assert "line 2 CHANGED" in kept and "line 28 CHANGED" not in kept
    exported = tmp_path / "exported.yaml"
    cli("export-script", run_id, "-o", str(exported), repo=first)
    (decision,) = load_script(exported).decisions
    assert [(p, i) for p, i, _k in decision.drop_hunks] == [("data.txt", 1)]
    second = repo("second")
    res = cli("run", "tiny", "change data.txt", "--model", f"scripted:{exported}", repo=second)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (second / "data.txt").read_text() == kept
