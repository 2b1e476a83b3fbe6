"""The executor end to end on real temp repos, with a fake model behind the model interface."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from engine.errors import ModelError, UsageError
from engine.git.diffmodel import HunkRef
from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from tests.support.fake_model import FakeModel, say, tool
from tests.support.gitutil import git, init_repo, user_git_state

FLOW = str(Path(__file__).parent / "flows" / "every.yaml")
PY = f'"{sys.executable}" -m pytest -q -p no:cacheprovider'

CALC = "def add(a, b):\n    return a - b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
FIXED = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "proj", {"calc.py": CALC, "test_calc.py": TESTS})


def plan_then_tasks(fix_ok: bool = True) -> dict[str, list]:
    """Plan two tasks; task 1 writes a note, task 2 does nothing; fix repairs add()."""
    return {
        "plan": [say(tool("submit_plan", tasks=[{"title": "notes"}, {"title": "check"}]))],
        "implement": [
            say(tool("write_file", path="NOTES.md", content="notes\n")),
            say(tool("finish", summary="wrote notes")),
            say(tool("finish", summary="nothing to do")),
        ],
        "fix": [
            say(tool("edit_file", path="calc.py", old="a - b", new="a + b" if fix_ok else "a * b")),
            say(tool("finish", summary="fixed add")),
            say(tool("finish", summary="gave up")),
        ],
        "summary": [say(text="All done.")],
    }


def run(session: Session, run_id: str, model: FakeModel, *, plan_gate: bool = False):
    """Execute; review autonomy first shows the plan, approved here unless ``plan_gate``."""
    out = asyncio.run(Executor(session, run_id, model_factory=lambda s: model).execute())
    while not plan_gate and out.status == "paused" and out.gate.kind == "plan":
        ops.answer_gate(session, run_id, "approve")
        out = asyncio.run(Executor(session, run_id, model_factory=lambda s: model).execute())
    return out


def start(session: Session, autonomy: str = "full", **kw) -> str:
    return ops.create_run(
        session,
        FLOW,
        "make add correct",
        model="fake/model",
        autonomy=autonomy,
        settings={"test_command": PY},
        **kw,
    )


def test_every_construct_runs_pauses_at_gate_and_completes(project: Path):
    before = user_git_state(project)
    model = FakeModel(plan_then_tasks())
    with Session.open(project) as s:
        run_id = start(s)
        out = run(s, run_id, model)
        assert out.status == "paused" and out.gate.kind == "gate"
        steps = s.store.steps_for(run_id)
        nodes = [(x["node"], x.get("task_id"), x["status"]) for x in steps]
        assert nodes[:3] == [
            ("plan", None, "done"),
            ("implement", "t1", "done"),
            ("implement", "t2", "done"),
        ]
        assert [n for n, _, _ in nodes[3:]] == ["test", "fix", "test", "approve"]
        # the first test run failed, the loop fixed it, the second passed
        tests = [e for e in s.store.events_for(run_id) if e["type"] == "test_result"]
        assert [(t["passed"], t["failed"]) for t in tests] == [(0, 1), (1, 0)]
        assert (project / "calc.py").read_text() == FIXED
        assert (project / "NOTES.md").read_text() == "notes\n"
        ops.answer_gate(s, run_id, "approve")
        out = run(s, run_id, model)
        assert out.status == "completed"
        run_row = s.store.get_run(run_id)
        state = s.store.get_blob(
            s.store.get_checkpoint(run_row["head_checkpoint_id"])["state_hash"]
        )
        assert state["outputs"]["summary"] == "All done."
        assert state["outputs"]["implement"] == {
            "t1": {"summary": "wrote notes", "files": ["NOTES.md"]},
            "t2": {"summary": "nothing to do", "files": []},
        }
        assert [t["status"] for t in state["plan"]["tasks"]] == ["done", "done"]
        # every step left a checkpoint, and the cost ledger has every call
        assert all(x["checkpoint_id"] for x in s.store.steps_for(run_id) if x["status"] == "done")
        assert s.store.run_cost(run_id)["cost_usd"] == pytest.approx(0.001 * len(model.calls))
        assert s.store.integrity_check() == "ok"
    # the prompt template saw the task and the failing test id
    implement_prompts = [
        c["messages"][1]["content"] for c in model.calls if c["node"] == "implement"
    ]
    assert "Implement notes" in implement_prompts[0]
    fix_prompt = next(c for c in model.calls if c["node"] == "fix")["messages"][1]["content"]
    assert "test_calc.py::test_add" in fix_prompt
    after = user_git_state(project)
    assert after == before  # HEAD, index, branches, stash, config untouched


def test_loop_bound_takes_on_error_edge(project: Path):
    model = FakeModel(plan_then_tasks(fix_ok=False))
    model.script["fix"] = [
        say(tool("edit_file", path="calc.py", old="a - b", new="a * b")),
        say(tool("finish", summary="try 1")),
        say(tool("finish", summary="try 2")),
    ]
    with Session.open(project) as s:
        run_id = start(s)
        out = run(s, run_id, model)
        # fix ran twice (max_iterations: 2), then the bound sent the run to summary
        fixes = [x for x in s.store.steps_for(run_id) if x["node"] == "fix"]
        assert len(fixes) == 2
        assert out.status == "completed"
        cp = s.store.get_checkpoint(s.store.get_run(run_id)["head_checkpoint_id"])
        state = s.store.get_blob(cp["state_hash"])
        # ...and says why the run kept coming back: the condition that did not hold at
        # the node that sends it back, and that node's last test counts
        assert state["last_error"]["message"] == (
            "loop bound reached: fix ran 2 times (max_iterations); 'test' sent the run back"
            " to it because tests.failed == 0 and tests.errors == 0 did not hold"
            " (its last tests: 0 passed, 1 failed, 0 errors)"
        )


LOOP_FLOW = """\
name: loop
description: a reproduce loop whose check never holds
settings:
  test_command: "python -m pytest -q"
