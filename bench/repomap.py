"""Benchmark: the repo map on a large repository, cold (nothing cached) vs warm.

    python bench/repomap.py [--files N] [--json]

Builds a git repository of N source files (default 50,000: Python, TypeScript, Go
and Rust, a few definitions each) with one commit in a temp dir, then measures
in the same run:

* cold: ``render_repo_map`` with an empty cache (every file parsed with tree-sitter);
* warm: the same call again (blob shas unchanged: nothing parsed);
* warm_edit: after changing 20 files (only those 20 parsed again).

Prints the figures and the cold/warm ratio; with --json the last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.context.repomap import build_outlines, render_repo_map  # noqa: E402

_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}

_SOURCES = {
    ".py": "import os\n\n\nclass Thing{i}:\n    def run(self, x):\n        return x + {i}\n\n"
    "    def stop(self):\n        pass\n\n\ndef helper_{i}(a, b):\n    return a * b\n",
    ".ts": "export interface Shape{i} {{ area(): number }}\n"
    "export function make{i}(n: number): number {{ return n * {i}; }}\n"
    "export class Box{i} {{ size(): number {{ return {i}; }} }}\n",
    ".go": "package p{d}\n\ntype T{i} struct {{ N int }}\n\n"
    "func (t T{i}) Get() int {{ return t.N }}\n\nfunc New{i}() T{i} {{ return T{i}{{N: {i}}} }}\n",
    ".rs": "pub struct S{i} {{ n: u32 }}\n\nimpl S{i} {{\n    pub fn new() -> Self {{ S{i} {{ n: {i} }} }}\n}}\n\n"
    "pub fn free_{i}(a: u32) -> u32 {{ a + {i} }}\n",
}


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, env=_ENV, check=True, capture_output=True)


def build_repo(root: Path, n: int) -> None:
    exts = list(_SOURCES)
    for i in range(n):
        d = i // 500
        ext = exts[i % len(exts)]
        path = root / f"pkg{d:03d}" / f"mod{i:05d}{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_SOURCES[ext].format(i=i, d=d))
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "synthetic")
    # Files written in the same second as the index are "racily clean": git re-reads
    # them on every status. A real repository's index is older than its files.
    time.sleep(1.1)
    _git(root, "update-index", "-q", "--really-refresh")


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmflows-bench-repomap-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        t_build, _ = timed(lambda: build_repo(root, args.files))
        print(f"synthetic repo: {args.files} files, built in {t_build:.1f}s", flush=True)

        def render() -> str:
            return render_repo_map(root, goal="make8 Box9 helper_12", max_tokens=2048)

        cold, text = timed(render)
        warm, text2 = timed(render)
        assert text == text2, "a warm map must equal the cold one"
        for i in range(0, 20 * 97, 97):
            p = next(iter(sorted((root / f"pkg{i // 500:03d}").glob(f"mod{i:05d}.*"))))
            p.write_text(p.read_text() + "\n\ndef added_later():\n    pass\n")
        edited, _ = timed(render)
        outlines = build_outlines(root)
        symbols = sum(len(v) for v in outlines.values())
    figures = {
        "files": args.files,
        "symbols": symbols,
        "cold_s": round(cold, 3),
        "warm_s": round(warm, 3),
        "warm_after_20_edits_s": round(edited, 3),
        "cold_over_warm": round(cold / warm, 1) if warm else None,
        "map_tokens_budget": 2048,
        "map_chars": len(text),
    }
    print(f"outline: {symbols} symbols in {args.files} files; map {len(text)} chars")
    print(f"cold (parse everything):        {cold:8.2f} s")
    print(f"warm (cache by blob sha):       {warm:8.2f} s")
    print(f"warm after editing 20 files:    {edited:8.2f} s")
    print(f"ratio cold / warm:              {figures['cold_over_warm']:8.1f}x")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
