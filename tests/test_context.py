"""Context budget, trim markers, read_file ranges, context-window errors and project
instructions: real temp repos, the real executor, litellm's real client on loopback."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.context.budget import budget_for_settings
from engine.context.instructions import project_instructions
from engine.models import ModelClient, ModelSettings
from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from engine.tools import Workspace, read_file
from tests.support import openai_server as server_support
from tests.support.fake_model import FakeModel, say, tool
from tests.support.gitutil import init_repo
from tests.support.openai_server import OpenAIServer, reply_status, reply_tool_calls

openai_server = server_support.openai_server

PY = f'"{sys.executable}" -m pytest -q -p no:cacheprovider'
CONTEXT_ERROR = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted "
    "in 9100 tokens. Please reduce the length of the messages."
)

FLOW = """name: one
description: one fix step
settings:
  test_command: "python -m pytest -q"
nodes:
  - id: test
    kind: run
    command: "{{ settings.test_command }}"
    tests: true
    next:
      - when: "tests.failed > 0"
        to: fix
      - to: end
  - id: fix
    kind: agent
    prompt: prompts/fix.j2
    next: end
"""


def _big_test_file() -> str:
    """~30 KB of passing tests, then the one failing test at the very end."""
    parts = [
        f"def test_filler_{i}():\n    assert {i} == {i}  # padding line\n\n" for i in range(700)
    ]
    parts.append("def test_the_bug_at_the_end():\n    assert 'needle' == 'haystack'\n")
    return "".join(parts)


def _flow(tmp_path: Path) -> str:
    d = tmp_path / "flow"
    (d / "prompts").mkdir(parents=True, exist_ok=True)
    (d / "prompts" / "fix.j2").write_text(
        "Fix it.\n{% for path, text in files.items() %}--- {{ path }}\n{{ text }}\n{% endfor %}"
    )
    (d / "one.yaml").write_text(FLOW)
    return str(d / "one.yaml")


def _run(project: Path, tmp_path: Path, model, settings=None) -> tuple[str, object]:
    with Session.open(project) as s:
        run_id = ops.create_run(
            s,
            _flow(tmp_path),
            "fix the bug",
            model="fake/model",
            autonomy="full",
            settings={"test_command": PY, **(settings or {})},
        )
        out = asyncio.run(Executor(s, run_id, model_factory=lambda _s: model).execute())
    return run_id, out


def test_a_30kb_file_whose_failing_test_is_past_the_old_cap_reaches_the_prompt(tmp_path):
    big = _big_test_file()
    assert len(big) > 30_000 and big.index("test_the_bug_at_the_end") > 20_000
    project = init_repo(tmp_path / "p", {"test_big.py": big})
    model = FakeModel({"fix": [say(tool("finish", summary="looked"))]})
    _run(project, tmp_path, model)
    prompt = model.calls[0]["messages"][1]["content"]
    assert "def test_the_bug_at_the_end():" in prompt
    assert "omitted" not in prompt  # it fits the window: shown whole


def test_a_file_too_big_for_the_window_is_trimmed_with_a_marker_read_file_can_follow(tmp_path):
    big = _big_test_file()
    project = init_repo(tmp_path / "p", {"test_big.py": big})
    model = FakeModel({"fix": [say(tool("finish", summary="looked"))]})
    model.settings.context_window = 6000  # a small local model
    model.settings.max_output_tokens = 1000
    _run(project, tmp_path, model)
    prompt = model.calls[0]["messages"][1]["content"]
    # Start and end kept, the middle replaced in place by a marker naming the lines.
    assert "def test_filler_0():" in prompt and "def test_the_bug_at_the_end():" in prompt
    m = re.search(r"\[\.\.\. (\d+) lines omitted — read_file test_big\.py (\d+)-(\d+)\]", prompt)
    assert m, prompt[:500]
    n, start, end = map(int, m.groups())
    assert n == end - start + 1 and n > 100
    # The marker's range is exactly what read_file returns.
    res = read_file(Workspace(project), "test_big.py", start_line=start, end_line=end)
    lines = big.splitlines()
    assert res.content.splitlines()[1:] == lines[start - 1 : end]
    assert res.content.startswith(f"[test_big.py lines {start}-{end} of {len(lines)}]")


def test_budget_uses_litellm_model_info_and_falls_back_for_unknown_models():
    known = budget_for_settings(ModelSettings(model="openai/gpt-4o"))
    assert known.window == 128_000
    assert known.count_text("hello world") < 10
    unknown = budget_for_settings(ModelSettings(model="openai/no-such-model-xyz"))
    assert unknown.window == 32_768
    configured = budget_for_settings(ModelSettings(model="openai/x", context_window=9000))
    assert configured.window == 9000


def test_agents_md_rules_reach_the_system_prompt_and_show(tmp_path, capsys):
    project = init_repo(
        tmp_path / "p",
        {
            "AGENTS.md": "Always use tabs for indentation in this repo.\n",
            "CONVENTIONS.md": "Name tests after the behaviour.\n",
            "pkg/AGENTS.md": "Never import requests inside pkg/.\n",
            "other/AGENTS.md": "Unrelated rule.\n",
            "pkg/test_x.py": "def test_x():\n    assert False\n",
        },
    )
    model = FakeModel({"fix": [say(tool("finish", summary="done"))]})
    run_id, _ = _run(project, tmp_path, model)
    system = model.calls[0]["messages"][0]["content"]
    assert "Always use tabs for indentation in this repo." in system
    assert "Name tests after the behaviour." in system
    assert "Never import requests inside pkg/." in system  # nested, for a file in play
    assert "Unrelated rule." not in system
    assert main(["-C", str(project), "show", run_id]) == 0
    out = capsys.readouterr().out
    assert "project instructions: AGENTS.md, CONVENTIONS.md, pkg/AGENTS.md" in out


def test_instructions_over_the_cap_are_cut_with_a_marker(tmp_path):
    (tmp_path / "AGENTS.md").write_text("".join(f"rule {i}\n" for i in range(5000)))
    got = project_instructions(tmp_path, cap=2000)
    assert got.sources == ["AGENTS.md"] and got.trimmed == ["AGENTS.md"]
    assert "rule 0" in got.text and "rule 4999" not in got.text
    assert re.search(r"lines omitted — read_file AGENTS\.md \d+-5000\]", got.text)


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("TEST_LLM_API_KEY", "sk-test")


def _client(server: OpenAIServer) -> ModelClient:
    return ModelClient(
        ModelSettings(
            model="openai/test-model",
            api_base=server.api_base,
            api_key_env="TEST_LLM_API_KEY",
            timeout_s=10.0,
            max_retries=1,
            retry_base_s=0.001,
            retry_max_s=0.01,
        )
    )


def _read(i: int, path: str) -> dict:
    return reply_tool_calls([{"id": f"c{i}", "name": "read_file", "arguments": {"path": path}}])


def test_context_length_exceeded_once_compacts_and_retries(tmp_path, openai_server, key):
    files = {f"m{i}.py": "".join(f"x{j} = {j}\n" for j in range(60)) for i in range(3)}
    project = init_repo(tmp_path / "p", {**files, "test_m.py": "def test_m():\n    assert 0\n"})
    openai_server.enqueue(
        _read(1, "m0.py"),
        _read(2, "m1.py"),
        _read(3, "m2.py"),
        reply_status(400, message=CONTEXT_ERROR),
        reply_tool_calls([{"id": "c9", "name": "finish", "arguments": {"summary": "ok"}}]),
    )
    _run_id, out = _run(project, tmp_path, _client(openai_server))
    assert out.status == "completed"
    retried = openai_server.requests[-1]["messages"]
    tool_texts = [m["content"] for m in retried if m["role"] == "tool"]
    assert tool_texts[0].startswith("[tool output compacted to fit the context window")
    assert "read_file(m0.py)" in tool_texts[0]
    assert "x59 = 59" in tool_texts[-1]  # the newest tool output is kept


def test_context_length_exceeded_twice_pauses_with_a_clear_message(tmp_path, openai_server, key):
    project = init_repo(tmp_path / "p", {"test_m.py": "def test_m():\n    assert 0\n" * 20})
    openai_server.set_default(reply_status(400, message=CONTEXT_ERROR))
    run_id, out = _run(project, tmp_path, _client(openai_server))
    assert out.status == "paused"
    assert out.gate.kind == "context"
    assert "does not fit the model's context window" in out.gate.prompt
    # Compacted once (no tool output yet: the longest text loses its middle), then a
    # pause, never an endless retry.
    assert len(openai_server.requests) == 2
    retried = openai_server.requests[1]["messages"][1]["content"]
    assert "lines omitted to fit the context window]" in retried


def test_show_prompts_prints_what_the_model_saw_with_secrets_scrubbed(
    tmp_path, capsys, monkeypatch
):
    secret = "tok-4f9a8b7c6d5e4f3a2b1c"
    monkeypatch.setenv("SERVICE_API_TOKEN", secret)
    project = init_repo(
        tmp_path / "p",
        {
            "AGENTS.md": f"Deploy with {secret} never.\n",
            "test_x.py": "def test_x():\n    assert False\n",
        },
    )
    model = FakeModel(
        {
            "fix": [
                say(tool("read_file", path="test_x.py")),
                say(tool("finish", summary="done")),
            ]
        }
    )
    run_id, _ = _run(project, tmp_path, model)
    # Masked before the model sees it (like any tool result), and so in the store too.
    assert secret not in model.calls[0]["messages"][0]["content"]
    assert main(["-C", str(project), "show", run_id, "--prompts"]) == 0
    out = capsys.readouterr().out
    assert secret not in out
    assert "Deploy with [secret $SERVICE_API_TOKEN] never." in out
    assert "── model call 1 (fake/model; tools: read_file" in out
    assert "── model call 2" in out
    assert "  ← read_file ok: def test_x():" in out
    with Session.open(project) as s:
        fix = [x for x in s.store.steps_for(run_id) if x["node"] == "fix"][0]
        blobs = s.store._all("SELECT data FROM blobs", ())
    assert all(secret not in str(b["data"]) for b in blobs)
    assert main(["-C", str(project), "show", run_id, "--prompts", "--step", str(fix["id"])]) == 0