nodes:
  - id: baseline
    kind: run
    command: "{{ settings.test_command }}"
    tests: true
    next: reproduce
  - id: reproduce
    kind: agent
    max_iterations: 2
    prompt: "Reproduce: {{ goal }}"
    next: confirm
  - id: confirm
    kind: run
    command: "{{ settings.test_command }}"
    tests: true
    next:
      - when: "tests.failed > 0"
        to: end
      - to: reproduce
"""


def test_loop_bound_names_the_node_that_sent_the_run_back(tmp_path: Path):
    """Not the node that led into the loop (baseline), the one that looped (confirm)."""
    project = init_repo(tmp_path / "proj", {"calc.py": FIXED, "test_calc.py": TESTS})
    flow = tmp_path / "loop.yaml"
    flow.write_text(LOOP_FLOW)
    model = FakeModel({"reproduce": [say(tool("finish", summary="no"))] * 2})
    with Session.open(project) as s:
        run_id = ops.create_run(
            s, str(flow), "g", model="fake/model", autonomy="full", settings={"test_command": PY}
        )
        out = run(s, run_id, model)
        assert out.status == "failed"
        assert s.store.get_run(run_id)["error"] == (
            "loop bound reached: reproduce ran 2 times (max_iterations); 'confirm' sent the run"
            " back to it because tests.failed > 0 did not hold"
            " (its last tests: 1 passed, 0 failed, 0 errors)"
        )


def test_retries_make_sibling_attempts(project: Path):
    model = FakeModel(plan_then_tasks())
    model.fail_with["summary"] = [ModelError("boom", kind="server")]
    with Session.open(project) as s:
        run_id = start(s)
        run(s, run_id, model)
        ops.answer_gate(s, run_id, "approve")
        out = run(s, run_id, model)
        assert out.status == "completed"
        summaries = [x for x in s.store.steps_for(run_id) if x["node"] == "summary"]
        assert [(x["attempt"], x["status"]) for x in summaries] == [(1, "failed"), (2, "done")]
        assert summaries[1]["parent_step_id"] == summaries[0]["id"]


def test_review_autonomy_reject_reason_reaches_next_prompt(project: Path):
    model = FakeModel(plan_then_tasks())
    model.script["implement"].insert(
        2, say(tool("write_file", path="NOTES.md", content="better notes\n"))
    )
    model.script["implement"].insert(3, say(tool("finish", summary="wrote better notes")))
    with Session.open(project) as s:
        run_id = start(s, autonomy="review")
        out = run(s, run_id, model)
        assert out.status == "paused" and out.gate.kind == "review"
        assert (project / "NOTES.md").exists()
        ops.answer_gate(s, run_id, "reject", reason="use the word better")
        # the rejected edit is rolled back (and kept in a checkpoint)
        assert not (project / "NOTES.md").exists()
        out = run(s, run_id, model)
        assert out.status == "paused" and out.gate.kind == "review"
        assert (project / "NOTES.md").read_text() == "better notes\n"
        implement = [x for x in s.store.steps_for(run_id) if x["node"] == "implement"]
        assert [(x["attempt"], x["status"]) for x in implement] == [(1, "rejected"), (2, "done")]
    retry_prompt = [c for c in model.calls if c["node"] == "implement"][2]["messages"][1]["content"]
    assert "use the word better" in retry_prompt


def test_partial_hunk_approval_keeps_only_accepted_hunks(tmp_path: Path):
    lines = [f"line {i}\n" for i in range(1, 41)]
    repo = init_repo(
        tmp_path / "p", {"calc.py": CALC, "test_calc.py": TESTS, "big.txt": "".join(lines)}
    )
    edited = list(lines)
    edited[1] = "line 2 CHANGED\n"
    edited[35] = "line 36 CHANGED\n"
    model = FakeModel(plan_then_tasks())
    model.script["implement"][0] = say(tool("write_file", path="big.txt", content="".join(edited)))
    with Session.open(repo) as s:
        run_id = start(s, autonomy="review")
        out = run(s, run_id, model)
        assert out.gate.kind == "review"
        ops.answer_gate(s, run_id, "approve", hunks={HunkRef("big.txt", 1)})
        text = (repo / "big.txt").read_text()
        assert "line 36 CHANGED" in text and "line 2 CHANGED" not in text
        head = s.store.get_checkpoint(s.store.get_run(run_id)["head_checkpoint_id"])
        assert head["source"] == "review"


def test_user_edits_while_paused_become_an_edit_checkpoint(project: Path):
    model = FakeModel(plan_then_tasks())
    with Session.open(project) as s:
        run_id = start(s, autonomy="review")
        run(s, run_id, model)
        (project / "NOTES.md").write_text("notes, edited by me\n")
        ops.answer_gate(s, run_id, "approve", note="tweak")
        head = s.store.get_checkpoint(s.store.get_run(run_id)["head_checkpoint_id"])
        assert head["source"] == "edit"
        state = s.store.get_blob(head["state_hash"])
        assert state["user_edits"][-1] == {"files": ["NOTES.md"], "note": "tweak"}


def test_budget_stops_and_resume_with_higher_limit_continues(project: Path):
    model = FakeModel(plan_then_tasks())
    with Session.open(project) as s:
        run_id = start(s, limits={"max_cost_usd": 0.0025})
        out = run(s, run_id, model)
        assert out.status == "stopped" and "cost budget" in out.reason
        assert len(model.calls) == 2
        ops.update_limits(s, run_id, max_cost_usd=1.0)
        s.store.update_run(run_id, status="paused")
        out = run(s, run_id, model)
        assert out.status == "paused" and out.gate.kind == "gate"
        # the interrupted step was re-entered: its done call was replayed, not repeated
        assert len([c for c in model.calls if c["node"] == "implement"]) == 3


def test_max_steps_limit(project: Path):
    model = FakeModel(plan_then_tasks())
    with Session.open(project) as s:
        run_id = start(s, limits={"max_steps": 2})
        out = run(s, run_id, model)
        assert out.status == "stopped" and "step limit" in out.reason
        assert len([x for x in s.store.steps_for(run_id) if x["status"] == "done"]) == 2


def test_breakpoint_and_single_step(project: Path):
    model = FakeModel(plan_then_tasks())
    with Session.open(project) as s:
        run_id = start(s, breakpoints=["test"])
        out = run(s, run_id, model)
        assert out.gate.kind == "breakpoint" and out.gate.node == "test"
        ops.answer_gate(s, run_id, "approve")
        out = run(s, run_id, model)
        assert out.gate.kind == "breakpoint"  # test is reached again after fix
        ops.answer_gate(s, run_id, "approve")
        out = run(s, run_id, model)
        assert out.gate.kind == "gate"

    model = FakeModel(plan_then_tasks())
    with Session.open(project) as s:
        run_id = start(s, single_step=True)
        out = run(s, run_id, model)
        assert out.gate.kind == "breakpoint" and out.gate.node == "plan"
        ops.answer_gate(s, run_id, "approve")
        out = run(s, run_id, model)
        assert out.gate.node == "implement"


def test_rewind_undo_and_retry_with_instruction(project: Path):
    model = FakeModel(plan_then_tasks())
    with Session.open(project) as s:
        run_id = start(s)
        asked = run(s, run_id, model).gate
        assert asked is not None
        assert (project / "calc.py").read_text() == FIXED
        steps = s.store.steps_for(run_id)
        plan_cp = steps[0]["checkpoint_id"]
        result = ops.rewind(s, run_id, plan_cp)
        assert not (project / "NOTES.md").exists()
        assert (project / "calc.py").read_text() == CALC
        assert s.store.pending_gate(run_id) is None
        # undo the rewind: the question that was open is asked again, not skipped
        ops.rewind(s, run_id, result["undo_checkpoint"])
        assert (project / "calc.py").read_text() == FIXED
        assert (project / "NOTES.md").exists()
        again = s.store.pending_gate(run_id)
        assert again is not None and again["id"] != asked.id
        assert (again["kind"], again["node"], again["prompt"], again["step_id"]) == (
            asked.kind,
            asked.node,
            asked.prompt,
            asked.step_id,
        )
        assert again["checkpoint_id"] == result["undo_checkpoint"]
        assert s.store.get_run(run_id)["status"] == "paused"
        assert run(s, run_id, model).gate.id == again["id"]  # continuing waits for it
        ops.rewind(s, run_id, plan_cp)  # rewinding from the reopened gate again
        # retry from the plan checkpoint with an instruction: a sibling attempt of t1
        model.script["implement"] = [
            say(tool("write_file", path="NOTES.md", content="short\n")),
            say(tool("finish", summary="short notes")),
            say(tool("finish", summary="ok")),
        ]
        model.script["fix"] = plan_then_tasks()["fix"]
        ops.retry(s, plan_cp, instruction="keep notes short")
        out = run(s, run_id, model)
        assert out.status == "paused"
        assert (project / "NOTES.md").read_text() == "short\n"
        t1 = [
            x
            for x in s.store.steps_for(run_id)
            if x["node"] == "implement" and x["task_id"] == "t1"
        ]
        assert [x["attempt"] for x in t1] == [1, 2]
        assert t1[1]["parent_step_id"] == t1[0]["id"]
    last_impl = [c for c in model.calls if c["node"] == "implement"][-2]
    assert "keep notes short" in last_impl["messages"][1]["content"]


def test_command_outside_allowlist_opens_gate_then_runs_once(project: Path, tmp_path: Path):
    # Inside the repository: even approved commands run in the sandbox (repo writable only).
    marker = project / "ran.txt"
    cmd = "python3 -c \"open('ran.txt', 'a').write('ran\\n')\""
    model = FakeModel(plan_then_tasks())
    model.script["implement"][0] = say(tool("run_command", command=cmd))
    model.script["implement"].insert(1, say(tool("write_file", path="NOTES.md", content="n\n")))
    with Session.open(project) as s:
        run_id = start(s, autonomy="auto-edit")
        out = run(s, run_id, model)
        assert out.gate.kind == "command" and cmd in out.gate.prompt
        assert not marker.exists()
        ops.answer_gate(s, run_id, "approve")
        out = run(s, run_id, model)
        assert marker.read_text() == "ran\n"
        assert out.gate.kind == "gate"
        ops.answer_gate(s, run_id, "approve")
        out = run(s, run_id, model)
        # auto-edit: a final review of the whole change before completing
        assert out.gate.kind == "review"
        ops.answer_gate(s, run_id, "approve")
        out = run(s, run_id, model)
        assert out.status == "completed"
    assert marker.read_text() == "ran\n"


def test_user_stop_leaves_consistent_checkpoint(project: Path):
    model = FakeModel(plan_then_tasks())

    async def slow(messages):
        await asyncio.sleep(30)

    with Session.open(project) as s:
        run_id = start(s)

        async def go():
            ex = Executor(s, run_id, model_factory=lambda st: model)
            task = asyncio.create_task(ex.execute())
            while not any(x["node"] == "test" for x in s.store.steps_for(run_id)):
                await asyncio.sleep(0.05)
            task.cancel()
            return await task

        out = asyncio.run(go())
        assert out.status == "stopped"
        assert s.store.get_run(run_id)["status"] == "stopped"
        assert s.store.integrity_check() == "ok"
        cps = s.store.list_checkpoints(run_id)
        assert cps[-1]["source"] in ("stop", "step")
        git(project, "cat-file", "-e", cps[-1]["commit_sha"])


def test_partial_hunks_keep_the_persons_own_edits(tmp_path: Path):
    lines = [f"line {i}\n" for i in range(1, 41)]
    repo = init_repo(
        tmp_path / "p",
        {"calc.py": CALC, "test_calc.py": TESTS, "big.txt": "".join(lines), "other.txt": "x\n"},
    )
    edited = list(lines)
    edited[1] = "line 2 CHANGED\n"
    edited[35] = "line 36 CHANGED\n"
    model = FakeModel(plan_then_tasks())
    model.script["implement"][0] = say(
        tool("write_file", path="big.txt", content="".join(edited)),
        tool("write_file", path="other.txt", content="y\n"),
    )
    with Session.open(repo) as s:
        run_id = start(s, autonomy="review")
        out = run(s, run_id, model)
        assert out.gate.kind == "review"
        (repo / "other.txt").write_text("y, and my own line\n")  # the person's edit
        ops.answer_gate(
            s, run_id, "approve", hunks={HunkRef("big.txt", 1), HunkRef("other.txt", 0)}
        )
        assert (repo / "other.txt").read_text() == "y, and my own line\n"
        text = (repo / "big.txt").read_text()
        assert "line 36 CHANGED" in text and "line 2 CHANGED" not in text
        sources = [c["source"] for c in s.store.list_checkpoints(run_id)]
        # the person's edit, then the kept hunks (a review note may follow)
        assert sources[sources.index("edit") :][:2] == ["edit", "review"]


def _big_txt_run(tmp_path: Path, changes: dict[int, str]):
    """A repo with a 40-line big.txt; the model's implement step changes these lines."""
    lines = [f"line {i}\n" for i in range(1, 41)]
    repo = init_repo(
        tmp_path / "p", {"calc.py": CALC, "test_calc.py": TESTS, "big.txt": "".join(lines)}
    )
    edited = [changes.get(i, line) for i, line in enumerate(lines)]
    model = FakeModel(plan_then_tasks())
    model.script["implement"][0] = say(tool("write_file", path="big.txt", content="".join(edited)))
    return repo, model, edited


