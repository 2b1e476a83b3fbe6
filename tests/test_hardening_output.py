"""Command output of run steps: one capped row per step, streamed in batches, never per line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from engine.cli import main
from engine.events import CommandOutput, OutputChunk
from engine.nodes.run_node import STORED_OUTPUT_CAP
from engine.store import RunStore
from tests.support.gitutil import init_repo
from tests.test_widgets_panes import OneWidget
from tui.widgets.test_output import TestOutput

FLOW = """\
name: loud
description: a command with a lot to say
nodes:
  - id: loud
    kind: run
    command: "{command}"
    next: end
"""


def _run(tmp_path: Path, capsys, command: str) -> tuple[list[dict], list[dict]]:
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    flow = tmp_path / "loud.yaml"
    flow.write_text(FLOW.replace("{command}", command))
    script = tmp_path / "s.yaml"
    script.write_text("responses: []\n")  # a run node needs no model; one must be named
    args = ["-C", str(repo), "--json", "--model", f"scripted:{script}"]
    assert main([*args, "run", str(flow), "go", "--autonomy", "full"]) == 0
    streamed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    with RunStore.open(repo, write=False) as store:
        (run,) = store.list_runs()
        stored = store.events_for(run["id"])
    return streamed, stored


def test_a_100k_line_command_is_one_stored_row_and_a_few_live_chunks(tmp_path, capsys):
    streamed, stored = _run(tmp_path, capsys, "seq 1 100000")
    kinds = Counter(e["type"] for e in stored)
    assert kinds["command_output"] == 1
    assert kinds["test_output"] == 0 and kinds["output_chunk"] == 0  # no row per line
    assert sum(kinds.values()) < 40  # the whole run, not 100k rows
    (out,) = [e for e in stored if e["type"] == "command_output"]
    assert out["truncated"] and len(out["output"].encode()) <= STORED_OUTPUT_CAP + 100
    assert out["output"].startswith("1\n2\n3\n") and out["output"].endswith("99999\n100000")
    chunks = [e for e in streamed if e["type"] == "output_chunk"]
    # live: whole lines, batched, and only the head (the stored tail follows at the end)
    assert 0 < len(chunks) <= 30
    live = "\n".join(c["text"] for c in chunks)
    assert live.startswith("1\n2\n") and len(live) <= STORED_OUTPUT_CAP // 2 + 100


def test_a_single_huge_line_is_capped_in_the_store(tmp_path, capsys):
    streamed, stored = _run(
        tmp_path, capsys, "head -c 5000000 /dev/zero | tr '\\\\0' x; echo; echo done"
    )
    (out,) = [e for e in stored if e["type"] == "command_output"]
    assert out["truncated"] and out["output"].endswith("\ndone")
    assert len(out["output"].encode()) <= STORED_OUTPUT_CAP + 100
    live = sum(len(e["text"]) for e in streamed if e["type"] == "output_chunk")
    assert live <= STORED_OUTPUT_CAP


@pytest.mark.parametrize("live", [True, False], ids=["live", "replayed"])
async def test_the_pane_shows_head_and_tail_once(live: bool) -> None:
    head = [f"line {i}" for i in range(3)]
    stored = "\n".join(head) + "\n[... output truncated: 999 bytes omitted ...]\nline 98\nline 99"
    tail_from = stored.index("[...")
    pane = TestOutput()
    async with OneWidget(pane).run_test(size=(80, 20)) as pilot:
        if live:
            pane.apply_event(OutputChunk(step_id=4, text="\n".join(head)))
        pane.apply_event(
            CommandOutput(
                step_id=4, command="x", output=stored, truncated=True, tail_from=tail_from
            )
        )
        await pilot.pause()
        assert list(pane.log_widget.lines) == stored.split("\n")
