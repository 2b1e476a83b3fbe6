"""PlanTree, TestOutput, CostMeter, StatusLine driven by engine events."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widget import Widget

from engine.events import (
    CheckpointMade,
    CostUpdate,
    GateAnswered,
    GateOpened,
    LogMessage,
    PlanUpdated,
    RunStatusChanged,
    StepFinished,
    StepStarted,
)
from engine.events import TestOutputLine as OutputLine  # aliased: not a pytest class
from engine.events import TestResult as ResultEvent
from tui.widgets.cost_meter import CostMeter, fmt_tokens
from tui.widgets.plan_tree import PlanTree
from tui.widgets.status_line import StatusLine, fmt_elapsed
from tui.widgets.test_output import TestOutput


class OneWidget(App[None]):
    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget
        self.messages: list[object] = []

    def compose(self) -> ComposeResult:
        yield self.widget

    def on_plan_tree_checkpoint_selected(self, message: PlanTree.CheckpointSelected) -> None:
        self.messages.append(message.checkpoint_id)


FLOW = [
    ("plan", "plan", "break the goal into tasks"),
    ("implement", "agent", "edit files"),
    ("test", "run", "pytest"),
    ("review", "gate", "human review"),
]


def run_events() -> list:
    return [
        RunStatusChanged(status="running", node="plan"),
        CheckpointMade(checkpoint_id=0, parent_id=None, source="start", message="user work"),
        StepStarted(step_id=1, node="plan", kind="plan"),
        PlanUpdated(
            step_id=1,
            tasks=[
                {"id": "t1", "title": "Add subtract()", "files": ["src/app.py"], "status": "todo"},
                {"id": "t2", "title": "Write tests", "files": ["tests/test_app.py"]},
            ],
        ),
        CheckpointMade(checkpoint_id=1, parent_id=0, source="step", step_id=1),
        StepFinished(step_id=1, node="plan", status="done", checkpoint_id=1),
        StepStarted(step_id=2, node="implement", kind="agent", task_id="t1"),
        StepFinished(step_id=2, node="implement", status="failed", error="tool error\nmore"),
        StepStarted(step_id=3, node="implement", kind="agent", task_id="t1", attempt=2),
        CheckpointMade(checkpoint_id=2, parent_id=1, source="step", step_id=3, partial=True),
        StepFinished(step_id=3, node="implement", status="done", checkpoint_id=2, files_changed=1),
        GateOpened(gate_id=7, step_id=3, kind="review", node="implement", prompt="Review the diff"),
    ]


async def test_plan_tree_builds_structure_from_events():
    tree = PlanTree()
    app = OneWidget(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        tree.set_flow_nodes(FLOW)
        for event in run_events():
            tree.apply_event(event)
        tree.apply_event(LogMessage(message="ignored"))
        await pilot.pause()
        assert tree.outline() == [
            "◆ checkpoints",
            "  ◆ cp 0 start",
            "✓ plan [plan]",
            "  ✓ attempt 1 #1",
            "    ◆ cp 1",
            "  ⏸ Add subtract()",
            "    ✗ implement · attempt 1 #2",
            "    ⏸ implement · attempt 2 #3 review?",
            "      ◇ cp 2 ◀ here",
            "  ○ Write tests",
            "⏸ ▶ implement [agent]",
            "○ test [run]",
            "○ review [gate]",
        ]
        # what the short labels leave out is in the bottom border for the row under the cursor
        assert tree.select_step(3)
        await pilot.pause()
        assert tree.border_subtitle == (
            "implement · attempt 2 #3 paused, awaiting review: 1 file(s) changed"
        )
        assert tree.select_checkpoint(0)
        await pilot.pause()
        assert tree.border_subtitle == "checkpoint 0 (start): user work"
        assert tree.current_node == "implement"
        assert tree.node_status("implement") == "paused"
        assert tree.task_status("t1") == "paused"
        assert tree.step_status(2) == "failed"

        # Rejecting at the gate marks the attempt rejected (↺); a retry follows.
        tree.apply_event(GateAnswered(gate_id=7, decision="reject", reason="use ints"))
        assert tree.step_status(3) == "rejected"
        assert tree.node_status("implement") == "rejected"
        tree.apply_event(
            StepStarted(step_id=4, node="implement", kind="agent", task_id="t1", attempt=3)
        )
        assert tree.node_status("implement") == "running"
        tree.apply_event(StepFinished(step_id=4, node="implement", status="done"))
        tree.apply_event(
            GateOpened(gate_id=8, step_id=4, kind="review", node="implement", prompt="again")
        )
        tree.apply_event(GateAnswered(gate_id=8, decision="approve"))
        assert tree.step_status(4) == "done"
        assert tree.node_status("implement") == "done"
        tree.apply_event(StepStarted(step_id=5, node="test", kind="run"))
        assert tree.current_node == "test"
        tree.apply_event(RunStatusChanged(status="failed", reason="boom"))
        assert tree.step_status(5) == "failed"
        assert tree.node_status("test") == "failed"
        assert tree.current_node is None
        assert tree.checkpoint_ids() == [0, 1, 2]


async def test_plan_tree_after_a_rewind_marks_later_attempts_and_where_you_are():
    from engine.events import CheckpointMade, Rewound

    tree = PlanTree()
    app = OneWidget(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        tree.set_flow_nodes([("edit", "agent", ""), ("test", "run", "")])
        tree.set_breakpoints({"test"})
        tree.apply_event(CheckpointMade(checkpoint_id=10, parent_id=None, source="start"))
        tree.apply_event(StepStarted(step_id=1, node="edit", kind="agent"))
        tree.apply_event(CheckpointMade(checkpoint_id=11, parent_id=10, source="step", step_id=1))
        tree.apply_event(StepFinished(step_id=1, node="edit", status="done", checkpoint_id=11))
        tree.apply_event(StepStarted(step_id=2, node="test", kind="run"))
        tree.apply_event(CheckpointMade(checkpoint_id=12, parent_id=11, source="step", step_id=2))
        tree.apply_event(StepFinished(step_id=2, node="test", status="done", checkpoint_id=12))
        assert tree.here == 12
        undo = CheckpointMade(checkpoint_id=13, parent_id=12, source="pre-restore")
        tree.apply_event(undo)
        tree.apply_event(Rewound(checkpoint_id=11, undo_checkpoint_id=13))
        await pilot.pause()
        assert tree.here == 11  # the undo point is kept, not gone to
        assert tree.step_status(1) == "done"
        assert tree.step_status(2) == "rewound"
        assert tree.node_status("test") == "rewound"
        outline = tree.outline()
        assert any(line.endswith("◆ cp 11 ◀ here") for line in outline), outline
        assert outline[-3] == "⤺ ▶ test [run] ●", outline
        # undo (a rewind to the undo checkpoint): the attempt is back as it was, not ⤺
        tree.apply_event(CheckpointMade(checkpoint_id=14, parent_id=11, source="pre-restore"))
        tree.apply_event(Rewound(checkpoint_id=13, undo_checkpoint_id=14))
        await pilot.pause()
        assert tree.step_status(2) == "done"
        assert tree.node_status("test") == "done"
        # undoing the undo goes back to the rewound state
        tree.apply_event(CheckpointMade(checkpoint_id=15, parent_id=13, source="pre-restore"))
        tree.apply_event(Rewound(checkpoint_id=14, undo_checkpoint_id=15))
        await pilot.pause()
        assert tree.step_status(2) == "rewound"


async def test_plan_tree_revised_plan_and_unknown_nodes():
    tree = PlanTree()
    app = OneWidget(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        tree.apply_event(StepStarted(step_id=1, node="plan", kind="plan"))
        tree.apply_event(
            PlanUpdated(step_id=1, tasks=[{"id": "a", "title": "A"}, {"id": "b", "title": "B"}])
        )
        tree.apply_event(
            PlanUpdated(step_id=1, tasks=[{"id": "a", "title": "A2", "status": "done"}])
        )
        await pilot.pause()
        assert tree.outline() == [
            "◐ ▶ plan",
            "  ◐ attempt 1 #1",
            "  ✓ A2",
            "  ⊘ B",
        ]


async def test_plan_tree_checkpoint_selection_posts_message():
    tree = PlanTree()
    app = OneWidget(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        tree.set_flow_nodes(FLOW)
        for event in run_events():
            tree.apply_event(event)
        tree.focus()
        await pilot.pause()
        assert tree.selected_checkpoint() is None
        assert tree.select_checkpoint(1)
        await pilot.pause()
        assert tree.selected_checkpoint() == 1
        assert app.messages[-1] == 1
        await pilot.press("down")  # task row: not a checkpoint
        assert tree.selected_checkpoint() is None
        tree.move_cursor_to_line(1)  # checkpoint 0 under the group
        await pilot.press("enter")
        await pilot.pause()
        assert tree.selected_checkpoint() == 0
        assert app.messages[-1] == 0
        assert not tree.select_checkpoint(99)


async def test_test_output_streams_and_summarizes():
    pane = TestOutput()
    app = OneWidget(pane)
    async with app.run_test(size=(80, 20)) as pilot:
        assert pane.summary_text() == "tests: not run yet"
        for i in range(300):
            pane.apply_event(OutputLine(step_id=5, line=f"tests/test_x.py::test_{i} PASSED"))
        pane.apply_event(OutputLine(step_id=6, line="collected 3 items"))
        pane.apply_event(
            ResultEvent(
                step_id=6,
                command="pytest -q",
                exit_code=1,
                passed=10,
                failed=2,
                errors=1,
                skipped=3,
                failing=["tests/test_x.py::test_a", "tests/test_x.py::test_b"],
                duration_s=1.25,
            )
        )
        await pilot.pause()
        log = pane.log_widget
        assert log.line_count == 302
        assert log.lines[300] == "── step 6 ──"
        assert log.lines[-1] == "collected 3 items"
        assert (pane.passed, pane.failed, pane.errors, pane.skipped) == (10, 2, 1, 3)
        assert pane.failing == ["tests/test_x.py::test_a", "tests/test_x.py::test_b"]
        assert pane.summary_text() == (
            "✗ FAIL 10 passed, 2 failed, 1 errors, 3 skipped  (1.2s, exit 1)"
        )
        summary = app.query_one("#test-summary")
        failing = app.query_one("#test-failing")
        assert summary.has_class("-failed")
        assert failing.has_class("-shown") and failing.display
        assert "✗ tests/test_x.py::test_b" in str(failing.render())

        pane.clear()
        await pilot.pause()
        assert log.line_count == 0 and pane.failing == [] and pane.passed == 0
        assert not failing.display
        pane.apply_event(ResultEvent(step_id=7, command="pytest", exit_code=0, passed=4))
        assert pane.summary_text().startswith("✓ PASS 4 passed, 0 failed  (")  # no 0 counts
        assert summary.has_class("-passed")


async def test_test_output_ends_on_its_last_line_after_the_failing_list_changes():
    """The failing list above the log grows/shrinks the log: the newest output stays in view."""
    pane = TestOutput()
    app = OneWidget(pane)
    async with app.run_test(size=(60, 16)) as pilot:
        for i in range(40):
            pane.apply_event(OutputLine(step_id=1, line=f"line {i}"))
        failing = [f"tests/test_x.py::test_{i}" for i in range(4)]
        pane.apply_event(
            ResultEvent(
                step_id=1, command="pytest", exit_code=1, passed=1, failed=4, failing=failing
            )
        )
        await pilot.pause()
        log = pane.log_widget
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y
        for i in range(40):
            pane.apply_event(OutputLine(step_id=2, line=f"again {i}"))
        pane.apply_event(ResultEvent(step_id=2, command="pytest", exit_code=0, passed=5))
        await pilot.pause()
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y  # "again 39" is on screen, not hidden below


async def test_failing_test_ids_fold_instead_of_leaving_a_lone_cross():
    pane = TestOutput()
    app = OneWidget(pane)
    async with app.run_test(size=(30, 16)) as pilot:
        long_id = "tests/test_rounding.py::test_total_is_rounded_once_not_per_line"
        pane.apply_event(
            ResultEvent(step_id=1, command="pytest", exit_code=1, failed=1, failing=[long_id])
        )
        await pilot.pause()
        lines = str(app.query_one("#test-failing").render()).splitlines()
        assert lines[0].startswith("✗ tests/test_rounding")
        assert len(lines) > 1 and "".join(line.strip() for line in lines[1:]) in long_id


def cost(
    step, model, cost_usd, run_cost, tin=100, tout=50, cached=0, run_in=0, run_out=0, budget=None
):
    return CostUpdate(
        step_id=step,
        model=model,
        tokens_in=tin,
        tokens_out=tout,
        tokens_cached=cached,
        cost_usd=cost_usd,
        run_cost_usd=run_cost,
        run_tokens_in=run_in,
        run_tokens_out=run_out,
        budget_usd=budget,
    )


async def test_cost_meter_figures_and_budget_bar():
    meter = CostMeter()
    app = OneWidget(meter)
    async with app.run_test(size=(80, 12)) as pilot:
        assert "budget none" in meter.text().plain
        meter.set_budget(1.0)
        meter.apply_event(
            cost(
                1,
                "openai/gpt-4o",
                0.10,
                0.10,
                tin=1000,
                tout=200,
                cached=500,
                run_in=1000,
                run_out=200,
            )
        )
        meter.apply_event(
            cost(1, "anthropic/claude", 0.20, 0.30, tin=2000, run_in=3000, run_out=250)
        )
        assert abs(meter.step_cost - 0.30) < 1e-9
        meter.apply_event(cost(2, "openai/gpt-4o", 0.05, 0.35, run_in=3100, run_out=300))
        assert abs(meter.step_cost - 0.05) < 1e-9
        assert meter.run_cost == 0.35
        assert (meter.tokens_in, meter.tokens_out, meter.tokens_cached) == (3100, 300, 500)
        assert meter.per_model["openai/gpt-4o"].calls == 2
        assert abs(meter.per_model["openai/gpt-4o"].cost_usd - 0.15) < 1e-9
        await pilot.pause()
        text = meter.text().plain.splitlines()
        assert text[0] == "run $0.3500  step $0.0500"
        assert text[1] == "tokens in 3.1k  out 300  cached 500"
        assert text[2] == "budget " + "█" * 7 + "░" * 13 + " 35% of $1.00"
        assert text[3] == "  anthropic/claude $0.2000 · 1 call · 2.0k/50"
        assert text[4] == "  openai/gpt-4o $0.1500 · 2 calls · 1.1k/250"
        assert meter.cost_per_passing_test is None
        assert not meter.has_class("-warning")

        meter.apply_event(ResultEvent(step_id=3, command="pytest", exit_code=0, passed=7))
        assert abs(meter.cost_per_passing_test - 0.05) < 1e-9
        assert meter.text().plain.splitlines()[-1] == "per passing test $0.0500 (7 passed)"

        meter.apply_event(cost(3, "openai/gpt-4o", 0.50, 0.85, run_in=4000, run_out=400))
        assert meter.has_class("-warning") and not meter.has_class("-over")
        meter.apply_event(
            cost(3, "openai/gpt-4o", 0.30, 1.15, run_in=5000, run_out=500, budget=1.0)
        )
        assert meter.has_class("-over") and not meter.has_class("-warning")
        assert "█" * 20 + " 115% of $1.00 over budget" in meter.text().plain
        meter.set_budget(None)
        assert meter.budget_fraction is None and not meter.has_class("-over")
        await pilot.pause()


async def test_cost_meter_fits_a_narrow_pane():
    """At 120 columns the meter has ~27 cells: budget bar and percentage stay on one line."""
    meter = CostMeter()
    app = OneWidget(meter)
    async with app.run_test(size=(29, 12)) as pilot:
        meter.set_budget(1.0)
        meter.apply_event(
            cost(1, "scripted:/tmp/demo/.git/llmflows-demo-script.yaml", 0.35, 0.35, run_in=1300)
        )
        await pilot.pause()
        width = meter.content_size.width
        lines = meter.text().plain.splitlines()
        assert lines[1] == "tokens in 1.3k  out 0"  # no "cached 0"
        assert lines[2].startswith("budget ") and lines[2].endswith(" 35% of $1.00")
        assert len(lines) == 3  # one model: no per-model line repeating the run line
        assert all(len(line) <= width for line in lines), (width, lines)


def test_formatters():
    assert fmt_tokens(999) == "999"
    assert fmt_tokens(1500) == "1.5k"
    assert fmt_tokens(2_500_000) == "2.5M"
    assert fmt_elapsed(65) == "01:05"
    assert fmt_elapsed(3725) == "1:02:05"


async def test_status_line_text_and_clock():
    now = [100.0]
    line = StatusLine(autonomy="review", clock=lambda: now[0])
    app = OneWidget(line)
    async with app.run_test(size=(120, 3)) as pilot:
        assert line.text().plain == "○ idle  node —  autonomy review  ⏱ 00:00"
        line.apply_event(RunStatusChanged(status="running", node="plan"))
        now[0] = 161.0
        assert line.text().plain == "◐ running  node plan  autonomy review  ⏱ 01:01"
        line.apply_event(StepStarted(step_id=2, node="implement", kind="agent"))
        line.set_autonomy("auto-edit")
        assert line.text().plain == "◐ running  node implement  autonomy auto-edit  ⏱ 01:01"
        line.apply_event(
            GateOpened(
                gate_id=1, step_id=2, kind="review", node="implement", prompt="Approve diff?\nmore"
            )
        )
        assert line.text().plain.startswith("⏸ paused  node implement")
        assert line.text().plain.endswith("│ review: Approve diff?")
        line.set_message("saved")
        assert line.text().plain.endswith("│ saved")
        line.apply_event(RunStatusChanged(status="completed", reason="all done"))
        now[0] = 500.0  # the clock stops at the end of the run
        assert (
            line.text().plain
            == "✓ completed  node implement  autonomy auto-edit  ⏱ 01:01  │ all done"
        )
        await pilot.pause()
        assert "completed" in str(line.render())


async def test_status_line_ticks_every_second():
    line = StatusLine()
    app = OneWidget(line)
    async with app.run_test(size=(80, 3)) as pilot:
        line.apply_event(RunStatusChanged(status="running", node="plan"))
        await pilot.pause(1.2)
        assert line.elapsed >= 1.0
        assert "⏱ 00:01" in line.text().plain or "⏱ 00:02" in line.text().plain


class PanesApp(App[None]):
    """All panes side by side, fed a fixed event sequence (deterministic clock)."""

    CSS = """
    Horizontal { height: 1fr; }
    PlanTree { width: 60; }
    #right { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        from textual.containers import Horizontal, Vertical

        yield StatusLine(autonomy="review", clock=lambda: 0.0)
        with Horizontal():
            yield PlanTree()
            with Vertical(id="right"):
                yield CostMeter(budget_usd=0.5)
                yield TestOutput()

    def on_mount(self) -> None:
        tree = self.query_one(PlanTree)
        tree.set_flow_nodes(FLOW)
        events = [
            *run_events(),
            cost(3, "openai/gpt-4o", 0.12, 0.42, tin=4000, tout=900, run_in=9000, run_out=2000),
            OutputLine(step_id=3, line="tests/test_app.py::test_add PASSED"),
            OutputLine(step_id=3, line="tests/test_app.py::test_sub FAILED"),
            ResultEvent(
                step_id=3,
                command="pytest",
                exit_code=1,
                passed=1,
                failed=1,
                failing=["tests/test_app.py::test_sub"],
                duration_s=0.4,
            ),
        ]
        for widget in (tree, self.query_one(StatusLine), self.query_one(CostMeter)):
            for event in events:
                widget.apply_event(event)
        for event in events:
            self.query_one(TestOutput).apply_event(event)