def test_persons_edit_beside_a_kept_hunk_stays_when_another_hunk_is_dropped(tmp_path: Path):
    repo, model, edited = _big_txt_run(tmp_path, {1: "line 2 CHANGED\n", 35: "line 36 CHANGED\n"})
    with Session.open(repo) as s:
        run_id = start(s, autonomy="review")
        run(s, run_id, model)
        (repo / "big.txt").write_text("".join(edited) + "my line\n")
        # the review diff now has the line-2 hunk and line 36 + my line as one hunk
        ops.answer_gate(s, run_id, "approve", hunks={HunkRef("big.txt", 1)})
        text = (repo / "big.txt").read_text()
        assert "line 2 CHANGED" not in text
        assert text.endswith("line 36 CHANGED\nline 37\nline 38\nline 39\nline 40\nmy line\n")


def test_hunks_are_found_by_content_not_by_index(tmp_path: Path):
    """The TUI's review diff has the person's edit as an extra hunk: keys still match."""
    repo, model, edited = _big_txt_run(tmp_path, {35: "line 36 CHANGED\n"})
    with Session.open(repo) as s:
        run_id = start(s, autonomy="review")
        run(s, run_id, model)
        gate = s.store.pending_gate(run_id)
        step = s.checkpoints.diff(gate["payload"]["base_checkpoint_id"], gate["checkpoint_id"])
        models_hunk = step.refs()  # one hunk, index 0 in the step's own diff
        mine = list(edited)
        mine[1] = "line 2 MINE\n"
        (repo / "big.txt").write_text("".join(mine))
        live = ops.review_diff(s, run_id)
        assert [r.index for r in live.refs()] == [0, 1]  # index 0 is now the person's edit
        ops.answer_gate(s, run_id, "approve", reject_hunks=set(models_hunk))
        mine[35] = "line 36\n"
        assert (repo / "big.txt").read_text() == "".join(mine)
        answer = s.store.last_gate(run_id)
        assert answer["status"] != "open"


