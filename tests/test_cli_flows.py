"""`llmflows-tui flows` and `flows check`: output and exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from engine.cli import main
from engine.flow.spec import builtin_flows_dir

ROOT = Path(__file__).resolve().parents[1]
GOOD = "name: mine\ndescription: my flow\nnodes:\n  - id: a\n    kind: llm\n    prompt: hi\n"
BAD = (
    "name: bad\ndescription: broken\nnodes:\n  - id: a\n    kind: lmm\n"
    "  - id: b\n    kind: run\n    command: x\n    next: nowhere\n"
)


def test_flows_lists_builtins_outside_a_repo(tmp_path, capsys):
    assert main(["-C", str(tmp_path), "flows"]) == 0
    out = capsys.readouterr().out
    for name in ("bugfix", "feature", "refactor"):
        assert re.search(rf"^{name}\s+builtin\s+\S", out, re.M), out


def test_flows_json_with_project_override(repo, capsys):
    proj = repo / ".llmflows" / "flows"
    proj.mkdir(parents=True)
    (proj / "feature.yaml").write_text(GOOD.replace("mine", "feature"))
    (proj / "mine.yaml").write_text(GOOD)
    assert main(["-C", str(repo / "src"), "flows", "--json"]) == 0
    data = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert set(data["feature"]) == {"name", "source", "path", "description", "shadows_builtin"}
    assert data["feature"]["source"] == "project" and data["feature"]["description"] == "my flow"
    assert data["feature"]["shadows_builtin"] and not data["mine"]["shadows_builtin"]
    assert data["mine"]["source"] == "project"
    assert data["bugfix"]["source"] == "builtin"


def test_check_ok(tmp_path, capsys):
    p = tmp_path / "mine.yaml"
    p.write_text(GOOD)
    assert main(["flows", "check", str(p)]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("ok") and str(p) in out.out and out.err == ""


def test_check_builtin_by_path_and_name(capsys):
    assert main(["flows", "check", str(builtin_flows_dir() / "bugfix.yaml")]) == 0
    assert main(["flows", "check", "refactor"]) == 0


def test_check_errors_exit_2_with_positions(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text(BAD)
    assert main(["flows", "check", str(p)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines == [
        f"{p}:5:11: unknown node kind 'lmm' (did you mean 'llm'?); "
        "expected one of llm, plan, agent, run, gate",
        f"{p}:9:11: node 'b': next target 'nowhere' does not exist (use a node id, 'end' or 'fail')",
    ]


def test_check_json(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text(BAD)
    assert main(["flows", "check", str(p), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["issues"][0]["line"] == 5 and data["issues"][0]["col"] == 11


def test_check_missing_file(tmp_path, capsys):
    assert main(["flows", "check", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read flow file" in capsys.readouterr().err


def test_check_relative_to_C(tmp_path, capsys):
    (tmp_path / "mine.yaml").write_text(GOOD)
    assert main(["-C", str(tmp_path), "flows", "check", "mine.yaml"]) == 0


def test_show(capsys):
    assert main(["flows", "show", "bugfix"]) == 0
    out = capsys.readouterr().out
    assert "reproduce" in out and "-> fix on reject" in out
    assert main(["flows", "show", "bugfix", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    nodes = {n["id"]: n for n in data["nodes"]}
    assert data["start"] == "baseline" and nodes["baseline"]["next"][0]["to"] == "reproduce"
    assert nodes["confirm"]["next"][0] == {"to": "locate", "when": "tests.reproduced"}


def test_show_unknown_flow_is_usage_error(capsys):
    assert main(["flows", "show", "nope"]) == 2
    assert "available flows: bugfix" in capsys.readouterr().err


def test_real_subprocess_flows_json(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tui.entry", "flows", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    names = {d["name"] for d in json.loads(proc.stdout)}
    assert {"bugfix", "feature", "refactor"} <= names
