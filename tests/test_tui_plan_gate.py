"""Editing the task list at a plan gate in the TUI (Textual Pilot)."""

from __future__ import annotations

from tests.support.tui import main_screen, wait_for
from tests.test_tui_app import SIZE, make_repo, new_app, trust

PLANNED_FLOW = """\
name: tiny
description: Plan, then one edit per task
nodes:
  - id: plan
    kind: plan
    description: Plan the work
    prompt: "Plan: {{ goal }}"
    next: edit
  - id: edit
    kind: agent
    description: Do one task
    foreach: plan.tasks
    tools: [write_file, finish]
    prompt: "Task {{ task.id }}: {{ task.title }}"
    next: end
"""

ENTRIES = [
    {
        "node": "plan",
        "tool_calls": [
            {
                "name": "submit_plan",
                "arguments": {
                    "tasks": [{"title": "Write a.txt"}, {"title": "Write b.txt"}, {"title": "Nap"}]
                },
            }
        ],
    },
    *(
        entry
        for task, name in (("t1", "b.txt"), ("t2", "a.txt"))
        for entry in (
            {
                "node": "edit",
                "task": task,
                "tool_calls": [
                    {"name": "write_file", "arguments": {"path": name, "content": "x\n"}}
                ],
            },
            {"node": "edit", "task": task, "tool_calls": [{"name": "finish", "arguments": {}}]},
        )
    ),
]


def _gate(app, kind: str) -> bool:
    s = main_screen(app)
    return s is not None and s.gate is not None and s.gate.kind == kind


async def test_person_edits_the_task_list_at_the_plan_gate(tmp_path):
    from textual.widgets import TextArea

    from tui.screens.modals import EditorModal

    repo, model = make_repo(tmp_path, ENTRIES)
    (repo / ".llmflows" / "flows" / "tiny.yaml").write_text(PLANNED_FLOW)
    trust(repo)
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: _gate(app, "plan"))
        screen = main_screen(app)
        assert "e edit the tasks" in screen.status_line.message
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorModal))
        area = app.screen.query_one(TextArea)
        assert area.text.splitlines()[1:] == ["Write a.txt", "Write b.txt", "Nap"]
        area.text = "# nothing left\n"  # an empty plan is refused; the gate stays open
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: any("at least one task" in n.message for n in app._notifications)
        )
        assert _gate(app, "plan")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorModal))
        area = app.screen.query_one(TextArea)
        # reorder, reword, drop "Nap"
        area.text = "Write b.txt first\n    before a.txt\nWrite a.txt\n"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: _gate(app, "review"))
        text = await app.api.plan_text(screen.run_id)
        assert text.splitlines()[1:] == ["Write b.txt first", "    before a.txt", "Write a.txt"]
        prompts = await app.api.step_prompts(screen.gate.step_id)
        assert "Task t1: Write b.txt first" in prompts
        assert (repo / "b.txt").exists() and not (repo / "a.txt").exists()
