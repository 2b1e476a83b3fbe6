"""RunController: the engine's thread-safe front for interactive front ends.

Front ends use :class:`engine.api.EngineAPI`, which wraps this class with
typed methods. All engine work (SQLite, git, model calls, tests) happens on one background
thread running its own asyncio loop, so a UI thread never blocks on it. Every
method returns a ``concurrent.futures.Future``; events arrive through
``subscribe`` callbacks, called on the engine thread (a UI must hop back to
its own thread, e.g. Textual's ``post_message``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.events import Event
    from engine.run.session import Session


class RunController:
    """Owns the engine thread, the session and the currently executing run."""

    def __init__(self, cwd: str | os.PathLike[str] = ".", *, model_factory=None):
        self.cwd = cwd
        self.session: Session | None = None
        self._model_factory = model_factory
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="llmflows-engine", daemon=True
        )
        self._task: asyncio.Task | None = None
        # The executing run, set on the *calling* thread when execute() is called, so
        # `busy`, a second execute() and stop() see it before the engine thread starts it.
        self._exec_lock = threading.Lock()
        self._exec: tuple[str, concurrent.futures.Future] | None = None
        self._stop_requested = False
        self._subs: list[Callable[[Event], None]] = []
        self._thread.start()

    # -- plumbing ------------------------------------------------------------
    def call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> concurrent.futures.Future:
        """Run ``fn(*args, **kw)`` on the engine thread."""

        async def run() -> Any:
            return fn(*args, **kw)

        return asyncio.run_coroutine_threadsafe(run(), self._loop)

    def open(self, write: bool = True) -> concurrent.futures.Future:
        """Open the repository's session (raises NotAGitRepoError, StoreLockedError)."""

        def do() -> Any:
            from engine.run.session import Session

            self.session = Session.open(self.cwd, write=write)
            for fn in self._subs:
                self.session.bus.subscribe(fn)
            return self.session.repo_root

        return self.call(do)

    def subscribe(self, fn: Callable[[Event], None]) -> None:
        self._subs.append(fn)
        if self.session is not None:
            self.session.bus.subscribe(fn)

    @property
    def busy(self) -> bool:
        with self._exec_lock:
            return self._exec is not None and not self._exec[1].done()

    # -- runs ----------------------------------------------------------------
    def execute(self, run_id: str) -> concurrent.futures.Future:
        """Continue ``run_id`` from its head until it completes, fails, stops or pauses.

        One run executes at a time: calling this again for the same run while it
        executes returns the same future; for another run it raises UsageError.
        """
        from engine.errors import UsageError
        from engine.run.executor import Executor

        async def run() -> Any:
            task = self._task = asyncio.current_task()
            try:
                if self._stop_requested and task is not None:  # stop() came first
                    task.cancel()
                executor = Executor(self.session, run_id, model_factory=self._model_factory)
                return await executor.execute()
            finally:
                self._task = None

        with self._exec_lock:
            if self._exec is not None and not self._exec[1].done():
                if self._exec[0] == run_id:
                    return self._exec[1]
                raise UsageError(f"run {self._exec[0]} is executing: stop it first")
            self._stop_requested = False
            fut = asyncio.run_coroutine_threadsafe(run(), self._loop)
            self._exec = (run_id, fut)
            return fut

    def stop(self) -> None:
        """Cancel the executing run; it ends 'stopped' with a consistent checkpoint."""
        with self._exec_lock:
            if self._exec is None or self._exec[1].done():
                return
            self._stop_requested = True

        def cancel() -> None:
            if self._task is not None:
                self._task.cancel()

        self._loop.call_soon_threadsafe(cancel)

    def close(self) -> None:
        self.stop()

        async def settle() -> None:
            # The cancelled run records its stop (status, checkpoint) before the store
            # closes under it. Awaited here, on the loop: the caller's future may
            # already read "cancelled" while the run is still handling the cancel.
            task = self._task
            if task is not None:
                await asyncio.wait([task], timeout=10)

        try:
            asyncio.run_coroutine_threadsafe(settle(), self._loop).result(timeout=15)
        except Exception as e:  # closing must not raise into the UI's exit path
            logging.getLogger(__name__).warning("the run did not stop in time: %s", e)

        def shutdown() -> None:
            if self.session is not None:
                self.session.close()
                self.session = None

        try:
            self.call(shutdown).result(timeout=10)
        except Exception as e:  # closing must not raise into the UI's exit path
            logging.getLogger(__name__).warning("closing the run store failed: %s", e)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
