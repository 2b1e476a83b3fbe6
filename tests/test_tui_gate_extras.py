"""Pilot tests of the gate hooks (tui/screens/gate_extras.py): a line comment from the diff
reaches the model, C commits the completed run, A always-allows a command's prefix."""

from __future__ import annotations

from engine.tools import approval_rules
from tests.support.gitutil import git
from tests.test_tui_app import (
    CHANGED,
    SIZE,
    Recorder,
    _edit_entries,
    at_gate,
    finished,
    main_screen,
    make_repo,
    new_app,
    trust,
    wait_for,
)


async def test_line_comment_in_the_diff_reaches_the_next_attempt(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED) + _edit_entries(CHANGED))
    recorder = Recorder()
    app = new_app(repo, model, recorder)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        await pilot.press("M")
        await pilot.press(*"use upper case", "enter")
        assert main_screen(app).comments == [("data.txt", 2, "use upper case")]
        await pilot.press("r")
        await pilot.press(*"see comment", "enter")
        await wait_for(pilot, lambda: at_gate(app) and len(recorder.calls) >= 3)
    assert "- comment on data.txt:2: use upper case" in recorder.user_prompts()[-1]


async def test_commit_key_commits_the_completed_run(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED, summary="Change data"))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
        await pilot.press("C")
        await wait_for(pilot, lambda: "Co-authored-by" in git(repo, "log", "-1", "--format=%B"))
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["data.txt"]


async def test_always_allow_at_a_command_gate(tmp_path):
    entries = [
        {
            "node": "edit",
            "tool_calls": [{"name": "run_command", "arguments": {"command": "touch made.txt"}}],
        },
        {"node": "edit", "tool_calls": [{"name": "finish", "arguments": {"summary": "ok"}}]},
    ]
    repo, model = make_repo(tmp_path, entries)
    flow = repo / ".llmflows" / "flows" / "tiny.yaml"
    flow.write_text(flow.read_text().replace("tools: [read_file,", "tools: [run_command,"))
    trust(repo)
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app) and main_screen(app).gate.kind == "command")
        await pilot.press("A")
        await pilot.press("enter")  # the suggested prefix, here
        await wait_for(pilot, lambda: (repo / "made.txt").exists())
    assert [(r.prefix, str(r.scope)) for r in approval_rules.list_rules(repo)] == [
        ("touch", "project")
    ]