def test_snapshot_panes(snap_compare):
    assert snap_compare(PanesApp(), terminal_size=(120, 30))


async def test_plan_tree_draws_each_step_status_as_itself():
    # A crashed, stopped or unknown step must never be drawn done (✓).
    tree = PlanTree()
    app = OneWidget(tree)
    async with app.run_test(size=(100, 30)) as pilot:
        for step_id, status in enumerate(["crashed", "stopped", "done", "brand-new"], start=1):
            tree.apply_event(StepStarted(step_id=step_id, node=f"n{step_id}", kind="agent"))
            tree.apply_event(StepFinished(step_id=step_id, node=f"n{step_id}", status=status))
        await pilot.pause()
        attempts = [line.strip() for line in tree.outline() if "attempt" in line]
        assert attempts == [
            "✖ attempt 1 #1",
            "⊘ attempt 1 #2",
            "✓ attempt 1 #3",
            "? attempt 1 #4",
        ]


def test_elide_cuts_at_a_clause_else_with_an_ellipsis():
    from tui.widgets.status_line import elide

    prompt = "Review the changes of 'fix #5': approve, reject with a reason, pick hunks, or edit."
    assert elide(prompt, 200) == prompt
    assert elide(prompt, 40) == "Review the changes of 'fix #5'…"
    assert elide("one two three four five six", 12) == "one two thr…"
    assert elide("abc", 0) == "" and elide("abc", 1) == "…"


