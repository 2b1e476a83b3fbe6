"""API keys never reach the run store or the event stream.

A real run through litellm's HTTP client against the loopback server, with
the key in the environment: the server must receive it (so it was really
used), while the DB file and every event stay free of it -- including the
output of a command the agent runs (its environment is scrubbed).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict
from pathlib import Path

from engine.models import resolve_model_settings
from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from tests.support.gitutil import init_repo
from tests.support.openai_server import (  # noqa: F401  (fixture)
    openai_server,
    reply_text,
    reply_tool_calls,
)

SECRET = "sk-test-SECRET-0123456789abcdef"
FLOW = """\
name: leak
description: an agent that prints its environment
nodes:
  - id: look
    kind: agent
    tools: [run_command, finish]
    prompt: "Show the environment."
    next: wrap
  - id: wrap
    kind: llm
    prompt: "Summarize."
    next: end
"""


def test_api_key_is_used_but_never_stored(tmp_path: Path, monkeypatch, openai_server):  # noqa: F811
    monkeypatch.setenv("LEAK_TEST_API_KEY", SECRET)
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    # The endpoint and the key's variable come from the user config (a project
    # file may not set them).
    user_config = Path(os.environ["XDG_CONFIG_HOME"]) / "llmflows-tui" / "config.toml"
    user_config.parent.mkdir(parents=True, exist_ok=True)
    user_config.write_text(
        f'[model]\nname = "openai/test-model"\napi_base = "{openai_server.api_base}"\n'
        'api_key_env = "LEAK_TEST_API_KEY"\nretry_base_s = 0.01\n'
    )
    flow = tmp_path / "leak.yaml"
    flow.write_text(FLOW)
    openai_server.enqueue(
        reply_tool_calls([{"id": "c1", "name": "run_command", "arguments": {"command": "env"}}]),
        reply_tool_calls([{"id": "c2", "name": "finish", "arguments": {"summary": "looked"}}]),
        reply_text("nothing to report"),
    )
    events = []
    with Session.open(repo) as s:
        s.bus.subscribe(lambda e: events.append(json.dumps(e.to_dict(), default=str)))
        settings = resolve_model_settings(None, repo)
        run_id = ops.create_run(
            s,
            str(flow),
            "look around",
            model=settings.model,
            model_settings=asdict(settings),
            autonomy="full",
        )
        out = asyncio.run(Executor(s, run_id).execute())
        assert out.status == "completed", out
        env_output = next(e for e in s.store.effects_for_run(run_id) if e["kind"] == "tool")[
            "result"
        ]["content"]
        assert "PATH=" in env_output  # the command really ran and its output was journaled
    # the key was sent to the provider...
    assert any(SECRET in json.dumps(h) for h in openai_server.request_headers)
    # ...but is nowhere in the store (all tables, WAL included) or the events
    for path in (repo / ".llmflows").glob("history.db*"):
        assert SECRET.encode() not in path.read_bytes(), path
    assert not any(SECRET in e for e in events)
    assert "LEAK_TEST_API_KEY" not in env_output
