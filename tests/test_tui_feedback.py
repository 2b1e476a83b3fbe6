"""Feedback while slow or stuck: each shown at once (Pilot), never a silent screen."""

from __future__ import annotations

import socket

from tests.test_tui_app import (
    CHANGED,
    SIZE,
    _edit_entries,
    finished,
    main_screen,
    make_repo,
    new_app,
    wait_for,
)
from tui.app import LlmflowsApp


def _slow_entries(latency: float):
    entries = _edit_entries(CHANGED)
    entries[0]["latency"] = latency  # the model "thinks" this long
    return entries


async def test_waiting_for_the_model_is_said_while_it_thinks(tmp_path):
    repo, model = make_repo(tmp_path, _slow_entries(1.5))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: (
                main_screen(app) is not None
                and "waiting for scripted:" in main_screen(app).status_line.message
            ),
        )
        assert main_screen(app).busy  # said during the call, not after
    # Quitting mid-call stops the run cleanly (resumable), not left "running" as if crashed.
    from engine.store import RunStore

    store = RunStore.open(repo, write=False)
    try:
        [run] = store.list_runs()
        assert run["status"] == "stopped", (run["status"], run["error"])
    finally:
        store.close()


async def test_a_stop_request_is_shown_before_the_run_has_stopped(tmp_path):
    repo, model = make_repo(tmp_path, _slow_entries(2.0))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: main_screen(app) is not None and main_screen(app).busy)
        screen = main_screen(app)
        shown: list[tuple[str, bool]] = []  # (status message, run still busy)
        original = screen.status_line.set_message

        def record(msg: str) -> None:
            shown.append((msg, screen.busy))
            original(msg)

        screen.status_line.set_message = record  # type: ignore[method-assign]
        await pilot.press("s")
        await wait_for(pilot, lambda: finished(app, "stopped"))
        # said while the run was still stopping, then cleared once it had stopped
        assert any("stop requested" in m and busy for m, busy in shown), shown
        assert "stop requested" not in screen.status_line.message


async def test_a_repository_locked_by_another_writer_says_who_and_what_to_do(tmp_path):
    import os

    from engine.store import RunStore

    repo, model = make_repo(tmp_path, [])
    holder = RunStore.open(repo, write=True)  # another writer (this process: our pid)
    try:
        app = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
        async with app.run_test(size=SIZE) as pilot:
            from tui.screens.start import LockedScreen, StartScreen

            await wait_for(pilot, lambda: isinstance(app.screen, LockedScreen))
            body = str(app.screen.query_one("#locked-body").render())
            assert str(os.getpid()) in body and "press r" in body
            holder.close()
            await pilot.press("r")  # the other one is gone: try again
            await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        app = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
        holder = RunStore.open(repo, write=True)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, LockedScreen))
            await pilot.press("q")
        assert app.return_code == 2  # not a silent success
    finally:
        holder.close()


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there now


async def test_a_refused_local_server_is_one_clear_line_and_the_run_stays_resumable(
    tmp_path, monkeypatch
):
    url = _refused_url()
    monkeypatch.setenv("LLMFLOWS_API_BASE", url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    repo, _ = make_repo(tmp_path, [])
    app = new_app(repo, "openai/local-model")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: finished(app, "stopped"), timeout=90)
        screen = main_screen(app)
        said = [n.message for n in app._notifications if "cannot connect" in n.message]
        assert len(said) == 1, said  # once, not once per retry
        assert url in said[0] and "connection refused" in said[0]
        assert "SSLContext" not in said[0] and "\n" not in said[0]
        assert url in screen.status_line.message
        assert screen.active_bindings["c"].enabled  # continue it once the server is up


def _pane(screen) -> str:
    return "\n".join(screen.transcript.lines)


async def test_a_message_at_a_pause_is_in_the_transcript_which_survives_reopening(tmp_path):
    from tests.test_tui_app import at_gate
    from tui.screens.modals import MessageModal

    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        screen = main_screen(app)
        live = _pane(screen)
        assert "Editing data.txt" in live  # what the model said
        assert "→ write_file(path=data.txt" in live  # the call
        assert "    ← " in live  # and its result, collapsed to one line
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MessageModal))
        await pilot.press(*"keep it short", "enter", *"and polite")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "you › keep it short" in _pane(screen))
        assert "and polite" in _pane(screen)
    # A new session of the app opens the run: the transcript is rebuilt from the store.
    app2 = LlmflowsApp(str(repo), model=model, clock=lambda: 1000.0)
    async with app2.run_test(size=SIZE) as pilot:
        from tui.screens.history import HistoryScreen
        from tui.screens.start import StartScreen

        await wait_for(
            pilot, lambda: isinstance(app2.screen, StartScreen) and app2.screen.resumable
        )
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app2.screen, HistoryScreen) and app2.screen.rows)
        await pilot.press("enter")  # opens it read-only
        await wait_for(pilot, lambda: "you › keep it short" in _pane(app2.screen))
        text = _pane(app2.screen)
        assert "Editing data.txt" in text and "→ write_file(" in text and "    ← " in text
        await pilot.press("t")  # tool results in full
        await wait_for(pilot, lambda: "    │ " in _pane(app2.screen))


async def test_a_follow_up_on_a_finished_run_starts_a_linked_run(tmp_path):
    from engine.store import RunStore
    from tests.test_tui_app import at_gate
    from tui.screens.modals import MessageModal

    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        # one key, named for what it does: a message at a pause, a follow-up once finished
        assert main_screen(app).active_bindings["m"].binding.description == "Message"
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
        assert main_screen(app).active_bindings["m"].binding.description == "Follow-up"
        first = main_screen(app).run_id
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MessageModal))
        await pilot.press(*"now line 5", "ctrl+s")
        # the new run is shown live and runs (the replay script answers it again)
        await wait_for(pilot, lambda: main_screen(app).run_id != first and finished(app))
        second = main_screen(app).run_id
    with RunStore.open(repo, write=False) as store:
        run = store.get_run(second)
        start = store.first_checkpoint(second)
        assert run["goal"] == "now line 5" and run["config"]["follows"] == first
        assert start["parent_id"] == store.get_run(first)["head_checkpoint_id"]
    assert (repo / "data.txt").read_text() == CHANGED  # from the first run's final tree