async def test_status_line_fits_80_columns_with_the_message_first():
    """At 80 columns a review gate's line keeps state, node, clock and the gist of the
    prompt: the labels and then the autonomy go before the message is cut."""
    line = StatusLine(autonomy="review", clock=lambda: 15.0)
    app = OneWidget(line)
    async with app.run_test(size=(80, 3)) as pilot:
        line.apply_event(StepStarted(step_id=5, node="reproduce", kind="agent"))
        line.apply_event(
            GateOpened(
                gate_id=1,
                step_id=5,
                kind="review",
                node="reproduce",
                prompt="Review the changes of 'reproduce #1': approve, reject with a reason, "
                "pick hunks, or edit.",
            )
        )
        line.set_message(line.message.removeprefix("review: "))
        await pilot.pause()
        width = line.content_size.width
        text = line.text().plain
        assert len(text) <= width, (width, text)
        assert text == "⏸ paused · reproduce  ⏱ 00:00  │ Review the changes of 'reproduce #1'…"
        line.set_message("rewound to checkpoint 4: c continues with locate")
        assert line.text().plain == (
            "⏸ reproduce  ⏱ 00:00  │ rewound to checkpoint 4: c continues with locate"
        )
        line.set_message("short")
        assert line.text().plain.startswith("⏸ paused  node reproduce  autonomy review")


