"""The offline demo end to end, and record → export-script → replay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.demo import prepare_demo
from engine.store import RunStore


def _final_tree_files(repo: Path) -> dict[str, str]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {p: (repo / p).read_text() for p in sorted(out)}


def test_headless_demo_full_autonomy_fixes_the_sample(tmp_path: Path, cli):
    demo_dir = tmp_path / "demo"
    res = cli("demo", "--headless", "--autonomy", "full", "--dir", str(demo_dir))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "run completed" in res.stdout
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=demo_dir,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout
    assert "4 passed" in tests.stdout
    # the run is in the history like any other run
    runs = json.loads(cli("-C", str(demo_dir), "runs", "--json").stdout)
    assert len(runs) == 1 and runs[0]["status"] == "completed" and runs[0]["flow"] == "bugfix"
    assert runs[0]["cost_usd"] > 0
    # .llmflows/ never shows up in git status
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=demo_dir, capture_output=True, text=True
    ).stdout
    assert ".llmflows" not in status


def test_demo_refuses_a_non_empty_dir(tmp_path: Path, cli):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("mine")
    res = cli("demo", "--headless", "--dir", str(tmp_path / "x"))
    assert res.returncode == 2 and "not empty" in res.stderr
    assert (tmp_path / "x" / "file").read_text() == "mine"


def test_export_script_replay_reproduces_the_same_diffs(tmp_path: Path, cli):
    first = tmp_path / "first"
    res = cli("demo", "--headless", "--autonomy", "full", "--dir", str(first))
    assert res.returncode == 0, res.stdout + res.stderr
    run_id = json.loads(cli("-C", str(first), "runs", "--json").stdout)[0]["id"]
    script = tmp_path / "recorded.yaml"
    res = cli("-C", str(first), "export-script", run_id, "-o", str(script))
    assert res.returncode == 0, res.stderr
    # replay on the same starting tree
    demo = prepare_demo(tmp_path / "second")
    settings = [f"--set={k}={v}" for k, v in demo.settings.items()]
    res = cli(
        "-C",
        str(demo.repo),
        "run",
        "bugfix",
        demo.goal,
        "--model",
        f"scripted:{script}",
        "--autonomy",
        "full",
        *settings,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert _final_tree_files(first) == _final_tree_files(demo.repo)

    # and the per-step diffs match too
    def step_diffs(repo: Path) -> list[str]:
        with RunStore.open(repo, write=False) as store:
            rid = store.list_runs()[0]["id"]
            cps = [c for c in store.list_checkpoints(rid) if c["source"] == "step"]
        return [c["tree_sha"] for c in cps]

    assert step_diffs(first) == step_diffs(demo.repo)


def test_rejecting_in_the_demo_replays_the_node_instead_of_failing(tmp_path: Path):
    import asyncio

    from engine.run import operations as ops
    from engine.run.executor import Executor
    from engine.run.session import Session

    demo = prepare_demo(tmp_path / "demo")
    with Session.open(demo.repo) as s:
        run_id = ops.create_run(
            s, demo.flow, demo.goal, model=demo.model, autonomy="review", settings=demo.settings
        )
        out = asyncio.run(Executor(s, run_id).execute())
        assert out.gate.kind == "review" and out.gate.node == "reproduce"
        ops.answer_gate(s, run_id, "reject", reason="name the test after the rounding rule")
        out = asyncio.run(Executor(s, run_id).execute())
        assert out.status == "paused" and out.gate.node == "reproduce"  # replayed, not failed
        for _ in range(10):
            if out.status != "paused":
                break
            ops.answer_gate(s, run_id, "approve")
            out = asyncio.run(Executor(s, run_id).execute())
        assert out.status == "completed", out
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=demo.repo,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout
