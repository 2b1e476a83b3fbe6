"""More Pilot tests: live diff from an outside editor (watchfiles), breakpoints by key,
fork from the history screen."""

from __future__ import annotations

import pytest

from tests.test_tui_app import (
    CHANGED,
    SIZE,
    _edit_entries,
    at_gate,
    finished,
    main_screen,
    make_repo,
    new_app,
    trust,
    wait_for,
)
from tui.app import LlmflowsApp
from tui.widgets.footer import Footer, ShownKey


def _diff_text(app) -> str:
    diff = main_screen(app).diff_view.diff
    return "\n".join(ln.text for f in diff.files for h in f.hunks for ln in h.lines)


async def test_edit_in_your_own_editor_shows_up_live_and_is_kept(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        assert "typed by the person" not in _diff_text(app)
        # an outside editor writes the file while the run is paused
        (repo / "data.txt").write_text(CHANGED + "typed by the person\n")
        await wait_for(pilot, lambda: "typed by the person" in _diff_text(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
    assert (repo / "data.txt").read_text().endswith("typed by the person\n")
    from engine.store import RunStore

    with RunStore.open(repo, write=False) as store:
        run_id = store.list_runs()[0]["id"]
        sources = [c["source"] for c in store.list_checkpoints(run_id)]
        state = store.get_blob(
            store.get_checkpoint(store.get_run(run_id)["head_checkpoint_id"])["state_hash"]
        )
    assert "edit" in sources  # recorded as the person's edit, part of the step
    assert state["user_edits"][-1]["files"] == ["data.txt"]


async def test_single_step_key_pauses_before_the_next_node(tmp_path):
    entries = _edit_entries(CHANGED)
    repo, model = make_repo(tmp_path, entries)
    # a second node so there is a "next node" to stop before
    flow = repo / ".llmflows" / "flows" / "tiny.yaml"
    flow.write_text(
        flow.read_text().replace("    next: end\n", "    next: wrap\n")
        + "  - id: wrap\n    kind: llm\n    prompt: wrap up\n    next: end\n"
    )
    trust(repo)
    import yaml

    script = tmp_path / "script.yaml"
    data = yaml.safe_load(script.read_text())
    data["responses"].append({"node": "wrap", "text": "wrapped"})
    script.write_text(yaml.safe_dump(data))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        await pilot.press("T")  # single-step on
        await wait_for(pilot, lambda: all(w.is_finished for w in app.workers if w.group == "flags"))
        await pilot.press("a")
        await wait_for(pilot, lambda: at_gate(app) and main_screen(app).gate.kind == "breakpoint")
        screen = main_screen(app)
        assert screen.gate.node == "wrap"
        # a pause of its own kind: continue / step / stop, nothing to approve or reject
        keys = _footer_keys(app)
        assert {"c", "S", "s"} <= set(keys), sorted(keys)
        assert not {"a", "r", "space"} & set(keys), sorted(keys)
        assert "c continue" in screen.status_line.message
        await pilot.press("r")  # means nothing here: no reject dialog, the run still waits
        await pilot.pause()
        assert screen.gate is not None and app.screen is screen
        await pilot.press("c")  # continue: single-step off, the run goes on
        await wait_for(pilot, lambda: finished(app))
        assert not screen.single_step


async def test_fork_from_history_starts_a_new_run(tmp_path):
    entries = _edit_entries(CHANGED) + _edit_entries(CHANGED)
    repo, model = make_repo(tmp_path, entries)
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
        from tui.screens.history import HistoryScreen

        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.rows)
        await pilot.press("f")
        from engine.store import RunStore

        def two_runs() -> bool:
            with RunStore.open(repo, write=False) as store:
                return len(store.list_runs()) == 2

        await wait_for(pilot, two_runs)
    with RunStore.open(repo, write=False) as store:
        runs = store.list_runs()
        forked = runs[0]
        first_cp = store.list_checkpoints(forked["id"])[0]
    assert first_cp["source"] == "start" and "forked" in first_cp["message"]


# ---------------------------------------------------------------- found by hands-on use


def _shown_keys(app) -> list[ShownKey]:
    """Every key the current screen's footer shows (none without a footer)."""
    return [k for footer in app.screen.query(Footer) for k in footer.shown_keys]


def _footer_keys(app) -> dict[str, ShownKey]:
    """Footer keys shown on the current screen (the palette's key aside): display → key."""
    return {k.key_display: k for k in _shown_keys(app) if not k.palette}


def _palette_keys(app) -> list[ShownKey]:
    return [k for k in _shown_keys(app) if k.palette]


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_footer_fits_and_shows_what_can_be_done(tmp_path, size):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=size, notifications=True) as pilot:
        await wait_for(pilot, lambda: at_gate(app) and "a" in _footer_keys(app))
        keys = _footer_keys(app)
        for key in ("a", "r", "space", "m", "s", "?"):
            assert key in keys, f"{key} missing from the footer: {sorted(keys)}"
        # every key is fully on screen, left of the "^p Commands" key (shown from 100
        # columns; below, ctrl+p still works and help lists it)
        palettes = _palette_keys(app)
        assert bool(palettes) == (size[0] >= 100)
        edge = palettes[0].x_start if palettes else size[0]
        if palettes:
            assert palettes[0].x_end == size[0] and palettes[0].key_display == "^p"
        for key in keys.values():
            assert key.x_end <= edge, key.key
        assert "c" not in keys  # continue means nothing at a gate
        labels = [k.description for k in keys.values()]
        assert len(labels) == len(set(labels)), labels  # each action once
        # the status line fits, with the gist of the gate's prompt
        status = main_screen(app).status_line
        text = status.text().plain
        assert len(text) <= status.content_size.width and "Review the changes of" in text, text
        # a toast stays off the end of the diff under review (where a change usually ends)
        from textual.widgets._toast import Toast

        app.notify("Rewound to checkpoint 4. Your files before it are in checkpoint 10: u undoes.")
        await wait_for(pilot, lambda: any(t.region.height for t in app.screen.query(Toast)))
        diff = main_screen(app).diff_view.region
        toasts = list(app.screen.query(Toast))
        for toast in toasts:
            assert toast.region.bottom <= diff.y + diff.height // 2, (toast.region, diff)
        app.clear_notifications()
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app) and "f" in _footer_keys(app))
        main_screen(app).diff_view.focus()
        await wait_for(pilot, lambda: app.focused is main_screen(app).diff_view)
        await pilot.pause()
        keys = _footer_keys(app)
        assert "a" not in keys and "r" not in keys and "s" not in keys
        assert "space" not in keys  # no review open: no hunk to accept or reject
        assert "f" in keys and "b" in keys  # a finished run can be forked or rewound
        assert "m" in keys  # and asked a follow-up


