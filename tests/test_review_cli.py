"""Review findings through the real CLI: clear errors and documented exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.gitutil import init_repo
from tests.test_cli_runs import FLOW, _script


def _paused_run(tmp_path: Path, cli) -> tuple[Path, Path, str]:
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    flow = tmp_path / "two.yaml"
    flow.write_text(FLOW)
    script = _script(tmp_path / "s.yaml")
    res = cli(
        "run", str(flow), "w", "--model", f"scripted:{script}", "--autonomy", "full", repo=repo
    )
    assert res.returncode == 3, res.stdout + res.stderr
    return repo, flow, json.loads(cli("runs", "--json", repo=repo).stdout)[0]["id"]


def test_flow_node_renamed_while_paused_is_a_clear_error_not_a_traceback(tmp_path: Path, cli):
    repo, flow, run_id = _paused_run(tmp_path, cli)
    # the person renames the gate node the run waits at, and the node after it
    flow.write_text(FLOW.replace("approve", "approve2").replace("summary", "summary2"))
    for args in (["--approve"], ["--reject", "again"]):
        res = cli("resume", run_id, *args, repo=repo)
        assert res.returncode == 2, res.stderr
        assert "Traceback" not in res.stderr
        assert "has no node 'approve'" in res.stderr
    assert json.loads(cli("show", run_id, "--json", repo=repo).stdout)["gate"] is not None
    # the run stands at a node that is gone: clear error, the run stays resumable
    flow.write_text(FLOW.replace("id: edit", "id: edit2").replace("edit", "edit2"))
    start_cp = next(
        c["id"]
        for c in json.loads(cli("show", run_id, "--json", repo=repo).stdout)["checkpoints"]
        if c["source"] == "start"
    )
    res = cli("retry", str(start_cp), repo=repo)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "has no node 'edit'" in res.stderr
    assert json.loads(cli("show", run_id, "--json", repo=repo).stdout)["run"]["status"] == "paused"


TWO_HUNK_FLOW = """\
name: one
description: one edit
nodes:
  - id: edit
    kind: agent
    tools: [write_file, finish]
    prompt: "edit"
    next: end
"""


def test_resume_approve_hunks_keeps_only_the_named_hunks(tmp_path: Path, capsys):
    import yaml

    from engine.cli import main

    lines = "".join(f"line {i}\n" for i in range(1, 31))
    repo = init_repo(tmp_path / "repo", {"data.txt": lines})
    changed = lines.replace("line 2\n", "line 2 X\n").replace("line 28\n", "line 28 X\n")
    flow = tmp_path / "one.yaml"
    flow.write_text(TWO_HUNK_FLOW)
    script = tmp_path / "s.yaml"
    calls = [
        {"name": "write_file", "arguments": {"path": "data.txt", "content": changed}},
        {"name": "finish", "arguments": {"summary": "two changes"}},
    ]
    script.write_text(
        yaml.safe_dump({"responses": [{"node": "edit", "tool_calls": [c]} for c in calls]})
    )
    argv = ["-C", str(repo), "run", str(flow), "w", "--model", f"scripted:{script}"]
    assert main(argv) == 3
    out = capsys.readouterr().out
    assert "--approve --hunks FILE:N" in out
    run_id = out.split()[1].rstrip(":")
    assert main(["-C", str(repo), "resume", run_id, "--approve", "--hunks", "data.txt"]) == 2
    assert "is not FILE:N" in capsys.readouterr().err
    assert main(["-C", str(repo), "resume", run_id, "--approve", "--hunks", "data.txt:1"]) == 0
    assert (repo / "data.txt").read_text() == lines.replace("line 28\n", "line 28 X\n")