def test_a_hunk_that_changed_since_it_was_shown_is_refused(tmp_path: Path):
    repo, model, edited = _big_txt_run(tmp_path, {35: "line 36 CHANGED\n"})
    with Session.open(repo) as s:
        run_id = start(s, autonomy="review")
        run(s, run_id, model)
        shown = ops.review_diff(s, run_id).refs()
        edited[35] = "line 36 CHANGED AGAIN\n"
        (repo / "big.txt").write_text("".join(edited))
        with pytest.raises(UsageError, match="not in the review diff as it is now"):
            ops.answer_gate(s, run_id, "approve", reject_hunks=set(shown))
        assert (repo / "big.txt").read_text() == "".join(edited)  # nothing lost
        assert s.store.pending_gate(run_id) is not None  # still waiting


def test_foreach_concurrency_limit_for_read_only_nodes(project: Path):
    in_flight = {"now": 0, "max": 0}

    class SlowModel(FakeModel):
        async def complete(self, messages, **kw):
            if (kw.get("metadata") or {}).get("node") == "review":
                in_flight["now"] += 1
                in_flight["max"] = max(in_flight["max"], in_flight["now"])
                await asyncio.sleep(0.2)
                in_flight["now"] -= 1
            return await super().complete(messages, **kw)

    tasks = [{"title": f"task {i}"} for i in range(1, 6)]
    model = SlowModel(
        {
            "plan": [say(tool("submit_plan", tasks=tasks))],
            "review": [say(text=f"ok {i}") for i in range(1, 6)],
        }
    )
    flow = str(Path(__file__).parent / "flows" / "fanout.yaml")
    with Session.open(project) as s:
        run_id = ops.create_run(s, flow, "fan out", model="fake/model", autonomy="full")
        out = run(s, run_id, model)
        assert out.status == "completed"
        assert in_flight["max"] == 3  # never more than the limit, and really concurrent
        steps = [x for x in s.store.steps_for(run_id) if x["node"] == "review"]
        assert [x["task_id"] for x in steps] == ["t1", "t2", "t3", "t4", "t5"]
        assert all(x["status"] == "done" and x["checkpoint_id"] for x in steps)
        head = s.store.get_checkpoint(s.store.get_run(run_id)["head_checkpoint_id"])
        outputs = s.store.get_blob(head["state_hash"])["outputs"]["review"]
        assert sorted(outputs.values()) == [f"ok {i}" for i in range(1, 6)]


