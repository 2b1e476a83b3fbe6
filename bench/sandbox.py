"""Benchmark: what the bubblewrap sandbox and the tree-sitter policy cost per command.

    python bench/sandbox.py [--runs K] [--files N] [--json]

In a temp git repo of N files (default 2,000, a few of them secret files), measures
in the same run (medians of K runs, default 20):

* command: ``run_command("true")`` sandboxed vs unsandboxed (``sandbox=None``): the
  ratio is the sandbox's overhead (bwrap start, mounts, the secret-file walk).
* policy: ``CommandPolicy.check`` of a typical command line (pipeline, heredoc,
  substitution) vs ``shlex.split`` of the same line (the floor any parser pays).

With --json the last line is one JSON object (medians in ms and ratios).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.tools.commands import run_command  # noqa: E402
from engine.tools.policy import CommandPolicy  # noqa: E402
from engine.tools.sandbox import sandbox_status  # noqa: E402

LINE = (
    "cd src && grep -rn TODO . | sort | uniq -c > ../todo.txt; "
    "cat <<EOF > notes.md\nrm -rf / is data\nEOF\necho $(git rev-parse HEAD)"
)


def _repo(n: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix="llmflows-bench-sbx-"))
    for i in range(n):
        d = root / f"pkg{i % 50}"
        d.mkdir(exist_ok=True)
        (d / f"m{i}.py").write_text(f"x = {i}\n")
    (root / ".env").write_text("KEY=v\n")
    (root / "pkg1" / "deploy.pem").write_text("pem\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    status = sandbox_status()
    if not status.available:
        print(f"no sandbox here: {status.reason}")
        return 1
    root = _repo(args.files)
    try:
        sandboxed = _median_ms(lambda: asyncio.run(run_command("true", root)), args.runs)
        bare = _median_ms(lambda: asyncio.run(run_command("true", root, sandbox=None)), args.runs)
        policy = CommandPolicy()
        check = _median_ms(lambda: policy.check(LINE, root), args.runs * 10)
        split = _median_ms(lambda: shlex.split(LINE.replace("\n", " ")), args.runs * 10)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out = {
        "files": args.files,
        "command_sandboxed_ms": round(sandboxed, 2),
        "command_bare_ms": round(bare, 2),
        "command_ratio": round(sandboxed / bare, 2),
        "policy_check_ms": round(check, 3),
        "shlex_split_ms": round(split, 3),
        "policy_ratio": round(check / split, 1),
    }
    print(
        f"command `true` ({args.files} files): sandboxed {out['command_sandboxed_ms']} ms, "
        f"bare {out['command_bare_ms']} ms, ratio {out['command_ratio']}x"
    )
    print(
        f"policy check: {out['policy_check_ms']} ms vs shlex.split {out['shlex_split_ms']} ms "
        f"(ratio {out['policy_ratio']}x)"
    )
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
