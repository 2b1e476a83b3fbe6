"""'Always allow this prefix' rules (project / user) at command gates, `rules`, `show`,
and --approval never, through main(argv) in-process with real repos and the scripted model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.cli import main
from engine.tools import approval_rules as ar
from tests.support.gitutil import init_repo

FLOW = """\
name: cmd
description: runs one command
nodes:
  - id: work
    kind: agent
    tools: [run_command, finish]
    prompt: "Make the file"
    next: end
"""


@pytest.fixture
def setup(tmp_path: Path):
    flow = tmp_path / "cmd.yaml"
    flow.write_text(FLOW)
    script = tmp_path / "s.yaml"
    calls = [
        {"name": "run_command", "arguments": {"command": "touch made.txt"}},
        {"name": "finish", "arguments": {"summary": "made it"}},
    ]
    script.write_text(
        yaml.safe_dump({"responses": [{"node": "work", "tool_calls": [c]} for c in calls]})
    )
    return flow, f"scripted:{script}"


def _run(repo: Path, flow: Path, model: str, *extra: str) -> int:
    return main(
        [
            "-C",
            str(repo),
            "--model",
            model,
            "run",
            str(flow),
            "make it",
            "--autonomy",
            "full",
            *extra,
        ]
    )


def test_suggested_prefix_names_the_program_and_subcommand():
    assert ar.suggest_prefix("npm run lint -- --fix") == "npm run lint"
    assert ar.suggest_prefix("python -m pytest tests/x.py") == "python -m pytest"
    assert ar.suggest_prefix("touch made.txt") == "touch"
    assert ar.suggest_prefix("FOO=1 make") == "FOO=1 make"


def test_always_allow_here_is_remembered_for_the_next_run(setup, tmp_path, capsys):
    flow, model = setup
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    # review autonomy asks before a command outside the allowlist
    code = main(
        [
            "-C",
            str(repo),
            "--model",
            model,
            "run",
            str(flow),
            "make it",
            "--autonomy",
            "auto-edit",
            "--output-format",
            "json",
        ]
    )
    res = json.loads(capsys.readouterr().out)
    assert code == 3 and res["gate"]["kind"] == "command"
    assert main(["-C", str(repo), "resume", "--last", "--approve", "--always", "project"]) in (0, 3)
    out = capsys.readouterr().out
    assert "always allowed (project): touch" in out and (repo / "made.txt").exists()
    assert main(["-C", str(repo), "show", res["run_id"]]) == 0
    shown = capsys.readouterr().out
    assert "always allowed" in shown and "project  touch" in shown
    assert "touch made.txt" in shown  # approved in this run
    # the next run in this repo does not ask, even under --approval never
    (repo / "made.txt").unlink()
    code = main(
        [
            "-C",
            str(repo),
            "--model",
            model,
            "run",
            str(flow),
            "again",
            "--autonomy",
            "auto-edit",
            "--approval",
            "never",
            "--output-format",
            "json",
        ]
    )
    res2 = json.loads(capsys.readouterr().out)
    assert res2["gate"] is None or res2["gate"]["kind"] != "command"
    assert (repo / "made.txt").exists()
    # rules are stored outside the repository
    assert not list(repo.rglob("approvals.toml")) and ar.rules_path().is_file()
    assert main(["-C", str(repo), "rules", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"prefix": "touch", "scope": "project"}]


def test_project_rule_stays_in_its_project_user_rule_goes_everywhere(setup, tmp_path, capsys):
    flow, model = setup
    here = init_repo(tmp_path / "here", {"README.md": "hi\n"})
    other = init_repo(tmp_path / "other", {"README.md": "hi\n"})
    assert main(["-C", str(here), "rules", "add", "touch"]) == 0
    capsys.readouterr()
    code = main(
        [
            "-C",
            str(other),
            "--model",
            model,
            "run",
            str(flow),
            "make it",
            "--autonomy",
            "auto-edit",
            "--approval",
            "never",
        ]
    )
    err = capsys.readouterr().err
    assert code == 5 and "command gate" in err and "touch made.txt" in err
    assert not (other / "made.txt").exists()
    assert main(["-C", str(other), "rules", "add", "touch", "--user"]) == 0
    code = main(
        [
            "-C",
            str(other),
            "--model",
            model,
            "run",
            str(flow),
            "make it",
            "--autonomy",
            "auto-edit",
            "--approval",
            "never",
        ]
    )
    assert "command gate" not in capsys.readouterr().err
    assert (other / "made.txt").exists()
    assert main(["-C", str(here), "rules", "remove", "touch"]) == 0
    assert main(["-C", str(here), "rules", "remove", "touch"]) == 1
    capsys.readouterr()
    assert main(["-C", str(here), "rules"]) == 0
    listing = capsys.readouterr().out
    assert "user     touch" in listing and "project" not in listing


def test_rules_file_is_hand_editable_and_bad_input_is_one_line(tmp_path, capsys):
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    path = ar.rules_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('# mine\n[user]\nallow = ["make docs"]  # docs are safe\n')
    assert main(["-C", str(repo), "rules", "add", "npm run lint", "--user"]) == 0
    text = path.read_text()
    assert "# mine" in text and "# docs are safe" in text and "npm run lint" in text
    assert [r.prefix for r in ar.list_rules(repo)] == ["make docs", "npm run lint"]
    assert main(["-C", str(repo), "rules", "add", "re:.*"]) == 2
    assert "not regexes" in capsys.readouterr().err
    path.write_text("[user\n")
    assert main(["-C", str(repo), "rules"]) == 2
    assert "approvals.toml" in capsys.readouterr().err


def test_rules_never_lift_a_deny_and_globs_are_literal(tmp_path):
    from engine.tools.policy import CommandPolicy

    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    ar.add_rule("git push", "user", repo)
    ar.add_rule("ls *", "user", repo)
    policy = ar.with_rules(CommandPolicy(), repo)
    assert policy.classify("git push origin main", repo) == "deny"
    assert policy.classify("touch x", repo) == "ask"


def test_approval_never_exits_5_at_a_pending_command_gate(setup, tmp_path, capsys):
    flow, model = setup
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    # a person-run opens the command gate and leaves it pending
    assert _run(repo, flow, model, "--autonomy", "auto-edit", "--output-format", "json") == 3
    assert json.loads(capsys.readouterr().out)["gate"]["kind"] == "command"
    # CI resumes it fail-closed: nothing may answer, so exit 5 naming the command
    code = main(
        ["-C", str(repo), "resume", "--last", "--approval", "never", "--output-format", "json"]
    )
    out = capsys.readouterr()
    done = json.loads(out.out)
    assert code == 5 and done["exit_code"] == 5 and done["status"] == "paused"
    assert done["needs_person"].startswith("command gate #")
    assert "touch made.txt" in done["needs_person"]
    assert not (repo / "made.txt").exists()
    code = main(["-C", str(repo), "resume", "--last", "--approval", "never"])
    err = capsys.readouterr().err
    assert code == 5 and "needed a person" in err and "touch made.txt" in err
    assert not (repo / "made.txt").exists()