async def test_footer_keeps_help_in_the_all_panes_view_at_80_columns(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: at_gate(app) and "a" in _footer_keys(app))
        await pilot.press("z")  # all panes, the plan tree focused: the most keys at once
        main_screen(app).plan.focus()
        await wait_for(pilot, lambda: "b" in _footer_keys(app))
        keys = _footer_keys(app)
        for key in ("a", "r", "b", "?"):
            assert key in keys, f"{key} missing from the footer: {sorted(keys)}"

        def whole() -> None:  # every key whole, none under the palette's key (if shown)
            keys = _footer_keys(app)
            assert "?" in keys, sorted(keys)
            edge = min([80] + [p.x_start for p in _palette_keys(app)])
            for key in keys.values():
                assert key.x_start < key.x_end <= edge, (key, edge)

        whole()
        # after a rewind and its undo the gate is back with one more key (u Undo)
        screen = main_screen(app)
        assert screen.plan.select_checkpoint(min(screen.plan.checkpoint_ids()))
        await pilot.press("b")
        from tui.screens.modals import ConfirmModal

        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.last_undo is not None and not at_gate(app))
        await pilot.press("u")
        await wait_for(pilot, lambda: at_gate(app))
        if screen.focus_diff:
            await pilot.press("z")
        screen.plan.focus()
        await wait_for(pilot, lambda: "u" in _footer_keys(app) and "b" in _footer_keys(app))
        whole()
        quits: list[bool] = []
        app.exit = lambda *a, **k: quits.append(True)  # type: ignore[method-assign]
        await pilot.press("ctrl+q")  # not in the footer here, and still quits
        await wait_for(pilot, lambda: quits)


async def _start_screen(pilot, app: LlmflowsApp) -> Footer:
    """The start screen, its repository read and its footer showing its keys."""
    from tui.screens.start import StartScreen

    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, StartScreen)
            and app.repo_root is not None
            and "^r" in _footer_keys(app)
        ),
    )
    return app.screen.query_one(Footer)


