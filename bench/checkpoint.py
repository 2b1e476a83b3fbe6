"""Benchmark: our snapshot/restore against the git primitives they are built on.

    python bench/checkpoint.py [--files N] [--json] [--runs K]

Builds a repo of N files (default 50,000) with one commit in a temp dir, changes 20
files and adds 5, then measures in the same run (warm cache, medians of K runs):

* snapshot: ``Snapshotter.snapshot`` vs ``git stash create`` (which does not even
  include untracked files).
* restore: ``Snapshotter.restore(target, current=pre_restore_snapshot)`` (the way the
  checkpoint service calls it, pre-restore snapshot untimed) vs a bare two-way
  ``git read-tree -m -u <current> <target>`` on a temp index that already holds the
  current tree with fresh stat data (prepared untimed). Restores alternate between
  the two states, so every run writes 25 files.
* restore_fresh (informational): ``restore(target)`` with no ``current``, which takes a
  fresh tree of the live work tree internally first.

With --json the last line is one JSON object (ratios and medians in ms).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.git.snapshots import Snapshotter  # noqa: E402

_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
}


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        ["git", *args], cwd=cwd, env={**_ENV, **(env or {})}, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {out.stderr}")
    return out.stdout.strip()


def build_repo(root: Path, n: int) -> None:
    git(root, "init", "-q", "-b", "main")
    per_dir = 100
    for i in range(n):
        d = root / f"d{i // per_dir // per_dir:03d}" / f"s{i // per_dir % per_dir:03d}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.txt").write_text(f"file {i}\n" + "line of content\n" * 8)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")


def all_files(root: Path, n: int) -> list[Path]:
    per_dir = 100
    return [
        root / f"d{i // per_dir // per_dir:03d}" / f"s{i // per_dir % per_dir:03d}" / f"f{i}.txt"
        for i in range(n)
    ]


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="llmflows-bench-"))
    root = tmp / "repo"
    root.mkdir()
    try:
        t0 = time.perf_counter()
        build_repo(root, args.files)
        files = all_files(root, args.files)
        step = max(1, len(files) // 20)
        for p in files[::step][:20]:
            p.write_text(p.read_text() + "changed\n")
        for i in range(5):
            (root / "d000" / f"new{i}.txt").write_text(f"new file {i}\n")
        git(root, "status", "--porcelain")  # warm the cache like a real session would
        setup_s = time.perf_counter() - t0

        snap = Snapshotter(root)
        ours_snap: list[float] = []
        stash: list[float] = []
        for k in range(args.runs):
            ours_snap.append(timed(lambda k=k: snap.snapshot(f"refs/llmflows/bench/{k}", "b")))
            stash.append(timed(lambda: git(root, "stash", "create")))

        # Two states to alternate between: the changed tree (B) and the base commit (A).
        b = snap.snapshot("refs/llmflows/bench/b", "changed")
        snap.restore(git(root, "rev-parse", "HEAD"))
        a = snap.snapshot("refs/llmflows/bench/a", "base")
        ours_restore: list[float] = []
        bare: list[float] = []
        fresh: list[float] = []
        cur, other = a, b
        for i in range(args.runs):
            # Ours: pre-restore snapshot is the caller's job (not timed), then restore.
            # Each under its own ref: snapshot refs are created, never overwritten.
            pre = snap.snapshot(f"refs/llmflows/bench/pre-{i}", "pre")
            assert pre.tree == cur.tree
            ours_restore.append(timed(lambda o=other, p=pre: snap.restore(o.commit, current=p)))
            cur, other = other, cur
            # Bare git: the same two-way merge on a temp index that already holds the
            # current tree with fresh stat data (prepared untimed, as read-tree -m -u
            # needs), i.e. exactly the command our restore is built around.
            idx = str(tmp / "bare-index")
            env = {"GIT_INDEX_FILE": idx}
            git(root, "add", "-A", env=env)
            assert git(root, "write-tree", env=env) == cur.tree

            def bare_restore(c=cur, o=other, env=env) -> None:
                git(root, "read-tree", "-m", "-u", c.tree, o.tree, env=env)

            bare.append(timed(bare_restore))
            os.unlink(idx)
            cur, other = other, cur
            fresh.append(timed(lambda o=other: snap.restore(o.commit)))
            cur, other = other, cur
        snap.close()

        med = {
            "snapshot_ms": statistics.median(ours_snap),
            "stash_create_ms": statistics.median(stash),
            "restore_ms": statistics.median(ours_restore),
            "read_tree_ms": statistics.median(bare),
            "restore_fresh_ms": statistics.median(fresh),
        }
        result = {
            "files": args.files,
            "runs": args.runs,
            **{k: round(v, 1) for k, v in med.items()},
            "snapshot_ratio": round(med["snapshot_ms"] / med["stash_create_ms"], 2),
            "restore_ratio": round(med["restore_ms"] / med["read_tree_ms"], 2),
            "restore_fresh_ratio": round(med["restore_fresh_ms"] / med["read_tree_ms"], 2),
        }
        print(
            f"repo: {args.files} files (setup {setup_s:.1f}s), 20 changed + 5 added, {args.runs} runs"
        )
        print(
            f"snapshot  ours {med['snapshot_ms']:7.1f} ms   git stash create {med['stash_create_ms']:7.1f} ms"
            f"   ratio {result['snapshot_ratio']:.2f}"
        )
        print(
            f"restore   ours {med['restore_ms']:7.1f} ms   bare read-tree -m -u {med['read_tree_ms']:7.1f} ms"
            f"   ratio {result['restore_ratio']:.2f}"
        )
        print(
            f"restore (no current snapshot given, takes a fresh tree) {med['restore_fresh_ms']:7.1f} ms"
            f"   ratio {result['restore_fresh_ratio']:.2f}"
        )
        if args.json:
            print(json.dumps(result))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
