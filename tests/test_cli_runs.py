"""The headless run verbs through the real CLI: exit codes, pause/resume, retry, budgets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.support.cli import run_cli
from tests.support.gitutil import init_repo

FLOW = """\
name: two
description: an edit, a gate, a summary
nodes:
  - id: edit
    kind: agent
    tools: [write_file, finish]
    prompt: "Write a.txt"
    next: approve
  - id: approve
    kind: gate
    prompt: "Ship it?"
    next: summary
  - id: summary
    kind: llm
    prompt: "Summarize"
    next: end
"""


def _script(path: Path, n_edits: int = 3) -> Path:
    responses = []
    for i in range(n_edits):
        responses += [
            {
                "node": "edit",
                "tool_calls": [
                    {"name": "write_file", "arguments": {"path": "a.txt", "content": f"v{i}\n"}}
                ],
            },
            {"node": "edit", "tool_calls": [{"name": "finish", "arguments": {"summary": f"v{i}"}}]},
        ]
    responses += [{"node": "summary", "text": "done"}] * 3
    path.write_text(yaml.safe_dump({"responses": responses}))
    return path


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, repo=repo)


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    flow = tmp_path / "two.yaml"
    flow.write_text(FLOW)
    return repo, flow, _script(tmp_path / "s.yaml")


def test_pause_at_gate_exit_3_then_reject_and_approve(tmp_path: Path):
    repo, flow, script = _setup(tmp_path)
    res = _cli(
        repo, "run", str(flow), "write a", "--model", f"scripted:{script}", "--autonomy", "full"
    )
    assert res.returncode == 3, res.stdout + res.stderr
    assert "resume" in res.stdout and "--approve" in res.stdout
    run_id = json.loads(_cli(repo, "runs", "--json").stdout)[0]["id"]
    # the pause survives the process: a new process sees the gate
    show = json.loads(_cli(repo, "show", run_id, "--json").stdout)
    assert show["run"]["status"] == "paused" and show["gate"]["kind"] == "gate"
    # reject goes back to the previous node with the reason; approve finishes
    res = _cli(repo, "resume", run_id, "--reject", "make it v1")
    assert res.returncode == 3
    assert (repo / "a.txt").read_text() == "v1\n"
    res = _cli(repo, "resume", run_id, "--approve")
    assert res.returncode == 0, res.stdout + res.stderr
    text = _cli(repo, "show", run_id).stdout
    assert "completed" in text and "edit attempt 2" in text
    listing = _cli(repo, "runs").stdout
    assert run_id in listing and "completed" in listing


def test_budget_stop_exit_4_and_resume_with_higher_limit(tmp_path: Path):
    repo, flow, script = _setup(tmp_path)
    res = _cli(
        repo,
        "run",
        str(flow),
        "write a",
        "--model",
        f"scripted:{script}",
        "--autonomy",
        "full",
        "--max-cost",
        "0.0001",
    )
    assert res.returncode == 4, res.stdout + res.stderr
    assert "cost budget" in res.stdout + res.stderr
    run_id = json.loads(_cli(repo, "runs", "--json").stdout)[0]["id"]
    res = _cli(repo, "resume", run_id, "--max-cost", "5")
    assert res.returncode == 3, res.stdout + res.stderr  # on to the gate


def test_retry_from_checkpoint_with_instruction(tmp_path: Path):
    repo, flow, script = _setup(tmp_path)
    _cli(repo, "run", str(flow), "write a", "--model", f"scripted:{script}", "--autonomy", "full")
    run_id = json.loads(_cli(repo, "runs", "--json").stdout)[0]["id"]
    show = json.loads(_cli(repo, "show", run_id, "--json").stdout)
    start_cp = next(c for c in show["checkpoints"] if c["source"] == "start")["id"]
    res = _cli(repo, "retry", str(start_cp), "--instruction", "write v1 instead")
    assert res.returncode == 3, res.stdout + res.stderr
    assert (repo / "a.txt").read_text() == "v1\n"
    show = json.loads(_cli(repo, "show", run_id, "--json").stdout)
    edits = [s for s in show["steps"] if s["node"] == "edit"]
    assert [s["attempt"] for s in edits] == [1, 2]
    assert edits[1]["parent_step_id"] == edits[0]["id"]


def test_run_verbs_outside_a_repo_exit_2(tmp_path: Path):
    for args in (["runs"], ["run", "bugfix", "x", "--model", "scripted:/x"], ["show", "r1"]):
        res = _cli(tmp_path, *args)
        assert res.returncode == 2, args
        assert "not inside a git repository" in res.stderr


def test_bad_flow_file_is_rejected_before_anything_runs(tmp_path: Path):
    repo, _flow, script = _setup(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: x\nnodes:\n  - id: a\n    kind: lmm\n")
    res = _cli(repo, "run", str(bad), "goal", "--model", f"scripted:{script}")
    assert res.returncode == 2
    assert f"{bad}:5:11:" in res.stderr and "lmm" in res.stderr
    assert json.loads(_cli(repo, "runs", "--json").stdout) == []


def test_no_model_configured_names_the_options(tmp_path: Path):
    repo, _flow, _script_path = _setup(tmp_path)
    res = _cli(repo, "run", "bugfix", "fix it")
    assert res.returncode == 2
    assert "demo" in res.stderr and "--model" in res.stderr


def test_cli_rewind_of_a_run_checkpoint_moves_the_run_and_can_be_undone(tmp_path: Path):
    repo, flow, script = _setup(tmp_path)
    _cli(repo, "run", str(flow), "write a", "--model", f"scripted:{script}", "--autonomy", "full")
    run_id = json.loads(_cli(repo, "runs", "--json").stdout)[0]["id"]
    show = json.loads(_cli(repo, "show", run_id, "--json").stdout)
    start_cp = next(c for c in show["checkpoints"] if c["source"] == "start")["id"]
    res = _cli(repo, "rewind", str(start_cp), "--json")
    assert res.returncode == 0, res.stderr
    undo = json.loads(res.stdout)["undo_checkpoint"]
    assert not (repo / "a.txt").exists()
    show = json.loads(_cli(repo, "show", run_id, "--json").stdout)
    assert show["gate"] is None and show["run"]["status"] == "paused"
    assert show["run"]["head_checkpoint_id"] == start_cp
    # the undo point was announced as an event, so history views can show it
    from engine.store import RunStore

    with RunStore.open(repo, write=False) as store:
        made = [e["checkpoint_id"] for e in store.events_for(run_id) if e["type"] == "checkpoint"]
    assert undo in made
    res = _cli(repo, "rewind", str(undo))
    assert res.returncode == 0 and (repo / "a.txt").read_text() == "v0\n"


def test_resume_of_a_completed_run_says_there_is_nothing_to_resume(tmp_path: Path):
    repo, flow, script = _setup(tmp_path)
    _cli(repo, "run", str(flow), "write a", "--model", f"scripted:{script}", "--autonomy", "full")
    run_id = json.loads(_cli(repo, "runs", "--json").stdout)[0]["id"]
    assert _cli(repo, "resume", run_id, "--approve").returncode == 0
    res = _cli(repo, "resume", run_id)
    assert res.returncode == 0 and "nothing to resume" in res.stderr
