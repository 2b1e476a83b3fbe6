"""Benchmark: the TUI's startup, big-diff open, page-down and key latency under token load.

Usage: python bench/tui.py [--json] [--runs N]

Figures (each compared with a baseline measured in the same run):

* ``startup_ms``: process start → first painted frame of ``llmflows-tui -C REPO``
  (real subprocess on a pty; the app writes a timestamp after its first refresh
  when ``LLMFLOWS_TUI_FIRST_PAINT`` is set). Baseline ``hello_startup_ms``: a bare
  Textual hello-world measured the same way. ``startup_ratio`` target <= 2.
* ``open_20k_ms``: in the real app at a review gate, showing a 20,000-line diff
  (``MainScreen._set_diff``: DiffView + FileList) and one full compositor pass.
* ``pagedown_ms``: page-down in that diff + a full compositor pass (median).
* ``key_ms`` / ``key_streaming_ms``: a ``j``/``k`` key posted to the app until the
  action ran plus one full compositor pass (the frame), while idle and while token events stream in from another
  thread at ~``--rate`` per second. The ratio shows what streaming costs a key.

The last line with ``--json`` is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HELLO = """
import os, time
from pathlib import Path
from textual.app import App
from textual.widgets import Static
class Hello(App):
    def compose(self):
        yield Static("hello")
    def on_mount(self):
        self.call_after_refresh(
            lambda: Path(os.environ["LLMFLOWS_TUI_FIRST_PAINT"]).write_text(f"{time.time()}\\n"))
Hello().run()
"""


def first_paint_ms(argv: list[str], cwd: Path, timeout: float = 30.0) -> float:
    """Start ``argv`` on a pty; ms until it writes its first-paint timestamp."""
    marker = Path(tempfile.mkstemp(prefix="paint-")[1])
    marker.unlink()
    master, slave = pty.openpty()
    env = {**os.environ, "LLMFLOWS_TUI_FIRST_PAINT": str(marker), "TERM": "xterm-256color"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(COLUMNS="120", LINES="36")
    stop = threading.Event()

    def drain() -> None:  # the app blocks if nobody reads its output
        while not stop.is_set():
            try:
                if not os.read(master, 65536):
                    break
            except OSError:
                break

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    t0 = time.time()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
    )
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if marker.exists() and marker.read_text().strip():
                return (float(marker.read_text()) - t0) * 1000
            time.sleep(0.005)
        raise RuntimeError(f"no first paint from {argv}")
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        stop.set()
        os.close(slave)
        os.close(master)
        marker.unlink(missing_ok=True)


def startup(runs: int) -> dict:
    from tests.test_tui_app import make_repo

    tmp = Path(tempfile.mkdtemp(prefix="bench-tui-"))
    repo, _ = make_repo(tmp, [])
    app_ms, hello_ms = [], []
    for _ in range(runs):  # interleaved so machine noise hits both alike
        # cwd=repo, no args: tui.entry routes `-C DIR` to the headless CLI (DIR looks like a verb)
        app_ms.append(first_paint_ms([sys.executable, "-m", "tui.entry"], repo))
        hello_ms.append(first_paint_ms([sys.executable, "-c", HELLO], ROOT))
    a, h = statistics.median(app_ms), statistics.median(hello_ms)
    return {"startup_ms": a, "hello_startup_ms": h, "startup_ratio": a / h}


async def in_app(rate: int, presses: int) -> dict:
    from bench.diffview import build_diff
    from engine.events import TokenDelta
    from tests.test_tui_app import CHANGED, _edit_entries, at_gate, main_screen, make_repo, wait_for
    from tui.app import LlmflowsApp
    from tui.messages import EngineEvent

    tmp = Path(tempfile.mkdtemp(prefix="bench-tui-"))
    repo, model = make_repo(tmp, _edit_entries(CHANGED))
    app = LlmflowsApp(str(repo), model=model, autostart={"flow": "tiny", "goal": "change data.txt"})
    out: dict = {}
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: at_gate(app), 60)
        screen = main_screen(app)
        dv = screen.diff_view
        dv.focus()
        compositor = app.screen._compositor  # private: the pass before a terminal write

        opens = []
        for seed in (1, 2, 3):
            big = build_diff(20000, seed=seed)
            await pilot.pause()
            t0 = time.perf_counter()
            screen._set_diff(big, (1, None), False)
            compositor.render_full_update()
            opens.append((time.perf_counter() - t0) * 1000)
        out["open_20k_ms"] = statistics.median(opens)
        out["open_20k_rows"] = dv.row_count
        await pilot.pause()

        pds = []
        for _ in range(presses):
            t0 = time.perf_counter()
            dv.action_page_down()
            compositor.render_full_update()
            pds.append((time.perf_counter() - t0) * 1000)
        out["pagedown_ms"] = statistics.median(pds)
        out["pagedown_p95_ms"] = statistics.quantiles(pds, n=20)[18]

        async def keys() -> float:
            # Key posted to the app → the action has moved the current hunk → one
            # compositor pass (the frame). pilot.press would also wait for the app to
            # go idle, which never happens while events stream in.
            times = []
            for i in range(presses):
                before = dv.current_hunk()
                t0 = time.perf_counter()
                app.simulate_key("j" if i % 2 == 0 else "k")
                while dv.current_hunk() == before:
                    await asyncio.sleep(0)
                compositor.render_full_update()
                times.append((time.perf_counter() - t0) * 1000)
                await asyncio.sleep(0.01)
            return statistics.median(times)

        out["key_ms"] = await keys()
        stop = threading.Event()
        sent = [0]
        run_id = screen.run_id

        def stream() -> None:  # the engine thread's role: post events from another thread
            period = 1.0 / rate
            while not stop.is_set():
                app.post_message(EngineEvent(TokenDelta(run_id=run_id, step_id=1, text="tok ")))
                sent[0] += 1
                time.sleep(period)

        th = threading.Thread(target=stream, daemon=True)
        th.start()
        await pilot.pause(0.3)
        t0 = time.perf_counter()
        out["key_streaming_ms"] = await keys()
        elapsed = time.perf_counter() - t0
        stop.set()
        th.join()
        out["tokens_per_s"] = sent[0] / max(elapsed + 0.3, 1e-9)
        out["key_streaming_ratio"] = out["key_streaming_ms"] / out["key_ms"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="TUI benchmarks")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    p.add_argument("--runs", type=int, default=5, help="startup runs (median)")
    p.add_argument("--rate", type=int, default=2000, help="token events per second")
    p.add_argument("--presses", type=int, default=40)
    args = p.parse_args(argv)
    res = startup(args.runs)
    res.update(asyncio.run(in_app(args.rate, args.presses)))
    res["startup_ok"] = res["startup_ratio"] <= 2.0
    print(
        f"startup: llmflows-tui {res['startup_ms']:.0f} ms vs textual hello-world "
        f"{res['hello_startup_ms']:.0f} ms → ratio {res['startup_ratio']:.2f} (target <= 2)"
    )
    print(
        f"open 20k-line diff in the app: {res['open_20k_ms']:.1f} ms "
        f"({res['open_20k_rows']} rows, set_diff + full compositor pass)"
    )
    print(f"page-down: median {res['pagedown_ms']:.2f} ms, p95 {res['pagedown_p95_ms']:.2f} ms")
    print(
        f"key-to-frame: idle {res['key_ms']:.1f} ms, while streaming "
        f"~{res['tokens_per_s']:.0f} token events/s {res['key_streaming_ms']:.1f} ms "
        f"(x{res['key_streaming_ratio']:.2f})"
    )
    if args.json:
        print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
