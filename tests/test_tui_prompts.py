"""The TUI's prompt view: what the model saw in the selected step (Textual Pilot)."""

from __future__ import annotations

from tests.test_tui_app import (
    CHANGED,
    SIZE,
    _edit_entries,
    at_gate,
    main_screen,
    make_repo,
    new_app,
    wait_for,
)


async def test_prompt_view_shows_the_selected_steps_prompts_and_answers(tmp_path):
    from textual.widgets import TextArea

    from tui.screens.prompt_view import PromptView

    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    (repo / "AGENTS.md").write_text("Keep data.txt short.\n")
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        screen = main_screen(app)
        screen.plan.focus()
        assert screen.plan.select_step(screen.gate.step_id)
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptView))
        text = app.screen.query_one(TextArea).text
        assert "── model call 1" in text
        assert "[system]" in text and "Keep data.txt short." in text  # project instructions
        assert "[user]" in text and "change data.txt" in text  # the goal reached the prompt
        assert "→ write_file(" in text or "→ edit_file(" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PromptView))
