"""The headless run verbs through the real CLI: exit codes, pause/resume, retry, budgets.

In-process (``cli`` fixture) except where the process boundary is the point.
"""

from __future__ import annotations

import json
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


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    flow = tmp_path / "two.yaml"
    flow.write_text(FLOW)
    return repo, flow, _script(tmp_path / "s.yaml")


def test_pause_at_gate_exit_3_then_reject_and_approve(tmp_path: Path, cli):
    repo, flow, script = _setup(tmp_path)
    # a real process that exits at the gate
    res = run_cli(
        "run",
        str(flow),
        "write a",
        "--model",
        f"scripted:{script}",
        "--autonomy",
        "full",
        repo=repo,
    )
    assert res.returncode == 3, res.stdout + res.stderr
    assert "resume" in res.stdout and "--approve" in res.stdout
    run_id = json.loads(cli("runs", "--json", repo=repo).stdout)[0]["id"]
    # the pause survives the process: this one sees the gate
    show = json.loads(cli("show", run_id, "--json", repo=repo).stdout)
    assert show["run"]["status"] == "paused" and show["gate"]["kind"] == "gate"
    # reject goes back to the previous node with the reason; approve finishes
    res = cli("resume", run_id, "--reject", "make it v1", repo=repo)
    assert res.returncode == 3
    assert (repo / "a.txt").read_text() == "v1\n"
    res = cli("resume", run_id, "--approve", repo=repo)
    assert res.returncode == 0, res.stdout + res.stderr
    text = cli("show", run_id, repo=repo).stdout
    assert "completed" in text and "edit attempt 2" in text
    listing = cli("runs", repo=repo).stdout
    assert run_id in listing and "completed" in listing
    # approving again says where the run is and what to do instead
    res = cli("resume", run_id, "--approve", repo=repo)
    assert res.returncode == 2
    assert (
        f"run {run_id} is completed, not waiting for an answer: it has ended "
        "(a follow-up: run --continue GOAL)"
    ) in res.stderr


def test_budget_stop_exit_4_and_resume_with_higher_limit(tmp_path: Path, cli):
    repo, flow, script = _setup(tmp_path)
    res = cli(
        "run",
        str(flow),
        "write a",
        "--model",
        f"scripted:{script}",
        "--autonomy",
        "full",
        "--max-cost",
        "0.0001",
        repo=repo,
    )
    assert res.returncode == 4, res.stdout + res.stderr
    assert "cost budget" in res.stdout + res.stderr
    run_id = json.loads(cli("runs", "--json", repo=repo).stdout)[0]["id"]
    res = cli("resume", run_id, "--max-cost", "5", repo=repo)
    assert res.returncode == 3, res.stdout + res.stderr  # on to the gate


def test_retry_from_checkpoint_with_instruction(tmp_path: Path, cli):
    repo, flow, script = _setup(tmp_path)
    cli(
        "run",
        str(flow),
        "write a",
        "--model",
        f"scripted:{script}",
        "--autonomy",
        "full",
        repo=repo,
    )
    run_id = json.loads(cli("runs", "--json", repo=repo).stdout)[0]["id"]
    show = json.loads(cli("show", run_id, "--json", repo=repo).stdout)
    start_cp = next(c for c in show["checkpoints"] if c["source"] == "start")["id"]
    res = cli("retry", str(start_cp), "--instruction", "write v1 instead", repo=repo)
    assert res.returncode == 3, res.stdout + res.stderr
    assert (repo / "a.txt").read_text() == "v1\n"
    show = json.loads(cli("show", run_id, "--json", repo=repo).stdout)
    edits = [s for s in show["steps"] if s["node"] == "edit"]
    assert [s["attempt"] for s in edits] == [1, 2]
    assert edits[1]["parent_step_id"] == edits[0]["id"]


def test_run_verbs_outside_a_repo_exit_2(tmp_path: Path, cli):
    for args in (["runs"], ["run", "bugfix", "x", "--model", "scripted:/x"], ["show", "r1"]):
        res = cli(*args, repo=tmp_path)
        assert res.returncode == 2, args
        assert "not inside a git repository" in res.stderr