async def test_plan_tree_labels_fit_the_plan_pane_at_80_and_120_columns():
    """The bugfix flow after a run and a rewind: every row, guides included, fits the 31
    columns the plan pane has at 80×24 and 120×36 (no label is cut)."""
    from engine.events import Rewound

    tree = PlanTree()
    app = OneWidget(tree)
    # as in app.tcss at 80 and 120 columns (min-width 31 / 26 %), a border, a scrollbar
    app.CSS = "PlanTree { width: 31; height: 12; border: round white; }"
    nodes = [
        ("baseline", "run", "Run the tests before any change"),
        ("reproduce", "agent", "Write a failing test that shows the bug"),
        ("confirm", "run", "A test the model wrote must fail first"),
        ("locate", "llm", "Find the root cause"),
        ("fix", "agent", "Fix the code, not the test"),
        ("regress", "run", "Full regression run"),
        ("review", "gate", "Out of fix attempts: a person decides"),
        ("summary", "llm", "Summarize the fix"),
    ]
    async with app.run_test(size=(60, 40)) as pilot:
        tree.set_flow_nodes(nodes)
        tree.set_breakpoints({"regress"})
        tree.apply_event(
            CheckpointMade(
                checkpoint_id=1, parent_id=None, source="start", message="your work before the run"
            )
        )
        for i, (node, kind, _) in enumerate(nodes[:6], start=1):
            tree.apply_event(StepStarted(step_id=i, node=node, kind=kind, attempt=i % 2 + 1))
            tree.apply_event(
                CheckpointMade(checkpoint_id=i + 1, parent_id=i, source="step", step_id=i)
            )
            tree.apply_event(
                StepFinished(
                    step_id=i, node=node, status="done", checkpoint_id=i + 1, files_changed=12
                )
            )
        tree.apply_event(
            CheckpointMade(checkpoint_id=10, parent_id=7, source="pre-restore", partial=True)
        )
        tree.apply_event(Rewound(checkpoint_id=10, undo_checkpoint_id=11))
        tree.apply_event(
            GateOpened(gate_id=3, step_id=6, kind="review", node="regress", prompt="Review")
        )
        await pilot.pause()
        room = tree.scrollable_content_region.width
        assert room == 28, room
        for line in tree._tree_lines:
            guides = line._get_guide_width(tree.guide_depth, tree.show_root)
            label = tree._label_text(line.node)
            assert guides + label.cell_len <= room, (guides, label.plain, room)
        assert "◇ cp 10 pre-rewind ◀ here" in [ln.strip() for ln in tree.outline()]


