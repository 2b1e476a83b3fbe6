"""More Pilot tests: live diff from an outside editor (watchfiles), breakpoints by key,
fork from the history screen."""

from __future__ import annotations

from tests.test_tui_app import (
    CHANGED,
    SIZE,
    _edit_entries,
    at_gate,
    finished,
    main_screen,
    make_repo,
    new_app,
    wait_for,
)


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
    import yaml

    script = tmp_path / "script.yaml"
    data = yaml.safe_load(script.read_text())
    data["responses"].append({"node": "wrap", "text": "wrapped"})
    script.write_text(yaml.safe_dump(data))
    app = new_app(repo, model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app))
        await pilot.press("S")  # single-step on
        await pilot.pause(0.3)
        await pilot.press("a")
        await wait_for(
            pilot, lambda: at_gate(app) and main_screen(app).gate["kind"] == "breakpoint"
        )
        assert main_screen(app).gate["node"] == "wrap"
        await pilot.press("S")  # off again, then continue
        await pilot.pause(0.3)
        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))


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
