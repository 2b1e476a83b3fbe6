"""Functional tests of the TUI: real temp git repos, the scripted model, App.run_test + Pilot.

A tiny project flow (one agent node ``edit``) is written into each repo; the
scripted model answers its calls. A recording model factory wraps the real
``ModelClient`` so tests can assert what the model was sent.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.widgets import OptionList

from tests.support.tui import at_gate, finished, main_screen, wait_for
from tui.app import LlmflowsApp

SIZE = (140, 40)
ORIGINAL = "".join(f"line {i}\n" for i in range(1, 31))
# Two changes far apart: two hunks.
CHANGED = ORIGINAL.replace("line 2\n", "line 2 CHANGED\n").replace("line 28\n", "line 28 CHANGED\n")

TINY_FLOW = """\
name: tiny
description: One editing step
nodes:
  - id: edit
    kind: agent
    description: Edit the file
    tools: [read_file, write_file, finish]
    prompt: "Do this: {{ goal }}"
    next: end
"""


def _edit_entries(content: str, summary: str = "done") -> list[dict[str, Any]]:
    return [
        {
            "node": "edit",
            "text": "Editing data.txt",
            "tool_calls": [
                {"name": "write_file", "arguments": {"path": "data.txt", "content": content}}
            ],
        },
        {"node": "edit", "tool_calls": [{"name": "finish", "arguments": {"summary": summary}}]},
    ]


def trust(repo: Path) -> None:
    """The test wrote these project flows: record that the person trusts them."""
    from engine.trust import record_trust

    record_trust(repo)


def make_repo(tmp_path: Path, entries: list[dict[str, Any]]) -> tuple[Path, str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    import os

    env = {**os.environ, **env}
    (repo / "data.txt").write_text(ORIGINAL)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=repo, check=True, env=env)
    flows = repo / ".llmflows" / "flows"
    flows.mkdir(parents=True)
    (flows / "tiny.yaml").write_text(TINY_FLOW)
    trust(repo)
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump({"responses": entries}, sort_keys=False))
    return repo, f"scripted:{script}"


class Recorder:
    """Model factory wrapping the real ModelClient; keeps every message list sent."""

    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self._cursor: Any = None

    def __call__(self, settings: dict[str, Any]) -> Any:
        from engine.models import ModelSettings
        from engine.models.scripted import ScriptCursor
        from engine.models.scripted_replay import CursorClient

        # A scripted model's place in its script lives in the model factory (one run per
        # test here, so one cursor shared by every client this factory makes).
        if self._cursor is None:
            self._cursor = ScriptCursor()
        client = CursorClient(ModelSettings(**settings), self._cursor)
        original = client.complete
        calls = self.calls

        async def complete(messages, **kw):
            calls.append([dict(m) for m in messages])
            return await original(messages, **kw)

        client.complete = complete  # type: ignore[method-assign]
        return client

    def user_prompts(self) -> list[str]:
        return [str(m.get("content")) for c in self.calls for m in c if m.get("role") == "user"]


def new_app(repo: Path, model: str, recorder: Recorder | None = None, **kw) -> LlmflowsApp:
    return LlmflowsApp(
        str(repo),
        model=model,
        autostart={"flow": "tiny", "goal": "change data.txt"},
        model_factory=recorder,
        clock=lambda: 1000.0,
        **kw,
    )


async def test_approve_keeps_the_change(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        screen = main_screen(app)
        assert screen.gate.kind == "review"
        assert [f.path for f in screen.diff_view.diff.files] == ["data.txt"]
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
        # a finished run's diff can have the screen too (z), and z gives the panes back
        assert not screen.focus_diff
        await pilot.press("z")
        assert screen.focus_diff and screen.has_class("-focus-diff")
        await pilot.press("z")
        assert not screen.focus_diff
    assert (repo / "data.txt").read_text() == CHANGED


async def test_partial_hunk_accept_keeps_only_accepted_hunks(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        screen = main_screen(app)
        assert len(screen.diff_view.all_hunks()) == 2
        await pilot.press("j")  # second hunk
        await pilot.press("space")  # reject it
        assert {h.index for h in screen.diff_view.rejected_hunks()} == {1}
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
    text = (repo / "data.txt").read_text()
    assert "line 2 CHANGED" in text
    assert "line 28 CHANGED" not in text


MODEL_ONLY_28 = ORIGINAL.replace("line 28\n", "line 28 CHANGED\n")


async def test_outside_edit_then_reject_models_hunk_keeps_only_the_persons_edit(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(MODEL_ONLY_28))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        screen = main_screen(app)
        assert len(screen.diff_view.all_hunks()) == 1
        # the person edits line 2 from another shell while the run waits
        (repo / "data.txt").write_text(MODEL_ONLY_28.replace("line 2\n", "line 2 MINE\n"))
        screen.refresh_diff()
        await wait_for(pilot, lambda: len(screen.diff_view.all_hunks()) == 2)
        view = screen.diff_view
        while "line 28 CHANGED" not in _current_text(view):
            await pilot.press("j")
        await pilot.press("space")  # reject the model's hunk
        assert [h.index for h in view.rejected_hunks()] == [1]
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
    text = (repo / "data.txt").read_text()
    assert "line 2 MINE" in text  # the person's edit is kept
    assert "line 28 CHANGED" not in text  # the rejected change is gone
    assert text == ORIGINAL.replace("line 2\n", "line 2 MINE\n")


def _current_text(view) -> str:
    ref = view.current_hunk()
    if ref is None:
        return ""
    f = next(f for f in view.diff.files if f.path == ref.path)
    return "\n".join(ln.text for ln in f.hunks[ref.index].lines)


async def test_reject_with_reason_reaches_the_model(tmp_path):
    reason = "keep line 28 exactly as it was"
    entries = _edit_entries(CHANGED) + _edit_entries(CHANGED.replace("28 CHANGED", "28"))
    repo, model = make_repo(tmp_path, entries)
    rec = Recorder()
    app = new_app(repo, model, rec)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        first_gate = main_screen(app).gate.id
        assert not any(reason in p for p in rec.user_prompts())
        await pilot.press("r")
        await pilot.pause()
        for ch in reason:
            await pilot.press(ch if ch != " " else "space")
        await pilot.press("enter")
        await wait_for(pilot, lambda: at_gate(app) and main_screen(app).gate.id != first_gate)
        # the second attempt's prompt carries the reason
        assert reason in rec.user_prompts()[-1]
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
    assert "line 28 CHANGED" not in (repo / "data.txt").read_text()
    assert "line 2 CHANGED" in (repo / "data.txt").read_text()


async def test_rewind_and_undo(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        screen = main_screen(app)
        start_cp = min(screen.plan.checkpoint_ids())
        assert (repo / "data.txt").read_text() == CHANGED
        assert screen.focus_diff  # at a review the diff has the screen: z shows the plan
        await pilot.press("z")
        screen.plan.focus()
        assert screen.plan.select_checkpoint(start_cp)
        await pilot.pause()
        await pilot.press("b")
        from tui.screens.modals import ConfirmModal

        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        body = str(app.screen.body)
        # says what happens to the file, in words (not a bare "-2 +2")
        assert "data.txt  loses 2 lines, gets back 2 lines" in body, body
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.last_undo is not None)
        assert (repo / "data.txt").read_text() == ORIGINAL
        assert screen.gate is None
        undo = screen.last_undo
        # the cost pane: the run's total (rewinds refund nothing) and what reaching the
        # restored checkpoint had cost; the status line says where the run is now
        from tui.widgets.cost_meter import CostMeter

        meter = screen.query_one("#cost", CostMeter)
        await wait_for(pilot, lambda: meter.restored is not None)
        assert meter.restored == (start_cp, 0.0) and meter.run_cost > 0
        lines = meter.text().plain.splitlines()
        assert lines[:2] == [
            f"run ${meter.run_cost:.4f} spent in all",
            f"at cp {start_cp} $0.0000 ◀ here",
        ], lines
        assert screen.status_line.node == "edit"
        assert screen.status_line.message == (
            f"rewound to checkpoint {start_cp}: c continues with edit"
        )

        # the undo checkpoint is in the plan tree, selectable like any other, as one row
        def undo_rows() -> int:
            return sum(f"cp {undo} pre-rewind" in line for line in screen.plan.outline())

        await wait_for(pilot, lambda: undo_rows() > 0)
        await pilot.pause()
        assert undo in screen.plan.checkpoint_ids()
        assert undo_rows() == 1
        app.clear_notifications()
        await pilot.press("u")
        await wait_for(pilot, lambda: screen.last_undo != undo)
        assert (repo / "data.txt").read_text() == CHANGED
        assert any("as they were before the last rewind" in n.message for n in app._notifications)
        # undone: back where everything had been spent
        await wait_for(pilot, lambda: meter.restored is not None and meter.restored[0] == undo)
        assert meter.restored[1] == pytest.approx(meter.run_cost)
        # the plan tree says where the tree is now: on the undo checkpoint's row, only there
        here = [line for line in screen.plan.outline() if "◀ here" in line]
        assert len(here) == 1 and f"cp {undo} " in here[0], screen.plan.outline()
        # and back at the review the rewind left: the step is not taken as approved
        await wait_for(pilot, lambda: at_gate(app))
        assert screen.gate.kind == "review" and screen.gate.checkpoint_id == undo
        # once the run moves on, u no longer offers to undo that old rewind
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
        assert screen.last_undo is None
        await pilot.press("u")
        await pilot.pause()
        assert finished(app) and (repo / "data.txt").read_text() == CHANGED


async def test_retry_with_instruction(tmp_path):
    instruction = "only touch line 2"
    only2 = ORIGINAL.replace("line 2\n", "line 2 CHANGED\n")
    entries = _edit_entries(CHANGED) + _edit_entries(only2)
    repo, model = make_repo(tmp_path, entries)
    rec = Recorder()
    app = new_app(repo, model, rec)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        screen = main_screen(app)
        first_gate = screen.gate.id
        await pilot.press("z")
        screen.plan.focus()
        assert screen.plan.select_checkpoint(min(screen.plan.checkpoint_ids()))
        await pilot.pause()
        await pilot.press("R")
        from tui.screens.modals import RetryModal

        await wait_for(pilot, lambda: isinstance(app.screen, RetryModal))
        for ch in instruction:
            await pilot.press(ch if ch != " " else "space")
        await pilot.press("enter")
        await wait_for(pilot, lambda: at_gate(app) and main_screen(app).gate.id != first_gate)
        assert instruction in rec.user_prompts()[-1]
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
    assert (repo / "data.txt").read_text() == only2


async def test_history_resume_of_a_paused_run(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        run_id = main_screen(app).run_id
    # A new session of the app: the run is paused at its gate.
    app2 = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
    async with app2.run_test(size=SIZE) as pilot:
        from tui.screens.history import HistoryScreen
        from tui.screens.start import StartScreen

        await wait_for(
            pilot, lambda: isinstance(app2.screen, StartScreen) and app2.screen.resumable
        )
        assert [r.id for r in app2.screen.resumable] == [run_id]
        # listed above the form, in view (mounted only when there is a run to resume)
        listed = app2.screen.query_one("#resume", OptionList)
        assert listed.display and listed.option_count == 1
        assert listed.get_option_at_index(0).id == run_id
        await pilot.pause()
        form = app2.screen.query_one("#start-form")
        assert 0 < listed.region.y < form.region.y
        assert listed.region.bottom <= app2.screen.size.height
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app2.screen, HistoryScreen) and app2.screen.rows)
        assert app2.screen.rows[0].status == "paused"
        await pilot.press("r")
        await wait_for(pilot, lambda: at_gate(app2))
        assert main_screen(app2).run_id == run_id
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app2))
    assert (repo / "data.txt").read_text() == CHANGED


async def test_start_screen_resume_list_resumes_with_enter(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    goal = "change data.txt so that every line is different, " * 3  # wider than 80
    app = LlmflowsApp(
        str(repo), model=model, autostart={"flow": "tiny", "goal": goal}, clock=lambda: 1000.0
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        run_id = main_screen(app).run_id
    app2 = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
    async with app2.run_test(size=(80, 24)) as pilot:
        from tui.screens.start import StartScreen

        await wait_for(
            pilot, lambda: isinstance(app2.screen, StartScreen) and app2.screen.resumable
        )
        listed = app2.screen.query_one("#resume", OptionList)
        await pilot.pause()
        assert listed.region.height == 3  # one row (and its border) at 80 columns
        listed.focus()
        await pilot.press("enter")  # the first run is highlighted: no arrow key needed
        await wait_for(pilot, lambda: at_gate(app2))
        assert main_screen(app2).run_id == run_id


async def test_history_opens_read_only_and_help_lists_keys(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
        await pilot.press("h")
        from tui.screens.history import HistoryScreen

        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.rows)
        assert app.screen.rows[0].status == "completed"
        await pilot.press("enter")
        from tui.screens.main import MainScreen

        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, MainScreen)
                and app.screen.read_only
                and app.screen.diff_view.diff.files
            ),
        )
        ro = app.screen
        assert [f.path for f in ro.diff_view.diff.files] == ["data.txt"]
        # the past run's own duration, not "00:00" from replaying its events today
        span = ro.run.finished_at - ro.run.created_at
        assert span > 0 and ro.query_one("#status").elapsed == pytest.approx(span)
        assert ro.plan.node_status("edit") == "done"
        assert ro.status_line.message.startswith("read-only: escape back")
        # looking is allowed: z gives the diff the screen (and back), like at a review
        focus = ro.focus_diff
        await pilot.press("z")
        assert ro.focus_diff is not focus
        await pilot.press("z")
        assert ro.focus_diff is focus
        await pilot.press("question_mark")
        from tui.screens.modals import HelpScreen

        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        from rich.console import Console

        console = Console(width=100, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#help-text").content)
        text = console.export_text()
        for key in ("approve", "reject", "rewind", "retry", "single-step", "history"):
            assert key in text.lower()


async def test_help_opened_before_the_store_is_open_stays_on_top(tmp_path):
    """The form is usable before the store opens; a dialog opened on it meanwhile is not
    thrown away when the store is ready (reopen() goes through the same opening)."""
    from tui.screens.modals import HelpScreen
    from tui.screens.start import StartScreen

    repo, model = make_repo(tmp_path, [])
    app = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot, lambda: isinstance(app.screen, StartScreen) and app.repo_root is not None
        )
        app.action_help()
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        app.reopen()  # the store opens while help is on top
        await wait_for(
            pilot,
            lambda: (
                app.repo_root is not None
                and all(w.is_finished for w in app.workers if w.group == "open")
            ),
        )
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert [type(s) for s in app.screen_stack].count(StartScreen) == 1


def _flows_listed(app: LlmflowsApp) -> bool:
    from tui.screens.start import StartScreen

    return isinstance(app.screen, StartScreen) and bool(app.screen.query_one("#flow").value)


async def test_flow_picker_offers_only_flows(tmp_path):
    """Once flows are listed, the picker has no blank "loading…" row to land on."""
    from tui.widgets.choice import Choice

    repo, model = make_repo(tmp_path, [])
    app = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: _flows_listed(app))
        sel = app.screen.query_one("#flow", Choice)
        sel.focus()
        await pilot.press("enter", "home", "enter")
        await pilot.pause()
        assert sel.value == "bugfix"  # the first flow (sorted), not a blank choice


async def test_tab_goes_through_the_start_form_and_back_with_no_hidden_stop(tmp_path):
    repo, model = make_repo(tmp_path, [])
    app = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: _flows_listed(app))
        await app.workers.wait_for_complete()
        app.screen.query_one("#flow").focus()
        seen = []
        for _ in range(8):
            await pilot.press("tab")
            seen.append(app.focused.id if app.focused else None)
        assert seen == [
            "goal",
            "model",
            "autonomy",
            "budget",
            "test-command",
            "start-run",
            "open-history",
            "flow",
        ]


async def test_a_failed_run_opened_from_history_says_why_it_failed(tmp_path):
    repo, model = make_repo(tmp_path, [])  # the script has no answer: the first call fails
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: finished(app, "failed"))
        error = main_screen(app).message  # the reason the run_status event gave
        assert error
        await pilot.press("h")
        from tui.screens.history import HistoryScreen
        from tui.screens.main import MainScreen

        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.rows)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.read_only)
        ro = app.screen
        await wait_for(pilot, lambda: ro.status_line.message.startswith("failed: "))
        assert ro.status_line.message.startswith(f"failed: {error[:40]}")
        # and whole, where a one-row status line cannot cut it
        assert any(n.message == error for n in app._notifications)
        # with the diff given the screen, the one-line summary says the run failed
        await pilot.press("z")
        assert ro.focus_diff
        assert " ✗ failed " in str(ro.query_one("#summary").content)


async def test_edit_in_app_editor_becomes_part_of_the_step(tmp_path, monkeypatch):
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        await pilot.press("e")
        from tui.screens.modals import EditorModal

        await wait_for(pilot, lambda: isinstance(app.screen, EditorModal))
        area = app.screen.query_one("TextArea")
        area.text = CHANGED + "my own line\n"
        await pilot.press("ctrl+s")
        screen = main_screen(app)
        await wait_for(
            pilot,
            lambda: any(
                ln.text == "my own line"
                for f in screen.diff_view.diff.files
                for h in f.hunks
                for ln in h.lines
            ),
        )
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
    assert (repo / "data.txt").read_text().endswith("my own line\n")


async def test_not_a_repo_offers_git_init(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    app = LlmflowsApp(str(folder), clock=lambda: 1000.0)
    async with app.run_test(size=SIZE) as pilot:
        from tui.screens.start import NoRepoScreen, StartScreen

        await wait_for(pilot, lambda: isinstance(app.screen, NoRepoScreen))
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
    assert (folder / ".git").is_dir()


async def test_start_screen_is_filled_from_a_prefetch_before_the_store_opens(tmp_path):
    """`llmflows-tui` reads flows/model/tests on the engine thread before the app starts: the
    start screen mounts with them (no "loading flows…" frame) and is ready (mark_ready)
    before the run store is opened; the store opens right after, then resumable runs."""
    from engine.api import EngineAPI
    from tui.screens.start import StartScreen

    repo, model = make_repo(tmp_path, [])
    engine = EngineAPI(str(repo))
    engine.prefetch_start_info(model).result()  # as launch() does before the app starts
    app = LlmflowsApp(str(repo), model=model, engine=engine, clock=lambda: 1000.0)
    ready_with_store: list[bool] = []
    app.mark_ready = lambda: ready_with_store.append(app.repo_root is not None)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, StartScreen) and screen.info is not None
        assert screen.query_one("#flow").value == "feature"
        assert screen.query_one("#model").value == model
        assert ready_with_store == [False]  # marked at mount, the store not open yet
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.repo_root == repo.resolve() and screen.resumable == []
        assert ready_with_store == [False]  # the form is not read again once the store opens


async def test_a_prefetch_outside_a_repository_still_offers_git_init(tmp_path):
    """The prefetched read failed (not a repository): the app asks again, gets that error
    and shows the "not a git repository" screen, as without a prefetch."""
    from engine.api import EngineAPI
    from engine.errors import NotAGitRepoError
    from tui.screens.start import NoRepoScreen

    folder = tmp_path / "plain"
    folder.mkdir()
    engine = EngineAPI(str(folder))
    assert isinstance(engine.prefetch_start_info(None).exception(), NotAGitRepoError)
    app = LlmflowsApp(str(folder), engine=engine, clock=lambda: 1000.0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, NoRepoScreen))


async def test_the_collector_paused_for_start_up_resumes_after_the_first_frame(tmp_path):
    """tui/launch.py turns the garbage collector off for start-up; the app turns it back on
    after its first frame, with what start-up made frozen (never walked again)."""
    import gc

    gc.disable()  # as launch() does
    try:
        app = LlmflowsApp(str(tmp_path), clock=lambda: 1000.0)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()


def test_a_launch_that_never_paints_turns_the_collector_back_on(tmp_path, capsys):
    import gc

    from tui.launch import launch

    (tmp_path / "mine.txt").write_text("not empty\n")
    assert launch(["demo", "--dir", str(tmp_path)]) == 2
    assert "llmflows-tui demo:" in capsys.readouterr().err
    assert gc.isenabled()
    assert (tmp_path / "mine.txt").read_text() == "not empty\n"


def test_launch_reads_the_repository_before_the_app_starts_but_not_for_long(tmp_path, monkeypatch):
    """launch() hands the app a finished read (the first frame shows the form filled); a
    read that is still going after the wait starts the app anyway (it finishes behind it)."""
    import asyncio
    import threading

    from engine.api import EngineAPI
    from tui import launch as launch_mod

    repo, model = make_repo(tmp_path, [])
    seen: list[bool] = []
    engines: list[EngineAPI] = []

    def run(self) -> None:  # the app is not started: what it was handed is the point
        seen.append(self.engine.prefetched_start_info(model) is not None)
        engines.append(self.engine)

    monkeypatch.setattr(LlmflowsApp, "run", run)
    assert launch_mod.launch(["-C", str(repo), "--model", model]) == 0
    assert seen == [True]

    release = threading.Event()
    real_read = EngineAPI._read_start_info

    def slow_read(self, *args):
        release.wait()
        return real_read(self, *args)

    monkeypatch.setattr(EngineAPI, "_read_start_info", slow_read)
    monkeypatch.setattr(launch_mod, "_READ_WAIT_S", 0.01)
    try:
        assert launch_mod.launch(["-C", str(repo), "--model", model]) == 0
    finally:
        release.set()
        for engine in engines:
            asyncio.run(engine.close())
    assert seen == [True, False]


async def test_unusable_model_offers_the_demo(tmp_path, monkeypatch):
    repo, _ = make_repo(tmp_path, [])
    app = LlmflowsApp(str(repo), model="scripted:/nonexistent/script.yaml", clock=lambda: 1000.0)
    async with app.run_test(size=SIZE) as pilot:
        from tui.screens.start import StartScreen

        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, StartScreen)
                and app.screen.query_one("#model").value.startswith("scripted:")
            ),
        )
        app.screen.query_one("#goal").value = "do it"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not app.screen.query_one("#demo").has_class("hidden"))
        assert "script" in str(app.screen.query_one("#start-error").render()).lower()


@pytest.mark.parametrize("key", ["j", "k", "space"])
async def test_review_keys_are_harmless_without_a_gate(tmp_path, key):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
        await pilot.press(key, "a", "r")
        assert main_screen(app).gate is None
