"""A session: one repository's store, snapshotter, checkpoint service and event bus."""

from __future__ import annotations

import os
from pathlib import Path

from .bus import EventBus
from .gitrepo import find_repo_root


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
        from .checkpoints import CheckpointService
        from .snapshots import Snapshotter
        from .store import RunStore

        root = find_repo_root(cwd)
        store = RunStore.open(root, write=write)
        try:
            snap = Snapshotter(root)
            service = CheckpointService(root, store, snap)
        except BaseException:
            store.close()
            raise
        return cls(root, store, snap, service, EventBus(store if write else None))

    def close(self) -> None:
        try:
            self.snapshotter.close()
        finally:
            self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
