"""The TUI under hostile input: responsive while a tool works, no lossy in-app save."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.test_tui_app import (
    SIZE,
    _edit_entries,
    at_gate,
    main_screen,
    make_repo,
    new_app,
    trust,
    wait_for,
)
from tui.app import LlmflowsApp

SLOW_FLOW = """\
name: slow
description: a hostile search, then a command that never ends by itself
nodes:
  - id: look
    kind: agent
    tools: [search, finish]
    prompt: "Look: {{ goal }}"
    next: wait
  - id: wait
    kind: run
    command: "touch started; exec sleep {sleep}"
    next: end
"""


def _slow_app(tmp_path: Path) -> tuple[LlmflowsApp, Path]:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "evil.txt").write_text("a" * 49 + "!\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=repo, check=True)
    (repo / ".llmflows" / "flows").mkdir(parents=True)
    # a unique duration names our sleep among all processes (the sandbox hides real pids)
    sleep = f"600.{secrets.randbelow(10**9)}"
    (repo / ".llmflows" / "flows" / "slow.yaml").write_text(SLOW_FLOW.replace("{sleep}", sleep))
    trust(repo)
    entries: list[dict[str, Any]] = [
        # (a+)+$ on a*49+"!" backtracks for minutes in a backtracking engine, holding the GIL
        {"node": "look", "tool_calls": [{"name": "search", "arguments": {"pattern": "(a+)+$"}}]},
        {"node": "look", "tool_calls": [{"name": "finish", "arguments": {"summary": "looked"}}]},
    ]
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump({"responses": entries}, sort_keys=False))
    app = LlmflowsApp(
        str(repo),
        model=f"scripted:{script}",
        autostart={"flow": "slow", "goal": "look around"},
        clock=lambda: 1000.0,
    )
    return app, repo, sleep


def _sleeping(duration: str) -> list[int]:
    """Live (not zombie) processes running ``sleep DURATION``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if cmd == f"sleep\0{duration}\0".encode() and state != "Z":
            pids.append(int(proc.name))
    return pids


async def _until_sleeping(pilot: Any, duration: str) -> None:
    """Until the command has become ``sleep``: no event says when a child process execs,
    so /proc is looked at between turns of the app (the bound only turns a hang into a
    failure)."""
    async with asyncio.timeout(180):
        while not _sleeping(duration):
            await pilot.pause(0.05)


async def test_stop_takes_effect_while_a_slow_tool_runs(tmp_path: Path) -> None:
    app, repo, sleep = _slow_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _until_sleeping(pilot, sleep)
        screen = main_screen(app)
        assert screen.busy and screen.plan.current_node == "wait"
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.status == "stopped" and not screen.busy)
        assert _sleeping(sleep) == []


async def test_quit_takes_effect_while_a_slow_tool_runs(tmp_path: Path) -> None:
    app, repo, sleep = _slow_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _until_sleeping(pilot, sleep)
        assert main_screen(app).busy
        await pilot.press("ctrl+q")
    # run_test returned: the app exited although the command would run for 10 minutes
    assert app.return_code == 0
    assert _sleeping(sleep) == []
    from engine.store import RunStore

    with RunStore.open(repo, write=False) as store:
        assert [r["status"] for r in store.list_runs()] == ["stopped"]


async def test_in_app_editor_refuses_a_file_that_is_not_utf8(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    latin1 = "caf\xe9 line 2 CHANGED\n".encode("latin-1")
    repo, model = make_repo(tmp_path, _edit_entries("line 1\nline 2 CHANGED\n"))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        (repo / "data.txt").write_bytes(latin1)  # the person's own bytes, not UTF-8
        await pilot.press("e")
        await wait_for(pilot, lambda: any("not UTF-8" in n.message for n in app._notifications))
        from tui.screens.modals import EditorModal

        assert not isinstance(app.screen, EditorModal)
    assert (repo / "data.txt").read_bytes() == latin1