async def test_clicking_a_footer_key_presses_it(tmp_path):
    from textual.command import CommandPalette

    from tui.screens.history import HistoryScreen

    repo, model = make_repo(tmp_path, [])
    app = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
    async with app.run_test(size=(120, 24)) as pilot:
        footer = await _start_screen(pilot, app)
        keys = _footer_keys(app)
        start = app.screen
        blank = max(k.x_end for k in keys.values())  # right of the last key: nothing
        assert footer.key_at(blank) is None
        await pilot.click(Footer, offset=(blank, 0))
        await pilot.pause()
        assert app.screen is start
        history = keys["^r"]
        assert history.action == "history" and history.description == "History"
        await pilot.click(Footer, offset=(history.x_end - 1, 0))  # its last column
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is start)
        palette = _palette_keys(app)[0]
        await pilot.click(Footer, offset=(palette.x_start, 0))  # its separator
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))


async def test_footer_repaints_only_when_its_keys_change(tmp_path):
    repo, model = make_repo(tmp_path, [])
    app = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
    async with app.run_test(size=(120, 24)) as pilot:
        footer = await _start_screen(pilot, app)
        await pilot.pause()
        shown, repaints, reads = footer.shown_keys, footer.repaints, footer.binding_reads
        # the same keys signalled again (and focus moving between two inputs): read, not drawn
        for _ in range(3):
            app.screen.refresh_bindings()
        app.screen.query_one("#model").focus()
        await wait_for(pilot, lambda: footer.binding_reads > reads)
        await pilot.pause()
        assert footer.repaints == repaints and footer.shown_keys == shown
        footer.show_command_palette = False  # a change: one repaint, the palette key gone
        await wait_for(pilot, lambda: footer.repaints == repaints + 1)
        assert not _palette_keys(app)
        assert [k.key_display for k in footer.shown_keys] == [
            k.key_display for k in shown if not k.palette
        ]


async def test_continue_after_stop_runs_again(tmp_path):
    entries = _edit_entries(CHANGED)
    entries[0]["latency"] = 1.0  # time to press s while the model "thinks"
    repo, model = make_repo(tmp_path, entries)
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: main_screen(app) is not None and main_screen(app).busy)
        await pilot.press("s")
        await wait_for(pilot, lambda: finished(app, "stopped") and "c" in _footer_keys(app))
        await pilot.press("c")
        await wait_for(pilot, lambda: at_gate(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
    assert (repo / "data.txt").read_text() == CHANGED


async def test_reject_notification_is_plain_english(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED) + _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        await pilot.press("r")
        await pilot.press(*"keep it short", "enter")
        await wait_for(pilot, lambda: any("reject" in n.message for n in app._notifications))
        messages = [n.message for n in app._notifications]
        assert not any("rejectd" in m for m in messages), messages
        assert any(m.startswith("rejected") for m in messages), messages


def test_streamed_model_text_wraps_at_word_boundaries():
    from tui.widgets.transcript import StreamWrap

    text = (
        "Each line is taxed and rounded on its own. I'll add a test where per-line "
        "rounding drifts.\n    indented stays indented\n" + "x" * 45 + " end"
    )
    wrap = StreamWrap()
    out = "".join(wrap.feed(text[i : i + 3], 20) for i in range(0, len(text), 3))
    out += wrap.flush(20)
    lines = out.split("\n")
    assert all(len(line) <= 20 for line in lines), lines
    words = set(text.split())
    for line in lines:  # every piece is a whole word, except the cut 45-letter one
        assert all(w in words or set(w) == {"x"} for w in line.split()), line
    assert "    indented stays " in lines
    assert lines[-1].endswith("end")


async def test_start_screen_shows_flow_file_errors_with_file_line_col(tmp_path):
    from tui.app import LlmflowsApp
    from tui.screens.start import StartScreen

    repo, model = make_repo(tmp_path, [])
    (repo / ".llmflows" / "flows" / "broken.yaml").write_text(
        "name: broken\ndescription: half written\nnodes:\n  - id: a\n    kind: agnt\n"
        "    prompt: hi\n    next: end\n"
    )
    trust(repo)
    app = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, StartScreen) and app.screen.query_one("#model").value,
        )

        # project flows are checked once the store is open (after the form is usable)
        def error() -> str:
            return str(app.screen.query_one("#start-error").render())

        await wait_for(pilot, lambda: "broken.yaml" in error())
        # the error is scrolled into view after the next refresh
        await wait_for(pilot, lambda: app.screen.query_one("#start-error").region.y < 36)
        assert ".llmflows/flows/broken.yaml:5:11: unknown node kind 'agnt'" in error(), error()
        assert app.screen.query_one("#start-error").region.y < 36  # scrolled into view
        assert app.screen.query_one("#flow").value != "broken"  # a valid flow is preselected


