"""CLI verbs checkpoint / checkpoints / rewind / diff: exit codes, output and --json shapes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.store import RunStore
from tests.support.gitutil import git

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "tui.entry", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_checkpoint_rewind_round_trip_in_subprocesses(repo: Path):
    (repo / "README.md").write_text("# mine, edited\n")
    p = cli("-C", str(repo), "checkpoint", "-m", "my edits")
    assert p.returncode == 0, p.stderr
    cid = int(p.stdout.strip())

    (repo / "README.md").write_text("# agent was here\n")
    (repo / "extra.txt").write_text("new\n")

    p = cli("-C", str(repo), "rewind", str(cid))
    assert p.returncode == 0, p.stderr
    assert f"Restored checkpoint {cid}" in p.stdout
    assert "written  README.md" in p.stdout and "removed  extra.txt" in p.stdout
    undo = int(p.stdout.rsplit("rewind ", 1)[1].strip())
    assert (repo / "README.md").read_text() == "# mine, edited\n"
    assert not (repo / "extra.txt").exists()

    p = cli("-C", str(repo), "rewind", str(undo), "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["restored"] == undo and isinstance(data["undo_checkpoint"], int)
    assert data["written"] == ["README.md", "extra.txt"] or set(data["written"]) == {
        "README.md",
        "extra.txt",
    }
    assert (repo / "README.md").read_text() == "# agent was here\n"
    assert (repo / "extra.txt").read_text() == "new\n"


def test_checkpoint_json_and_list(repo: Path, capsys):
    code, out, _ = run_main(capsys, "-C", str(repo), "checkpoint", "-m", "first", "--json")
    assert code == 0
    row = json.loads(out)
    assert row["id"] == 1 and row["message"] == "first" and row["source"] == "manual"
    assert row["ref"] == "refs/llmflows/manual/1" and row["partial"] is False
    assert isinstance(row["files_changed"], int) and len(row["commit_sha"]) == 40

    (repo / "a.txt").write_text("a\n")
    assert run_main(capsys, "-C", str(repo), "checkpoint")[0] == 0

    code, out, _ = run_main(capsys, "-C", str(repo), "checkpoints", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["id"] for r in rows] == [1, 2]
    assert rows[1]["files_changed"] == 1 and rows[1]["parent_id"] == 1

    code, out, _ = run_main(capsys, "-C", str(repo), "checkpoints")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["ID", "CREATED", "RUN", "SOURCE", "FILES", "FULL", "MESSAGE"]
    assert lines[1].split()[0] == "1" and lines[1].split()[-1] == "first"
    assert "manual" in lines[2] and " yes" in lines[2]
    # Aligned: every column starts at the same offset on every line.
    assert len({ln.index("manual") for ln in lines[1:]}) == 1


def test_checkpoints_table_marks_partial(repo: Path, capsys):
    (repo / ".gitignore").write_text("*.log\n")
    (repo / "x.log").write_text("ignored\n")  # ignored caches never make it partial
    git(repo, "init", "-q", "nested")  # a nested repository does
    code, out, err = run_main(capsys, "-C", str(repo), "checkpoint", "-m", "p")
    assert code == 0 and "partially recoverable" in err and "nested" in err
    assert "x.log" not in err
    _, out, _ = run_main(capsys, "-C", str(repo), "checkpoints")
    assert out.splitlines()[1].split()[6] == "no"  # date and time are two words


def test_empty_list(repo: Path, capsys):
    code, out, _ = run_main(capsys, "-C", str(repo), "checkpoints")
    assert code == 0 and "No checkpoints yet" in out
    code, out, _ = run_main(capsys, "-C", str(repo), "checkpoints", "--json")
    assert json.loads(out) == []


def test_diff_plain_and_json(repo: Path, capsys):
    run_main(capsys, "-C", str(repo), "checkpoint")
    (repo / "README.md").write_text("# demo\nsecond line\n")
    run_main(capsys, "-C", str(repo), "checkpoint")

    code, out, _ = run_main(capsys, "-C", str(repo), "diff", "1", "2")
    assert code == 0
    assert "diff --git a/README.md b/README.md" in out
    assert "+second line" in out and "\x1b[" not in out  # not a tty: no color

    code, out, _ = run_main(capsys, "-C", str(repo), "diff", "1", "2", "--json")
    d = json.loads(out)
    assert [f["path"] for f in d["files"]] == ["README.md"] and d["additions"] == 1

    (repo / "live.txt").write_text("live\n")
    code, out, _ = run_main(capsys, "-C", str(repo), "diff", "2", "--json")
    assert code == 0 and [f["path"] for f in json.loads(out)["files"]] == ["live.txt"]


@pytest.mark.parametrize(
    "argv",
    [["checkpoint"], ["checkpoints"], ["rewind", "1"], ["diff", "1"], ["diff", "1", "2", "--json"]],
)
def test_outside_a_repo_exits_2(tmp_path: Path, capsys, argv):
    code, out, err = run_main(capsys, "-C", str(tmp_path), *argv)
    assert code == 2
    assert "not inside a git repository" in err
    assert not (tmp_path / ".llmflows").exists()


def test_unknown_checkpoint_and_bad_id(repo: Path, capsys):
    code, _, err = run_main(capsys, "-C", str(repo), "rewind", "99")
    assert code == 2 and "no checkpoint 99" in err
    code, _, err = run_main(capsys, "-C", str(repo), "rewind", "abc")
    assert code == 2 and "must be a number" in err


def test_writer_verbs_refused_while_store_is_locked(repo: Path):
    with RunStore.open(repo):
        p = cli("-C", str(repo), "checkpoint")
        assert p.returncode == 2
        assert f"process {os.getpid()}" in p.stderr
        # Reading verbs still work while another process writes.
        p = cli("-C", str(repo), "checkpoints", "--json")
        assert p.returncode == 0 and json.loads(p.stdout) == []
    assert git(repo, "for-each-ref", "refs/llmflows") == ""
