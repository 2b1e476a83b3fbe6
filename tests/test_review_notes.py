"""Review that talks back: line comments (`resume --comment FILE:LINE:TEXT`) and the hunks
dropped in a partial approval reach the next prompt as structured notes. Through
main(argv) in-process, with litellm's real HTTP client against the loopback server
(so the test sees exactly what the model was sent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from tests.support import openai_server as server_support
from tests.support.gitutil import init_repo
from tests.support.openai_server import OpenAIServer, reply_text, reply_tool_calls

openai_server = server_support.openai_server

FLOW = """\
name: one
description: one edit, then a summary
nodes:
  - id: edit
    kind: agent
    tools: [write_file, finish]
    prompt: "Edit data.txt"
    next: summary
  - id: summary
    kind: llm
    prompt: "Summarize"
    next: end
"""
LINES = "".join(f"line {i}\n" for i in range(1, 31))


def _write(content: str, n: int) -> list[dict]:
    return [
        reply_tool_calls(
            [
                {
                    "id": f"w{n}",
                    "name": "write_file",
                    "arguments": {"path": "data.txt", "content": content},
                }
            ]
        ),
        reply_tool_calls([{"id": f"f{n}", "name": "finish", "arguments": {"summary": "ok"}}]),
    ]


@pytest.fixture
def setup(tmp_path: Path, openai_server: OpenAIServer, monkeypatch):
    monkeypatch.setenv("LLMFLOWS_API_BASE", openai_server.api_base)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    repo = init_repo(tmp_path / "repo", {"data.txt": LINES})
    flow = tmp_path / "one.yaml"
    flow.write_text(FLOW)
    return repo, ["-C", str(repo), "--model", "openai/test-model"], flow


def _prompts(server: OpenAIServer) -> list[str]:
    return [
        m["content"]
        for b in server.requests
        for m in b["messages"]
        if m["role"] == "user" and isinstance(m.get("content"), str)
    ]


def test_line_comment_reaches_the_next_attempt(setup, openai_server, capsys):
    repo, c, flow = setup
    changed = LINES.replace("line 2\n", "line 2 X\n")
    openai_server.enqueue(
        *_write(changed, 1), *_write(LINES.replace("line 2\n", "TWO\n"), 2), reply_text("done")
    )
    assert main([*c, "run", str(flow), "change line 2"]) == 3
    capsys.readouterr()
    # bad specs: one-line errors, the gate stays open
    assert main([*c, "resume", "--last", "--comment", "data.txt:two:x"]) == 2
    assert "FILE:LINE:TEXT" in capsys.readouterr().err
    assert main([*c, "resume", "--last", "--comment", "data.txt:99:x"]) == 2
    assert "has 30 line(s)" in capsys.readouterr().err
    seen = len(openai_server.requests)
    assert (
        main(
            [
                *c,
                "resume",
                "--last",
                "--comment",
                "data.txt:2:call it TWO: upper case",
                "--output-format",
                "json",
            ]
        )
        == 3
    )  # the second attempt, at its review
    res = json.loads(capsys.readouterr().out)
    later = _prompts_after(openai_server, seen)
    assert "- comment on data.txt:2: call it TWO: upper case" in later[0]
    assert (repo / "data.txt").read_text().splitlines()[1] == "TWO"
    assert res["gate"]["kind"] == "review"


def _prompts_after(server: OpenAIServer, n: int) -> list[str]:
    return [
        m["content"]
        for b in server.requests[n:]
        for m in b["messages"]
        if m["role"] == "user" and isinstance(m.get("content"), str)
    ]


def test_rejected_hunks_of_a_partial_approval_reach_the_next_prompt(setup, openai_server, capsys):
    repo, c, flow = setup
    changed = LINES.replace("line 2\n", "line 2 X\n").replace("line 28\n", "line 28 X\n")
    openai_server.enqueue(*_write(changed, 1), reply_text("summary"))
    assert main([*c, "run", str(flow), "two changes"]) == 3
    capsys.readouterr()
    seen = len(openai_server.requests)
    assert main(
        [
            *c,
            "resume",
            "--last",
            "--approve",
            "--hunks",
            "data.txt:0",
            "--comment",
            "data.txt:2:good",
        ]
    ) in (0, 3)
    capsys.readouterr()
    assert "line 28\n" in (repo / "data.txt").read_text()  # the dropped hunk is undone
    summary_prompt = _prompts_after(openai_server, seen)[0]
    assert "- comment on data.txt:2: good" in summary_prompt
    assert "- rejected change at data.txt:28" in summary_prompt
    assert "-line 28\n+line 28 X" in summary_prompt