async def test_start_screen_refuses_empty_goal_and_bad_budget(tmp_path):
    from tui.app import LlmflowsApp
    from tui.screens.start import StartScreen

    repo, model = make_repo(tmp_path, [])
    app = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, StartScreen) and app.screen.query_one("#model").value,
        )
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "goal" in str(app.screen.query_one("#start-error").render())
        app.screen.query_one("#goal").value = "do it"
        app.screen.query_one("#budget").value = "ten bucks"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "budget must be a number" in str(app.screen.query_one("#start-error").render())
        assert isinstance(app.screen, StartScreen)  # nothing started


async def test_command_palette_lists_app_actions_and_runs_them(tmp_path):
    from tui.commands import ActionsProvider

    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        main_screen(app).plan.focus()  # a Tree: many generic cursor bindings
        await pilot.pause()
        titles = [t for t, *_ in ActionsProvider(app.screen)._commands()]
        for title in ("Approve", "Reject", "Edit", "Panes", "Message", "Stop", "History", "Help"):
            assert title in titles, titles
        assert not {"Cursor Up", "Scroll Left", "Page Down", "Cursor to parent"} & set(titles)
        main_screen(app).diff_view.focus()
        await pilot.pause()
        titles = [t for t, *_ in ActionsProvider(app.screen)._commands()]
        assert "Next file" in titles and "Unified/split" in titles  # not in the footer
        from textual.command import CommandList, CommandPalette

        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"approve")

        def approve_highlighted() -> bool:
            found = app.screen.query_one(CommandList)
            at = found.highlighted
            return at is not None and "Approve" in str(found.get_option_at_index(at).prompt)

        await wait_for(pilot, approve_highlighted)
        await pilot.press("enter")
        await wait_for(pilot, lambda: finished(app))
    assert (repo / "data.txt").read_text() == CHANGED


async def test_start_screen_keys_work_while_typing_the_goal(tmp_path, monkeypatch):
    from tui.app import LlmflowsApp
    from tui.screens.modals import HelpScreen
    from tui.screens.start import StartScreen

    repo, model = make_repo(tmp_path, [])
    app = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
    demos: list[object] = []
    monkeypatch.setattr(app, "start_demo", lambda directory=None: demos.append(directory))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, StartScreen) and app.screen.query_one("#model").value,
        )
        assert app.focused is app.screen.query_one("#goal")
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        await pilot.press("ctrl+d")  # offline demo, not delete-right in the goal
        await pilot.pause()
        assert demos == [None]


async def test_mouse_click_on_a_file_and_on_a_hunk_mark(tmp_path):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        screen = main_screen(app)
        files = screen.query_one("#files")
        (repo / "other.txt").write_text("x\n")  # a second file, written while paused
        await wait_for(pilot, lambda: files.paths == ["data.txt", "other.txt"])
        await pilot.click("#files", offset=(12, 2))  # second row (inside the border)
        await wait_for(pilot, lambda: screen.diff_view.current_file() == "other.txt")
        view = screen.diff_view
        view.jump_to_file("data.txt")
        await pilot.pause()
        rows = view._current_rows()
        top = int(view.scroll_y)
        header = next(i for i, r in enumerate(rows) if r[0] == 2 and i >= top)  # ROW_HUNK
        region = view.content_region
        await pilot.click("#diff", offset=(region.x - view.region.x + 1, header - top + 1))
        await wait_for(pilot, lambda: len(view.rejected_hunks()) == 1)
        await pilot.click("#diff", offset=(region.x - view.region.x + 1, header - top + 1))
        await wait_for(pilot, lambda: not view.rejected_hunks())


async def test_start_screen_shows_the_detected_test_command_and_takes_a_change(tmp_path):
    from engine.run.session import Session
    from tui.app import LlmflowsApp
    from tui.screens.start import StartScreen

    repo, model = make_repo(tmp_path, [])
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    app = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, StartScreen) and app.screen.query_one("#test-command").value
            ),
        )
        screen = app.screen
        assert screen.query_one("#test-command").value.endswith(" -m pytest -q")
        source = str(screen.query_one("#test-source").render())
        assert "detected from pyproject.toml, Python project" in source
        assert "saved to .llmflows/config.toml at the first run" in source
        screen.query_one("#flow").value = "feature"
        screen.query_one("#goal").value = "add mul"
        screen.query_one("#test-command").value = "make check"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: main_screen(app) is not None and not main_screen(app).busy)
        run_id = main_screen(app).run_id
    assert 'command = "make check"' in (repo / ".llmflows" / "config.toml").read_text()
    with Session.open(repo, write=False) as s:
        first = s.store.first_checkpoint(run_id)
        assert s.store.get_blob(first["state_hash"])["settings"]["test_command"] == "make check"