def test_user_policy_allows_a_command_but_a_project_file_cannot(project: Path):
    cmd = "touch MADE_BY_COMMAND"
    user_config = Path(os.environ["XDG_CONFIG_HOME"]) / "llmflows-tui" / "config.toml"
    user_config.parent.mkdir(parents=True, exist_ok=True)
    user_config.write_text('[policy]\nallow = ["touch *"]\n')
    model = FakeModel(plan_then_tasks())
    model.script["implement"][0] = say(tool("run_command", command=cmd))
    model.script["implement"].insert(1, say(tool("write_file", path="NOTES.md", content="n\n")))
    with Session.open(project) as s:
        run_id = start(s, autonomy="auto-edit")
        out = run(s, run_id, model)
        assert out.gate.kind == "gate"  # no command gate: the user allows it
        assert (project / "MADE_BY_COMMAND").exists()
    # the same allow in the (cloned, maybe hostile) project file widens nothing
    user_config.unlink()
    (project / "MADE_BY_COMMAND").unlink()
    (project / ".llmflows").mkdir(exist_ok=True)
    (project / ".llmflows" / "config.toml").write_text(
        '[policy]\nallow = ["touch *", "re:.*"]\ndefaults = false\n'
    )
    model = FakeModel(plan_then_tasks())
    model.script["implement"][0] = say(tool("run_command", command=cmd))
    with Session.open(project) as s:
        run_id = start(s, autonomy="auto-edit")
        assert run(s, run_id, model).gate.kind == "command"
        assert not (project / "MADE_BY_COMMAND").exists()


