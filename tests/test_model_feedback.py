"""What the engine says while a model call is slow or its server is down."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.errors import ModelUnreachableError
from engine.models.client import classify_error
from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from tests.support.fake_model import FakeModel, say, tool
from tests.support.gitutil import init_repo
from tests.test_review_engine import ONE_EDIT


def test_a_refused_connection_is_one_line_with_the_url():
    inner = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")
    transport = OSError("Cannot connect to host 127.0.0.1:9 ssl:<ssl.SSLContext object at 0x1>")
    transport.__cause__ = inner
    outer = RuntimeError("litellm.InternalServerError: OpenAIException - Connection error.")
    outer.__cause__ = transport
    err = classify_error(outer, "openai/m", api_base="http://127.0.0.1:9/v1")
    assert isinstance(err, ModelUnreachableError) and not err.retryable
    assert "http://127.0.0.1:9/v1" in str(err) and "SSLContext" not in str(err)
    no_base = classify_error(outer, "openai/m")
    assert "127.0.0.1:9" in str(no_base) and "SSLContext" not in str(no_base)


def test_the_first_call_says_the_model_is_warming_up(tmp_path: Path, monkeypatch):
    import engine.models.loader as loader

    monkeypatch.setattr(loader, "litellm_loaded", lambda: False)
    repo = init_repo(tmp_path / "p", {"README.md": "hi\n"})
    flow = tmp_path / "one.yaml"
    flow.write_text(ONE_EDIT)
    model = FakeModel(
        {
            "edit": [say(tool("write_file", path="a.txt", content="x\n")), say(tool("finish"))],
            "summary": [say(text="done")],
        }
    )
    seen: list[str] = []
    with Session.open(repo) as s:
        s.bus.subscribe(
            lambda ev: (
                seen.append(getattr(ev, "reason", "")) if ev.type == "model_waiting" else None
            )
        )
        run_id = ops.create_run(s, str(flow), "w", model="fake/m", autonomy="full")
        asyncio.run(Executor(s, run_id, model_factory=lambda _s: model).execute())
        stored = {e["type"] for e in s.store.events_for(run_id)}
    assert seen and "warming up" in seen[0] and "fake/m" in seen[0]
    assert "model_waiting" not in stored  # said live, not kept in the history
