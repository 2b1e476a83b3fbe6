"""EngineAPI, the facade the TUI holds: typed reads, operations announced by events."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.api import EngineAPI
from engine.events import Event, RunStatusChanged
from engine.readmodels import RunSummary
from engine.records import RunRecord, RunStatus
from engine.run import operations as ops
from engine.run.session import Session
from tests.support.gitutil import init_repo

FLOW = """\
name: one
description: one gate
nodes:
  - id: ok
    kind: gate
    prompt: "Ship it?"
    next: end
"""


def test_resume_of_a_stopped_run_reopens_it_through_an_announced_operation(tmp_path: Path):
    repo = init_repo(tmp_path / "repo", {"a.txt": "a\n"})
    flow = tmp_path / "one.yaml"
    flow.write_text(FLOW)
    with Session.open(repo) as s:
        run_id = ops.create_run(s, str(flow), "go", model="fake/model", autonomy="full")
        s.store.update_run(run_id, status="stopped")

    async def scenario() -> tuple[list[Event], list[RunSummary], RunRecord, object]:
        seen: list[Event] = []
        api = EngineAPI(repo)
        api.subscribe(seen.append)
        try:
            await api.open()
            gate = await api.resume(run_id)
            summaries = await api.run_summaries()
            view = await api.run_view(run_id)
            return seen, summaries, view.run, gate
        finally:
            await api.close()

    seen, summaries, run, gate = asyncio.run(scenario())
    assert gate is None  # no gate yet: the screen executes the run
    changes = [e for e in seen if isinstance(e, RunStatusChanged) and e.run_id == run_id]
    assert [e.status for e in changes] == [RunStatus.PAUSED]
    assert [(r.id, r.status) for r in summaries] == [(run_id, RunStatus.PAUSED)]
    assert isinstance(run, RunRecord) and run.status == "paused" and run.flow == "one"