def test_bad_flow_file_is_rejected_before_anything_runs(tmp_path: Path, cli):
    repo, _flow, script = _setup(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: x\nnodes:\n  - id: a\n    kind: lmm\n")
    res = cli("run", str(bad), "goal", "--model", f"scripted:{script}", repo=repo)
    assert res.returncode == 2
    assert f"{bad}:5:11:" in res.stderr and "lmm" in res.stderr
    assert json.loads(cli("runs", "--json", repo=repo).stdout) == []


def test_no_model_configured_names_the_options(tmp_path: Path, cli):
    repo, _flow, _script_path = _setup(tmp_path)
    res = cli("run", "bugfix", "fix it", repo=repo)
    assert res.returncode == 2
    assert "demo" in res.stderr and "--model" in res.stderr


def test_cli_rewind_of_a_run_checkpoint_moves_the_run_and_can_be_undone(tmp_path: Path, cli):
    repo, flow, script = _setup(tmp_path)
    cli(
        "run",
        str(flow),
        "write a",
        "--model",
        f"scripted:{script}",
        "--autonomy",
        "full",
        repo=repo,
    )
    run_id = json.loads(cli("runs", "--json", repo=repo).stdout)[0]["id"]
    show = json.loads(cli("show", run_id, "--json", repo=repo).stdout)
    start_cp = next(c for c in show["checkpoints"] if c["source"] == "start")["id"]
    res = cli("rewind", str(start_cp), "--json", repo=repo)
    assert res.returncode == 0, res.stderr
    undo = json.loads(res.stdout)["undo_checkpoint"]
    assert not (repo / "a.txt").exists()
    show = json.loads(cli("show", run_id, "--json", repo=repo).stdout)
    assert show["gate"] is None and show["run"]["status"] == "paused"
    assert show["run"]["head_checkpoint_id"] == start_cp
    # the undo point was announced as an event, so history views can show it
    from engine.store import RunStore

    with RunStore.open(repo, write=False) as store:
        made = [e["checkpoint_id"] for e in store.events_for(run_id) if e["type"] == "checkpoint"]
    assert undo in made
    res = cli("rewind", str(undo), repo=repo)
    assert res.returncode == 0 and (repo / "a.txt").read_text() == "v0\n"


def test_resume_of_a_completed_run_says_there_is_nothing_to_resume(tmp_path: Path, cli):
    repo, flow, script = _setup(tmp_path)
    cli(
        "run",
        str(flow),
        "write a",
        "--model",
        f"scripted:{script}",
        "--autonomy",
        "full",
        repo=repo,
    )
    run_id = json.loads(cli("runs", "--json", repo=repo).stdout)[0]["id"]
    assert cli("resume", run_id, "--approve", repo=repo).returncode == 0
    res = cli("resume", run_id, repo=repo)
    assert res.returncode == 0 and "nothing to resume" in res.stderr


def test_rewind_names_the_node_and_show_runs_say_what_they_hold(tmp_path: Path, cli):
    """After a rewind the run is at the node it continues with; `show` says what an undo
    point and the start checkpoint hold (not "0 files"); `runs` marks a cut goal."""
    repo, flow, script = _setup(tmp_path)
    goal = "write a " + "very long goal " * 6
    cli("run", str(flow), goal, "--model", f"scripted:{script}", "--autonomy", "full", repo=repo)
    run_id = json.loads(cli("runs", "--json", repo=repo).stdout)[0]["id"]
    runs = cli("runs", repo=repo).stdout.splitlines()[1]
    assert runs.endswith("…") and " ".join(goal.split())[:50] in runs, runs
    show = json.loads(cli("show", run_id, "--json", repo=repo).stdout)
    start_cp = next(c for c in show["checkpoints"] if c["source"] == "start")["id"]
    undo = json.loads(cli("rewind", str(start_cp), "--json", repo=repo).stdout)["undo_checkpoint"]
    from engine.store import RunStore

    with RunStore.open(repo, write=False) as store:
        status = [e for e in store.events_for(run_id) if e["type"] == "run_status"][-1]
        # the gate was at `approve`; from the start checkpoint the run goes on with `edit`
        assert status["node"] == "edit"
        assert status["reason"] == f"rewound to checkpoint {start_cp}: c continues with edit"
        start = store.get_checkpoint(start_cp)
        total = store.run_cost(run_id)["cost_usd"]
        assert store.run_cost(run_id, until=start["created_at"])["cost_usd"] == 0.0 < total
    text = cli("show", run_id, repo=repo).stdout
    undo_line = next(ln for ln in text.splitlines() if ln.strip().startswith(f"{undo} "))
    assert f"(your files just before that rewind; `rewind {undo}` undoes it)" in undo_line
    start_line = next(ln for ln in text.splitlines() if ln.strip().startswith(f"{start_cp} "))
    assert "(your tree when the run began)" in start_line
    assert "(0 files)" not in text
