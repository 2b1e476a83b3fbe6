"""CLI conventions users of Codex / Claude Code / Aider expect, through main(argv) in-process:
--version, global options on either side of the verb, goal from stdin or a file,
resume --last, run --continue, JSON lines and the final result object (schema-validated),
--approval never for CI, NO_COLOR / --color."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from engine.cli import main
from tests.support.gitutil import git, init_repo

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "schema" / "cli-output.schema.json").read_text())

FLOW = """\
name: one
description: one edit and a summary
nodes:
  - id: edit
    kind: agent
    tools: [write_file, finish]
    prompt: "Write a.txt"
    next: summary
  - id: summary
    kind: llm
    prompt: "Summarize"
    next: end
"""


def _script(path: Path, contents: list[str]) -> Path:
    responses = []
    for i, content in enumerate(contents):
        responses += [
            {
                "node": "edit",
                "tool_calls": [
                    {"name": "write_file", "arguments": {"path": "a.txt", "content": content}}
                ],
            },
            {"node": "edit", "tool_calls": [{"name": "finish", "arguments": {"summary": f"e{i}"}}]},
            {"node": "summary", "text": f"wrote a.txt ({i})"},
        ]
    path.write_text(yaml.safe_dump({"responses": responses}))
    return path


@pytest.fixture
def setup(tmp_path: Path):
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    flow = tmp_path / "one.yaml"
    flow.write_text(FLOW)
    script = _script(tmp_path / "s.yaml", ["v1\n", "v2\n"])
    return repo, flow, f"scripted:{script}"


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_schema_lists_every_streamed_event_type():
    from engine.events import _REGISTRY

    listed = set(SCHEMA["$defs"]["event"]["properties"]["type"]["enum"])
    assert listed == set(_REGISTRY) - {"token"}  # token deltas are not streamed as JSON


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == "llmflows-tui 0.1.0"


def test_global_options_before_or_after_the_verb(setup, capsys):
    repo, flow, model = setup
    before = ["-C", str(repo), "--model", model, "--json"]
    assert main([*before, "run", str(flow), "write a", "--autonomy", "full"]) == 0
    first = _lines(capsys.readouterr().out)
    after = ["-C", str(repo), "--model", model, "--json"]
    assert main(["run", str(flow), "write a again", "--autonomy", "full", *after]) == 0
    second = _lines(capsys.readouterr().out)
    for lines in (first, second):
        assert lines[-1]["type"] == "result" and lines[-1]["model"] == model
    assert main(["runs", "-C", str(repo), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_goal_from_stdin_and_goal_file(setup, capsys, monkeypatch, tmp_path):
    repo, flow, model = setup
    base = ["-C", str(repo), "--model", model, "--output-format", "json"]
    monkeypatch.setattr("sys.stdin", io.StringIO("goal from a pipe\n"))
    assert main([*base, "run", str(flow), "-", "--autonomy", "full"]) == 0
    assert json.loads(capsys.readouterr().out)["goal"] == "goal from a pipe"
    goal_file = tmp_path / "goal.md"
    goal_file.write_text("goal from a file\n\nwith two paragraphs\n")
    assert main([*base, "run", str(flow), "--goal-file", str(goal_file), "--autonomy", "full"]) == 0
    assert json.loads(capsys.readouterr().out)["goal"] == "goal from a file\n\nwith two paragraphs"
    # bad goal input: one-line error, exit 2, no run created
    assert main([*base, "run", str(flow), "x", "--goal-file", str(goal_file)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main([*base, "run", str(flow), "--goal-file", str(tmp_path / "missing.md")]) == 2
    assert "cannot read --goal-file" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("  \n"))
    assert main([*base, "run", str(flow), "-"]) == 2
    assert "goal is empty" in capsys.readouterr().err
    assert main(["-C", str(repo), "runs", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_stream_json_starts_with_run_started_and_checkpoint_0_and_ends_with_result(setup, capsys):
    repo, flow, model = setup
    code = main(
        [
            "-C",
            str(repo),
            "--model",
            model,
            "run",
            str(flow),
            "write a",
            "--json",
            "--autonomy",
            "full",
        ]
    )
    assert code == 0
    lines = _lines(capsys.readouterr().out)
    for line in lines:
        jsonschema.validate(line, SCHEMA)
        assert line["schema"] == 1
    assert lines[0]["type"] == "run_started" and lines[0]["goal"] == "write a"
    assert lines[1]["type"] == "checkpoint" and lines[1]["source"] == "start"
    assert [ln["type"] for ln in lines].count("result") == 1
    res = lines[-1]
    assert res["type"] == "result" and res["status"] == "completed" and res["exit_code"] == 0
    assert res["start_checkpoint_id"] == lines[1]["checkpoint_id"]
    assert res["summary"] == "wrote a.txt (0)"
    assert res["files"] == [{"path": "a.txt", "status": "added", "additions": 1, "deletions": 0}]
    assert res["tokens_in"] > 0 and res["steps"] == 2
    seqs = [ln["seq"] for ln in lines[:-1] if ln["seq"] is not None]  # null: not stored
    assert seqs == sorted(seqs) and seqs[0] == min(seqs)


def test_output_format_json_prints_only_the_result_object(setup, capsys):
    repo, flow, model = setup
    code = main(
        ["run", str(flow), "write a", "--output-format", "json", "-C", str(repo), "--model", model]
    )
    assert code == 3  # review autonomy: paused at the review of the edit
    res = json.loads(capsys.readouterr().out)  # the whole stdout is one JSON document
    jsonschema.validate(res, SCHEMA)
    assert res["status"] == "paused" and res["gate"]["kind"] == "review"
    assert res["final_checkpoint_id"] == res["gate"]["checkpoint_id"]


def test_resume_last_and_run_continue_follow_up_from_final_tree(setup, capsys, tmp_path):
    repo, flow, model = setup
    second_model = "scripted:" + str(_script(tmp_path / "s2.yaml", ["v2\n"]))
    c = ["-C", str(repo), "--model", model]
    assert main([*c, "run", str(flow), "write a"]) == 3
    capsys.readouterr()
    assert main([*c, "resume", "--last", "--approve", "--json"]) == 0
    lines = _lines(capsys.readouterr().out)
    assert lines[0]["type"] == "run_started" and lines[-1]["status"] == "completed"
    first, first_final = lines[-1]["run_id"], lines[-1]["final_checkpoint_id"]
    # a person edits the tree after the run; the follow-up starts from the run's final tree
    (repo / "a.txt").write_text("changed by hand\n")
    assert (
        main(
            [
                *c,
                "run",
                "--continue",
                "now make it v2",
                "--autonomy",
                "full",
                "--model",
                second_model,
                "--output-format",
                "json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert res["continued_from"] == first and res["flow"] == "one"
    assert res["run_id"] != first and res["goal"] == "now make it v2"
    assert res["model"] == second_model and (repo / "a.txt").read_text() == "v2\n"
    assert (
        main(["-C", str(repo), "diff", str(first_final), str(res["start_checkpoint_id"]), "--json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["files"] == []
    # the hand edit is not lost: the rewind to the final tree kept it in a checkpoint
    assert main(["-C", str(repo), "checkpoints", "--json"]) == 0
    assert any(c["source"] == "pre-restore" for c in json.loads(capsys.readouterr().out))


def test_resume_needs_a_run_or_last(setup, capsys):
    repo, _, _ = setup
    assert main(["-C", str(repo), "resume"]) == 2
    assert "--last" in capsys.readouterr().err
    assert main(["-C", str(repo), "resume", "--last"]) == 2
    assert "no runs yet" in capsys.readouterr().err


def test_approval_never_exits_5_and_names_what_needed_a_person(setup, capsys):
    repo, flow, model = setup
    code = main(
        ["-C", str(repo), "--model", model, "run", str(flow), "write a", "--approval", "never"]
    )
    assert code == 5
    out = capsys.readouterr()
    assert "needed a person" in out.err and "review gate" in out.err
    code = main(
        ["-C", str(repo), "resume", "--last", "--approval", "never", "--output-format", "json"]
    )
    res = json.loads(capsys.readouterr().out)
    assert code == 5 and res["exit_code"] == 5 and res["status"] == "paused"
    assert res["needs_person"].startswith("review gate #")
    jsonschema.validate(res, SCHEMA)


def test_no_color_and_color_flag_for_diff(setup, capsys, monkeypatch):
    repo, _, _ = setup
    assert main(["-C", str(repo), "checkpoint", "-m", "base"]) == 0
    cp = capsys.readouterr().out.strip()
    (repo / "README.md").write_text("changed\n")
    assert main(["-C", str(repo), "diff", cp, "--color", "always"]) == 0
    assert "\x1b[" in capsys.readouterr().out
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["-C", str(repo), "diff", cp]) == 0
    assert "\x1b[" not in capsys.readouterr().out
    assert main(["-C", str(repo), "diff", cp, "--color", "never"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out and "+changed" in out
    git(repo, "status")  # the repo is untouched by diffing


def test_a_reader_that_closes_the_pipe_ends_the_listing_quietly(tmp_path, monkeypatch, capsys):
    """`llmflows-tui flows | head -1`: no "error: Broken pipe", the shell's SIGPIPE status."""
    repo = init_repo(tmp_path / "repo", {"a.txt": "a\n"})

    class ClosedPipe(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert main(["-C", str(repo), "flows"]) == 141
    assert capsys.readouterr().err == ""


def test_looking_at_a_repository_without_history_creates_nothing(tmp_path, capsys):
    repo = init_repo(tmp_path / "repo", {"a.txt": "a\n"})
    exclude = repo / ".git" / "info" / "exclude"
    before = exclude.read_text() if exclude.exists() else None
    assert main(["-C", str(repo), "runs"]) == 0
    assert "no runs yet" in capsys.readouterr().out
    assert main(["-C", str(repo), "show", "r123456"]) == 2
    assert "no run 'r123456'" in capsys.readouterr().err
    assert not (repo / ".llmflows").exists()
    assert (exclude.read_text() if exclude.exists() else None) == before
    assert main(["-C", str(tmp_path), "runs"]) == 2  # still says when it is no repository
    assert "not inside a git repository" in capsys.readouterr().err
