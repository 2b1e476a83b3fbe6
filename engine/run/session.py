"""A session: one repository's store, snapshotter, checkpoint service and event bus."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.git.repo import find_repo_root
from engine.run.bus import EventBus


class Session:
    """Everything the engine needs for one repository, opened and closed together.

    The snapshotter and checkpoint service (git helper processes, a temp directory)
    are made on first use: the start screen and the read-only views never need them.
    """

    def __init__(self, repo_root: Path, store, snapshotter, checkpoints, bus: EventBus):
        self.repo_root = repo_root
        self.store = store
        self._snapshotter = snapshotter
        self._checkpoints = checkpoints
        self.bus = bus

    @property
    def snapshotter(self) -> Any:
        """The repository's Snapshotter (made on first use)."""
        if self._snapshotter is None:
            from engine.git.snapshots import Snapshotter

            self._snapshotter = Snapshotter(self.repo_root)
        return self._snapshotter

    @property
    def checkpoints(self) -> Any:
        """The repository's CheckpointService (made on first use)."""
        if self._checkpoints is None:
            from engine.git.checkpoints import CheckpointService

            self._checkpoints = CheckpointService(self.repo_root, self.store, self.snapshotter)
        return self._checkpoints

    @classmethod
    def open(cls, cwd: str | os.PathLike[str] = ".", *, write: bool = True) -> Session:
        from engine.store import RunStore

        root = find_repo_root(cwd)
        store = RunStore.open(root, write=write)
        session = cls(root, store, None, None, EventBus(store if write else None))
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
            if self._snapshotter is not None:
                self._snapshotter.close()
        finally:
            self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