async def test_cost_meter_after_a_rewind_shows_the_total_and_the_restored_checkpoint():
    meter = CostMeter()
    app = OneWidget(meter)
    async with app.run_test(size=(29, 12)) as pilot:
        meter.apply_event(cost(1, "m", 0.0025, 0.0025, run_in=2000))
        meter.apply_event(cost(5, "m", 0.0044, 0.0069, run_in=6000))
        meter.apply_event(ResultEvent(step_id=6, command="pytest", exit_code=0, passed=4))
        meter.apply_event(ResultEvent(step_id=0, command="pytest", exit_code=1, passed=2))
        meter.set_restored(4, 0.0025)  # the checkpoint's tests: 2 passed
        await pilot.pause()
        lines = meter.text().plain.splitlines()
        assert lines[:2] == ["run $0.0069 spent in all", "at cp 4 $0.0025 ◀ here"], lines
        assert lines[-1] == "per passing test $0.0013 (2 passed)"  # 0.0025 / 2, not 0.0069
        assert all(len(line) <= meter.content_size.width for line in lines[:2])
        meter.apply_event(cost(7, "m", 0.0010, 0.0079))  # the run goes on: back to run/step
        assert meter.restored is None
        assert meter.text().plain.splitlines()[0] == "run $0.0079  step $0.0010"
