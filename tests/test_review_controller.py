"""Review finding: RunController calls from another thread (the TUI) must not race."""

from __future__ import annotations

import threading
from pathlib import Path

from engine.controller import RunController
from engine.run import operations as ops
from tests.support.fake_model import FakeModel
from tests.test_review_engine import ONE_EDIT, _flow, _one_edit_model, _repo


def _blocked_controller(repo: Path, model: FakeModel) -> tuple[RunController, threading.Event]:
    """A controller whose engine thread is busy until the returned event is set."""
    ctl = RunController(repo, model_factory=lambda s: model)
    ctl.open().result(timeout=30)
    release = threading.Event()
    ctl.call(release.wait, 30)
    return ctl, release


def test_controller_execute_twice_runs_the_run_once(tmp_path: Path):
    repo = _repo(tmp_path)
    model = _one_edit_model()
    ctl, release = _blocked_controller(repo, model)
    try:
        run_id = None

        def create(session):
            return ops.create_run(
                session, _flow(tmp_path, ONE_EDIT), "write a", model="fake/model", autonomy="full"
            )

        release.set()
        run_id = ctl.call(lambda: create(ctl.session)).result(timeout=30)
        release.clear()
        ctl.call(release.wait, 30)
        # e.g. a double key press: two continues before the engine thread picks either up
        f1 = ctl.execute(run_id)
        f2 = ctl.execute(run_id)
        assert ctl.busy
        release.set()
        out1, out2 = f1.result(timeout=30), f2.result(timeout=30)
        assert out1.status == "completed" and out2.status == "completed"
        steps = ctl.call(lambda: ctl.session.store.steps_for(run_id)).result(timeout=30)
        assert [x["node"] for x in steps] == ["edit", "summary"]
        assert len(model.calls) == 3
    finally:
        release.set()
        ctl.close()


def test_controller_stop_right_after_execute_stops_the_run(tmp_path: Path):
    repo = _repo(tmp_path)
    model = _one_edit_model()
    ctl, release = _blocked_controller(repo, model)
    try:
        release.set()
        run_id = ctl.call(
            lambda: ops.create_run(
                ctl.session,
                _flow(tmp_path, ONE_EDIT),
                "write a",
                model="fake/model",
                autonomy="full",
            )
        ).result(timeout=30)
        release.clear()
        ctl.call(release.wait, 30)
        fut = ctl.execute(run_id)
        ctl.stop()  # before the engine thread has started the run
        release.set()
        out = fut.result(timeout=30)
        assert out.status == "stopped"
        assert not ctl.busy
        assert model.calls == []
    finally:
        release.set()
        ctl.close()
