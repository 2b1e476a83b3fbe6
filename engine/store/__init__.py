"""The run store: SQLite (via sqlite-utils) at ``.llmflows/history.db``.

See :class:`RunStore`. Schema and migrations live in ``schema.py``, the
single-writer lock in ``lock.py``.
"""

from __future__ import annotations

from engine.store.lock import WriterLock
from engine.store.runstore import (
    CHECKPOINT_SOURCES,
    DB_NAME,
    STORE_DIR,
    RunStore,
    blob_hash,
    canonical_json,
    ensure_excluded,
    store_dir,
)
from engine.store.schema import MIGRATIONS, current_version, migrate

__all__ = [
    "CHECKPOINT_SOURCES",
    "DB_NAME",
    "MIGRATIONS",
    "STORE_DIR",
    "RunStore",
    "WriterLock",
    "blob_hash",
    "canonical_json",
    "current_version",
    "ensure_excluded",
    "migrate",
    "store_dir",
]