def test_node_timeout_fails_the_attempt_and_retries(project: Path, tmp_path: Path):
    flow = tmp_path / "slow.yaml"
    flow.write_text(
        "name: slow\ndescription: a step that times out\nnodes:\n"
        "  - id: think\n    kind: llm\n    prompt: think\n    timeout: 0.3\n    retries: 1\n"
        "    next: end\n"
    )

    class SlowOnce(FakeModel):
        slept = False

        async def complete(self, messages, **kw):
            if not SlowOnce.slept:
                SlowOnce.slept = True
                await asyncio.sleep(5)
            return await super().complete(messages, **kw)

    model = SlowOnce({"think": [say(text="fast now")]})
    with Session.open(project) as s:
        run_id = ops.create_run(s, str(flow), "think", model="fake/model", autonomy="full")
        out = run(s, run_id, model)
        assert out.status == "completed"
        steps = s.store.steps_for(run_id)
        assert [(x["attempt"], x["status"]) for x in steps] == [(1, "failed"), (2, "done")]
        assert "timed out" in steps[0]["error"]


def test_max_tokens_limit_stops_before_the_call(project: Path):
    model = FakeModel(plan_then_tasks())
    with Session.open(project) as s:
        run_id = start(s, limits={"max_tokens": 1500})
        out = run(s, run_id, model)
        assert out.status == "stopped" and "token budget" in out.reason
        assert s.store.get_run(run_id)["status"] == "stopped"


def test_review_autonomy_shows_the_plan_before_any_edit(project: Path):
    script = plan_then_tasks()
    script["plan"].append(
        say(tool("submit_plan", tasks=[{"title": "notes first"}, {"title": "check"}]))
    )
    model = FakeModel(script)
    with Session.open(project) as s:
        run_id = start(s, autonomy="review")
        out = run(s, run_id, model, plan_gate=True)
        assert out.status == "paused" and out.gate.kind == "plan"
        assert "1. notes" in out.gate.prompt and "2. check" in out.gate.prompt
        assert not (project / "NOTES.md").exists()  # nothing edited yet
        ops.answer_gate(s, run_id, "reject", reason="start with the notes")
        out = run(s, run_id, model, plan_gate=True)
        assert out.gate.kind == "plan" and "1. notes first" in out.gate.prompt
        ops.answer_gate(s, run_id, "approve")
        out = run(s, run_id, model, plan_gate=True)
        assert out.gate.kind == "review" and out.gate.node == "implement"
    replan = [c for c in model.calls if c["node"] == "plan"][1]["messages"][1]["content"]
    assert "start with the notes" in replan
