"""The TUI's continue of a crashed run: done effects replay once, recovery is announced,
and a clash gate shows the step's version of a file next to the person's.

The crash is a real SIGKILL of a CLI process (``tests.support.cli.run_cli``); the app
then resumes the run in this process (App.run_test + Pilot).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.gitutil import effects_log, init_repo
from tests.support.tui import at_gate, finished, main_screen, wait_for
from tests.test_crash_recovery import (
    FLOW,
    _check_store,
    _crashed_review_run,
    _deploy_script,
    _run_id,
    _tool_effects,
)
from tui.app import LlmflowsApp

SIZE = (140, 40)


async def _resume_from_history(pilot, app: LlmflowsApp) -> None:
    from tui.screens.history import HistoryScreen
    from tui.screens.start import StartScreen

    await wait_for(pilot, lambda: isinstance(app.screen, StartScreen) and app.screen.resumable)
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.rows)
    assert app.screen.rows[0].status == "crashed"
    await pilot.press("r")


def _record_notices(app: LlmflowsApp) -> list[str]:
    """Every notification the app shows (they expire from the screen on a timer)."""
    shown: list[str] = []
    notify = app.notify

    def record(message: str, *args, **kw):
        shown.append(message)
        return notify(message, *args, **kw)

    app.notify = record  # type: ignore[method-assign]
    return shown


async def test_tui_continue_of_a_crashed_run_runs_a_done_command_once(tmp_path: Path):
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    log = effects_log(repo)
    script = _deploy_script(tmp_path, log)
    args = ["run", FLOW, "deploy it", "--model", f"scripted:{script}", "--autonomy", "full"]
    first = run_cli(*args, repo=repo, crash="intent-llm:2")  # killed after the command ran
    assert first.returncode == -9, first.stdout + first.stderr
    assert log.read_text() == "deployed\n"
    run_id = _run_id(repo)
    app = LlmflowsApp(str(repo), clock=lambda: 1000.0)
    notes = _record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await _resume_from_history(pilot, app)
        await wait_for(pilot, lambda: finished(app))
        assert main_screen(app).run_id == run_id
    assert log.read_text() == "deployed\n"  # replayed from the journal, not run again
    assert any("recovering step 'work' after a crash" in n for n in notes), notes
    _check_store(repo)


async def test_tui_clash_gate_shows_the_steps_version_against_yours(tmp_path: Path):
    repo = _crashed_review_run(tmp_path)
    (repo / "a.txt").write_text("A the person wrote\n")  # a file the step wrote
    run_id = _run_id(repo)
    app = LlmflowsApp(str(repo), clock=lambda: 1000.0)
    async with app.run_test(size=SIZE) as pilot:
        await _resume_from_history(pilot, app)
        await wait_for(pilot, lambda: at_gate(app))
        screen = main_screen(app)
        assert screen.gate.kind == "crash"
        view = screen.diff_view
        assert [f.path for f in view.diff.files] == ["a.txt"]
        lines = [(ln.kind, ln.text) for h in view.diff.files[0].hunks for ln in h.lines]
        assert lines == [("-", "A from the step"), ("+", "A the person wrote")]
        assert "the step's version" in str(view.border_title)
        await pilot.press("a")  # go on with the person's version
        await wait_for(pilot, lambda: at_gate(app) and screen.gate.kind == "review")
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
        assert screen.run_id == run_id
    assert (repo / "a.txt").read_text() == "A the person wrote\n"
    assert sorted(_tool_effects(repo, run_id)) == ["edit_file", "write_file"]
    _check_store(repo)


pytestmark = pytest.mark.usefixtures("_sandbox_may_write_beside_the_repo")


@pytest.fixture
def _sandbox_may_write_beside_the_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMFLOWS_SANDBOX_WRITABLE", str(tmp_path))
