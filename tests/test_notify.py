"""Bell / OSC 9 when a gate opens or a run ends: CLI in-process (a terminal-like stderr),
config/env/flag precedence, and the TUI hook through Pilot."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from engine.cli import main
from engine.events import GateOpened, RunStatusChanged
from engine.models.settings import user_config_path
from tests.support.gitutil import init_repo

FLOW = """\
name: one
description: one edit
nodes:
  - id: edit
    kind: agent
    tools: [write_file, finish]
    prompt: "Write a.txt"
    next: end
"""


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def setup(tmp_path: Path, monkeypatch):
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    flow = tmp_path / "one.yaml"
    flow.write_text(FLOW)
    script = tmp_path / "s.yaml"
    calls = [
        {"name": "write_file", "arguments": {"path": "a.txt", "content": "v\n"}},
        {"name": "finish", "arguments": {"summary": "ok"}},
    ]
    script.write_text(
        yaml.safe_dump({"responses": [{"node": "edit", "tool_calls": [c]} for c in calls]})
    )
    return ["-C", str(repo), "--model", f"scripted:{script}", "run", str(flow), "w"]


def _tty(monkeypatch) -> Tty:
    """A terminal-like stderr (set in the test body: pytest swaps sys.stderr between phases)."""
    err = Tty()
    monkeypatch.setattr("sys.stderr", err)
    return err


def test_osc9_when_a_review_gate_opens(setup, monkeypatch):
    argv, err = setup, _tty(monkeypatch)
    assert main([*argv, "--notify", "osc9"]) == 3
    assert "\x1b]9;llmflows-tui: review gate — " in err.getvalue()
    assert "\a" in err.getvalue()  # OSC 9 ends with BEL, the sequence's terminator


def test_bell_from_user_config_when_a_run_ends_and_off_silences(setup, monkeypatch):
    argv, err = setup, _tty(monkeypatch)
    cfg = user_config_path()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('[notify]\nmode = "bell"\n')
    assert main([*argv, "--autonomy", "full"]) == 0
    assert err.getvalue().count("\a") == 1 and "\x1b]9" not in err.getvalue()
    err.seek(0)
    err.truncate()
    monkeypatch.setenv("LLMFLOWS_NOTIFY", "off")  # env beats the config file
    assert main([*argv, "--autonomy", "full"]) == 0
    assert "\a" not in err.getvalue()
    monkeypatch.setenv("LLMFLOWS_NOTIFY", "loud")
    assert main([*argv, "--autonomy", "full"]) == 2
    assert "LLMFLOWS_NOTIFY: notify mode 'loud'" in err.getvalue()


def test_nothing_is_written_when_stderr_is_not_a_terminal(setup, monkeypatch):
    argv = setup
    plain = io.StringIO()
    monkeypatch.setattr("sys.stderr", plain)
    assert main([*argv, "--notify", "both"]) == 3
    assert "\a" not in plain.getvalue() and "\x1b]9" not in plain.getvalue()


async def test_tui_rings_and_sends_osc9(tmp_path: Path, monkeypatch):
    from tui.app import LlmflowsApp
    from tui.messages import EngineEvent

    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    monkeypatch.setenv("LLMFLOWS_NOTIFY", "both")
    app = LlmflowsApp(str(repo))
    async with app.run_test() as pilot:
        written: list[str] = []
        monkeypatch.setattr(app._driver, "write", written.append)
        app.post_message(
            EngineEvent(
                GateOpened(
                    run_id="r1", gate_id=1, step_id=None, kind="review", node="edit", prompt="Look"
                )
            )
        )
        app.post_message(EngineEvent(RunStatusChanged(run_id="r1", status="completed")))
        await pilot.pause()
        assert written == [
            "\x1b]9;llmflows-tui: review gate — Look\x07\a",
            "\x1b]9;llmflows-tui: run r1 completed\x07\a",
        ]
