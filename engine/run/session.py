"""A session: one repository's store, snapshotter, checkpoint service and event bus."""

from __future__ import annotations

import os
from pathlib import Path

from engine.git.repo import find_repo_root
from engine.run.bus import EventBus


class Session:
    """Everything the engine needs for one repository, opened and closed together."""

    def __init__(self, repo_root: Path, store, snapshotter, checkpoints, bus: EventBus):
        self.repo_root = repo_root
        self.store = store
        self.snapshotter = snapshotter
        self.checkpoints = checkpoints
        self.bus = bus

    @classmethod
    def open(cls, cwd: str | os.PathLike[str] = ".", *, write: bool = True) -> Session:
        from engine.git.checkpoints import CheckpointService
        from engine.git.snapshots import Snapshotter
        from engine.store import RunStore

        root = find_repo_root(cwd)
        store = RunStore.open(root, write=write)
        try:
            snap = Snapshotter(root)
            service = CheckpointService(root, store, snap)
        except BaseException:
            store.close()
            raise
        session = cls(root, store, snap, service, EventBus(store if write else None))
        if write:
            session.mark_crashed_runs()
        return session

    def mark_crashed_runs(self) -> list[str]:
        """Runs left 'running' by a dead process are 'crashed' (we hold the writer lock)."""
        from engine.events import RunStatusChanged
        from engine.records import RunStatus

        crashed = [r["id"] for r in self.store.list_runs() if r["status"] == "running"]
        for run_id in crashed:
            self.store.update_run(run_id, status="crashed", error="the process running it died")
            self.bus.emit(
                RunStatusChanged(run_id=run_id, status=RunStatus.CRASHED, reason="the process died")
            )
        return crashed

    def close(self) -> None:
        try:
            self.snapshotter.close()
        finally:
            self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
