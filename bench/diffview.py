"""Benchmark: DiffView open and page-down latency on a large synthetic diff.

Usage: python bench/diffview.py [--lines N] [--json] [--size WxH]

What is measured (headless, ``App.run_test(size=...)``, DiffView filling the screen):

* ``open_ms``: ``DiffView.set_diff(diff)`` followed by rendering every visible
  row through the Line API (``render_line(y)`` for y in the viewport), caches
  cold. This is the widget's whole cost for the first screen. The first open in
  the process (``open_first_ms``) also pays for importing/instantiating the
  pygments lexers; ``open_ms`` is the median of the following opens of fresh
  (equal-shaped) diffs.
* ``open_screen_ms``: ``set_diff`` + a full compositor pass of the screen
  (``screen._compositor.render_full_update()``, i.e. what Textual does before
  writing to the terminal, minus the terminal write itself). Median.
* ``pagedown_ms``: the ``page_down`` action (scroll, no animation) + rendering
  every visible row via ``render_line``; median and p95 over the presses.
* ``pagedown_screen_ms``: the ``page_down`` action + a full compositor pass.
* ``pagedown_pilot_ms``: ``await pilot.press("pagedown")`` end to end, which
  also includes the Pilot's own event-loop waits (an upper bound).

* ``baseline_eager_ms`` (measured in the same run, same diff): building one
  plain ``rich.text.Text`` per diff line, no highlighting - the floor cost of
  any viewer that materializes every line up front. The machine is shared and
  noisy; compare ``open_ms`` to this baseline rather than across runs.

Targets: open <= 150 ms, page-down <= 16 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult  # noqa: E402

from engine.git.diffmodel import Diff, DiffLine, FileDiff, Hunk  # noqa: E402
from tui.widgets.diff_view import DiffView  # noqa: E402

OPEN_TARGET_MS = 150.0
PAGE_TARGET_MS = 16.0

_SNIPPETS = {
    ".py": [
        "def handle_{n}(request, *, timeout: float = 3.0) -> dict[str, int]:",
        '    """Handle request {n} and return counters."""',
        "    result = {{'ok': {n}, 'retries': len(request.items)}}  # keep {n}",
        "    for item in request.items[{n}:]:",
        "        if item.value > {n} and not item.skip:",
        "            raise ValueError(f'bad item {{item!r}} at {n}')",
        "    return result",
        "",
    ],
    ".js": [
        "export function render{n}(props) {{",
        "  const items = props.items.filter((x) => x.id !== {n});",
        "  return `<ul>${{items.map((i) => `<li>${{i.name}}</li>`).join('')}}</ul>`;",
        "}}",
    ],
    ".rs": [
        "pub fn compute_{n}(xs: &[u64]) -> Option<u64> {{",
        "    let total: u64 = xs.iter().map(|x| x * {n}).sum();",
        '    if total == 0 {{ return None; }} // "{n}"',
        "    Some(total)",
        "}}",
    ],
    ".md": ["# Section {n}", "", "Some *prose* about item {n}, with `code` and a [link](x)."],
    ".json": ['  "key_{n}": {{"value": {n}, "enabled": true, "name": "item {n}"}},'],
}


def _text(ext: str, i: int) -> str:
    lines = _SNIPPETS[ext]
    return lines[i % len(lines)].format(n=i)


def build_diff(total_lines: int, seed: int = 7) -> Diff:
    """A diff of about ``total_lines`` diff lines: many small hunks plus one huge added file."""
    rng = random.Random(seed)
    files: list[FileDiff] = []
    exts = list(_SNIPPETS)
    big = total_lines // 4  # one new file holding a quarter of all lines in a single hunk
    remaining = total_lines - big
    fi = 0
    while remaining > 0:
        ext = exts[fi % len(exts)]
        hunks: list[Hunk] = []
        old_no = new_no = 1
        for hi in range(rng.randint(3, 12)):
            if remaining <= 0:
                break
            old_no += rng.randint(5, 40)
            new_no = old_no + rng.randint(-3, 3) if new_no < old_no else new_no + rng.randint(5, 40)
            n = min(remaining, rng.randint(10, 80))
            lines: list[DiffLine] = []
            o, w = old_no, new_no
            for k in range(n):
                r = rng.random()
                text = _text(ext, o + k)
                if r < 0.6:
                    lines.append(DiffLine(" ", text, o, w))
                    o, w = o + 1, w + 1
                elif r < 0.8:
                    lines.append(DiffLine("-", text, o, None))
                    o += 1
                else:
                    lines.append(DiffLine("+", text + "  # changed", None, w))
                    w += 1
            hunks.append(Hunk(hi, old_no, o - old_no, new_no, w - new_no, f"def f{hi}():", lines))
            remaining -= n
            old_no, new_no = o, w
        files.append(
            FileDiff(path=f"src/pkg{fi // 10}/module_{fi}{ext}", status="modified", hunks=hunks)
        )
        fi += 1
    big_lines = [DiffLine("+", _text(".py", i), None, i + 1) for i in range(big)]
    files.insert(
        len(files) // 2,
        FileDiff(
            path="src/generated/big_table.py",
            status="added",
            new_mode="100644",
            hunks=[Hunk(0, 0, 0, 1, big, "", big_lines)],
        ),
    )
    return Diff(files=files)


class BenchApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DiffView(id="diff")


def _render_visible(dv: DiffView) -> int:
    height = dv.scrollable_content_region.height
    for y in range(height):
        dv.render_line(y)
    return height


def _compose_screen(app: App) -> None:
    # Private API, benchmark only: the compositor pass Textual runs before a
    # terminal write. Falls back to the widget-only figure if it moves.
    compositor = getattr(app.screen, "_compositor", None)
    if compositor is not None and hasattr(compositor, "render_full_update"):
        compositor.render_full_update()


async def run(lines: int, size: tuple[int, int], presses: int) -> dict:
    # Diffs are built one at a time outside the timed sections; only the one
    # on screen stays alive, as in the app (a heap full of old diffs would
    # only make the garbage collector's full passes slower).
    first = build_diff(lines, seed=0)
    from rich.text import Text

    t0 = time.perf_counter()
    eager = [Text(ln.text) for f in first.files for h in f.hunks for ln in h.lines]
    baseline_eager_ms = (time.perf_counter() - t0) * 1000
    del eager
    app = BenchApp()
    result: dict = {
        "baseline_eager_ms": baseline_eager_ms,
        "lines": sum(len(h.lines) for f in first.files for h in f.hunks),
        "files": len(first.files),
        "hunks": sum(len(f.hunks) for f in first.files),
        "size": f"{size[0]}x{size[1]}",
    }
    async with app.run_test(size=size) as pilot:
        dv = app.query_one(DiffView)
        dv.focus()
        await pilot.pause()
        await app.workers.wait_for_complete()  # lexer table warmed at mount, as in the app

        t0 = time.perf_counter()
        dv.set_diff(first)
        _render_visible(dv)
        result["open_first_ms"] = (time.perf_counter() - t0) * 1000
        await pilot.pause()

        opens = []
        del first
        for seed in (1, 2, 3):
            d = build_diff(lines, seed=seed)
            t0 = time.perf_counter()
            dv.set_diff(d)
            _render_visible(dv)
            opens.append((time.perf_counter() - t0) * 1000)
            await pilot.pause()
        result["open_ms"] = statistics.median(opens)

        screens = []
        for seed in (4, 5, 6):
            d = build_diff(lines, seed=seed)
            await pilot.pause()
            t0 = time.perf_counter()
            dv.set_diff(d)
            _compose_screen(app)
            screens.append((time.perf_counter() - t0) * 1000)
        result["open_screen_ms"] = statistics.median(screens)
        await pilot.pause()
        result["rows"] = dv.row_count
        result["viewport_rows"] = dv.scrollable_content_region.height

        def page_times(render) -> list[float]:
            times = []
            for _ in range(presses):
                t0 = time.perf_counter()
                dv.action_page_down()
                render()
                times.append((time.perf_counter() - t0) * 1000)
            return times

        dv.scroll_to(y=0, animate=False, immediate=True)
        pd = page_times(lambda: _render_visible(dv))
        result["pagedown_ms"] = statistics.median(pd)
        result["pagedown_p95_ms"] = statistics.quantiles(pd, n=20)[18]
        result["pagedown_max_ms"] = max(pd)

        dv.scroll_to(y=dv.row_count // 2, animate=False, immediate=True)
        await pilot.pause()
        pds = page_times(lambda: _compose_screen(app))
        result["pagedown_screen_ms"] = statistics.median(pds)

        dv.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        pilot_times = []
        for _ in range(presses):
            t0 = time.perf_counter()
            await pilot.press("pagedown")
            pilot_times.append((time.perf_counter() - t0) * 1000)
        result["pagedown_pilot_ms"] = statistics.median(pilot_times)
        result["scrolled_to_row"] = int(dv.scroll_y)

        dv.set_mode("split")
        dv.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        result["split_rows"] = dv.row_count
        pds = page_times(lambda: _render_visible(dv))
        result["split_pagedown_ms"] = statistics.median(pds)

    result["open_ok"] = result["open_ms"] <= OPEN_TARGET_MS
    result["pagedown_ok"] = result["pagedown_ms"] <= PAGE_TARGET_MS
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--size", default="160x50", help="terminal WxH (default 160x50)")
    parser.add_argument("--presses", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="last line is one JSON object")
    args = parser.parse_args(argv)
    w, h = (int(x) for x in args.size.lower().split("x"))
    r = asyncio.run(run(args.lines, (w, h), args.presses))
    print(
        f"diff: {r['lines']} lines, {r['files']} files, {r['hunks']} hunks, "
        f"{r['rows']} rows (split {r['split_rows']}), viewport {r['size']} "
        f"({r['viewport_rows']} rows)"
    )
    print(
        f"open (set_diff + first screen via render_line), first in process: {r['open_first_ms']:.1f} ms"
    )
    print(
        f"open (set_diff + first screen via render_line), median: {r['open_ms']:.1f} ms "
        f"(target <= {OPEN_TARGET_MS:.0f}) {'OK' if r['open_ok'] else 'SLOW'}"
    )
    print(f"open (set_diff + full compositor pass), median: {r['open_screen_ms']:.1f} ms")
    print(
        f"baseline (same run): one plain rich Text per line, eager: {r['baseline_eager_ms']:.1f} ms"
    )
    print(
        f"page-down (action + render_line of viewport), median over {args.presses}: "
        f"{r['pagedown_ms']:.2f} ms, p95 {r['pagedown_p95_ms']:.2f} ms, max "
        f"{r['pagedown_max_ms']:.2f} ms (target <= {PAGE_TARGET_MS:.0f}) "
        f"{'OK' if r['pagedown_ok'] else 'SLOW'}"
    )
    print(f"page-down (action + full compositor pass), median: {r['pagedown_screen_ms']:.2f} ms")
    print(
        f"page-down (pilot.press end to end, incl. Pilot waits), median: {r['pagedown_pilot_ms']:.2f} ms"
    )
    print(
        f"page-down in split mode (action + render_line), median: {r['split_pagedown_ms']:.2f} ms"
    )
    if args.json:
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
