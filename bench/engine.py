"""Engine overhead per step: bookkeeping vs git snapshot vs SQLite, and DB growth.

Usage: python bench/engine.py [--steps N] [--json]

Runs a one-node flow that loops N times (default 500) with an instant fake
model in a small temp repo. Every step takes a real checkpoint (git snapshot
+ SQLite rows), exactly as in a real run. Time is split by wrapping the
git subprocess calls (snapshot, refs, diff-tree) and the run store's public methods (SQLite, outermost call
only); "bookkeeping" is what is left of the step's wall time (executor,
journal, state, events, model stub). DB size is measured after a WAL
checkpoint, at N/2 and N steps in the same run, so growth per step can be
seen to be linear; "beyond events" subtracts the events' own JSON.

Targets: bookkeeping <= 2 ms/step; DB growth linear, <= 2 KB/step beyond events.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.run import operations as ops  # noqa: E402
from engine.run.executor import Executor  # noqa: E402
from engine.run.session import Session  # noqa: E402
from engine.store import RunStore  # noqa: E402


class InstantModel:
    """Answers every call at once with a fixed text (no litellm, no network)."""

    class settings:  # noqa: N801 - mimics ModelSettings' attribute
        model = "bench/instant"

    def estimate_cost(self, *a, **k) -> float:
        return 0.0

    async def complete(self, messages, *, tools=None, on_delta=None, metadata=None):
        from engine.models import ModelResponse

        return ModelResponse(
            text="ok",
            tool_calls=[],
            finish_reason="stop",
            model="bench/instant",
            tokens_in=10,
            tokens_out=1,
            tokens_cached=0,
            cost_usd=0.0,
            latency_s=0.0,
        )


class Timers:
    def __init__(self) -> None:
        self.git = 0.0
        self.sqlite = 0.0
        self._depth = 0

    def wrap_store(self) -> None:
        for name in dir(RunStore):
            if name.startswith("_") or name in ("open", "close", "db", "path", "dir"):
                continue
            attr = getattr(RunStore, name)
            if not callable(attr) or isinstance(attr, property):
                continue
            setattr(RunStore, name, self._timed(attr))

    def _timed(self, fn):
        timers = self
        if name_is_cm(fn):
            import contextlib

            @contextlib.contextmanager
            def cm(*a, **k):
                t0 = time.perf_counter()
                timers._depth += 1
                try:
                    with fn(*a, **k) as v:
                        yield v
                finally:
                    timers._depth -= 1
                    if timers._depth == 0:
                        timers.sqlite += time.perf_counter() - t0

            return cm

        @functools.wraps(fn)
        def wrapper(*a, **k):
            if timers._depth:
                return fn(*a, **k)
            timers._depth += 1
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timers._depth -= 1
                timers.sqlite += time.perf_counter() - t0

        return wrapper

    def wrap_git(self) -> None:
        """Count every git subprocess (snapshot, refs, diff-tree) as git time."""
        import subprocess

        orig = subprocess.run
        timers = self

        @functools.wraps(orig)
        def run(cmd, *a, **k):
            if not (isinstance(cmd, list) and cmd and cmd[0] == "git"):
                return orig(cmd, *a, **k)
            t0 = time.perf_counter()
            try:
                return orig(cmd, *a, **k)
            finally:
                timers.git += time.perf_counter() - t0

        subprocess.run = run  # type: ignore[assignment]


def name_is_cm(fn) -> bool:
    return getattr(fn, "__name__", "") == "transaction"


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    (repo / "src").mkdir(parents=True)
    for i in range(50):
        (repo / "src" / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@b",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@b",
    }
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    return repo


def flow_file(root: Path, steps: int) -> Path:
    path = root / "loop.yaml"
    path.write_text(
        "name: loop\ndescription: N trivial steps\nnodes:\n"
        "  - id: tick\n    kind: llm\n    prompt: tick\n"
        f"    max_iterations: {steps}\n"
        "    next:\n"
        f'      - when: "state.iterations.tick < {steps}"\n        to: tick\n'
        "      - to: end\n"
    )
    return path


def db_bytes(store) -> tuple[int, int]:
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = store.path.stat().st_size
    events = store.db.execute("SELECT coalesce(sum(length(data)), 0) FROM events").fetchone()[0]
    return size, int(events)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = args.steps
    half = n // 2

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = make_repo(root)
        timers = Timers()
        timers.wrap_store()
        timers.wrap_git()
        model = InstantModel()
        samples: list[tuple[float, float, float]] = []  # per step: wall, git, sqlite
        with Session.open(repo) as session:
            last = [time.perf_counter(), 0.0, 0.0]

            def on_event(ev) -> None:
                if ev.type == "step_started":
                    last[:] = [time.perf_counter(), timers.git, timers.sqlite]
                elif ev.type == "step_finished":
                    now = time.perf_counter()
                    samples.append((now - last[0], timers.git - last[1], timers.sqlite - last[2]))

            session.bus.subscribe(on_event)
            base_size, base_events = db_bytes(session.store)
            sizes = []
            for count in (half, n - half):  # two runs in one store: growth must stay linear
                run_id = ops.create_run(
                    session,
                    str(flow_file(root, count)),
                    "bench",
                    model="bench/instant",
                    autonomy="full",
                )
                outcome = asyncio.run(
                    Executor(session, run_id, model_factory=lambda s: model).execute()
                )
                assert outcome.status == "completed", outcome
                sizes.append(db_bytes(session.store))

    (size_half, events_half), (size_full, events_full) = sizes
    wall = statistics.median(w for w, _, _ in samples)
    git_t = statistics.median(g for _, g, _ in samples)
    sql_t = statistics.median(q for _, _, q in samples)
    book = statistics.median(w - g - q for w, g, q in samples)
    growth_first = (size_half - base_size - (events_half - base_events)) / half
    growth_second = (size_full - size_half - (events_full - events_half)) / (n - half)
    total_per_step = (size_full - base_size) / n

    print(
        f"steps: {len(samples)} (two runs of {half} and {n - half} in one store), "
        "repo of 51 files; medians per step"
    )
    print(f"wall per step:        {1000 * wall:7.2f} ms")
    print(f"  git (snapshot etc): {1000 * git_t:7.2f} ms")
    print(f"  SQLite:             {1000 * sql_t:7.2f} ms")
    print(f"  bookkeeping (rest): {1000 * book:7.2f} ms   (target <= 2 ms)")
    print(
        f"DB growth per step beyond events: first run {growth_first:.0f} B, "
        f"second run {growth_second:.0f} B   (target <= 2048 B, linear)"
    )
    print(f"DB growth per step including events: {total_per_step:.0f} B")
    result = {
        "steps": len(samples),
        "wall_ms_per_step": round(1000 * wall, 3),
        "git_ms_per_step": round(1000 * git_t, 3),
        "sqlite_ms_per_step": round(1000 * sql_t, 3),
        "bookkeeping_ms_per_step": round(1000 * book, 3),
        "db_bytes_per_step_beyond_events_first_run": round(growth_first),
        "db_bytes_per_step_beyond_events_second_run": round(growth_second),
        "db_bytes_per_step_total": round(total_per_step),
    }
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
