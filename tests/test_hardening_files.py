"""The agent's file tools against hostile input: no hang, no half-written file."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from engine.tools import ToolContext, Workspace, call_tool


@pytest.fixture
def ws(repo: Path) -> Workspace:
    return Workspace(repo)


async def call(ws: Workspace, name: str, **args):
    return await call_tool(ws, name, args, ToolContext())


# ---------------------------------------------------------------- no hang


# The timeout only turns a hang (the old backtracking engine) into a failure.
@pytest.mark.timeout(60)
async def test_search_with_a_catastrophic_regex_finishes(ws: Workspace, repo: Path) -> None:
    (repo / "evil.txt").write_text("a" * 49 + "!\n" + "aaa\n")
    res = await call(ws, "search", pattern="(a+)+$")
    assert res.ok
    assert res.content == "evil.txt:2: aaa"


async def test_search_explains_patterns_the_linear_engine_refuses(ws: Workspace) -> None:
    res = await call(ws, "search", pattern=r"(a)\1")
    assert not res.ok
    assert "invalid regular expression" in res.content and "backreferences" in res.content
    assert "\n" not in res.content.strip()


@pytest.mark.timeout(60)
async def test_file_tools_refuse_a_fifo_without_blocking(ws: Workspace, repo: Path) -> None:
    os.mkfifo(repo / "pipe")
    for name, args in (
        ("read_file", {"path": "pipe"}),
        ("write_file", {"path": "pipe", "content": "x"}),
        ("edit_file", {"path": "pipe", "old": "a", "new": "b"}),
    ):
        res = await call_tool(ws, name, args, ToolContext())
        assert not res.ok, name
        assert "named pipe (FIFO)" in res.content, (name, res.content)
    assert stat.S_ISFIFO(os.stat(repo / "pipe").st_mode)  # left as it was


@pytest.mark.timeout(60)
async def test_search_skips_fifos_outside_git(tmp_path: Path) -> None:
    # Not a git work tree: the directory walk lists the FIFO; search must not open it.
    (tmp_path / "a.txt").write_text("needle\n")
    os.mkfifo(tmp_path / "pipe")
    res = await call(Workspace(tmp_path), "search", pattern="needle")
    assert res.ok and res.content == "a.txt:1: needle"


# ---------------------------------------------------------------- atomic writes


def _fail_writes_with(monkeypatch: pytest.MonkeyPatch, err: int) -> None:
    """Make the next file write run out of space half-way (some bytes do land)."""
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, fh):
            self.fh = fh

        def write(self, data: bytes) -> int:
            self.fh.write(data[: len(data) // 2])
            self.fh.flush()
            raise OSError(err, os.strerror(err))

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: HalfWriter(real_fdopen(fd, *a, **k)))


def _leftovers(repo: Path) -> list[str]:
    return sorted(p.name for p in repo.rglob("*.llmflows-tmp"))


async def test_disk_full_during_edit_file_leaves_the_old_file_whole(
    ws: Workspace, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (repo / "src/app.py").read_bytes()
    _fail_writes_with(monkeypatch, errno.ENOSPC)
    res = await call(ws, "edit_file", path="src/app.py", old="a + b", new="a + b  # " + "x" * 5000)
    assert not res.ok and "No space left on device" in res.content
    assert (repo / "src/app.py").read_bytes() == before
    assert _leftovers(repo) == []


async def test_disk_full_during_write_file_leaves_the_old_file_whole(
    ws: Workspace, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_writes_with(monkeypatch, errno.ENOSPC)
    res = await call(ws, "write_file", path="README.md", content="new text\n" * 1000)
    assert not res.ok
    assert (repo / "README.md").read_text() == "# demo\n"
    assert _leftovers(repo) == []


async def test_read_only_directory_leaves_the_old_file_whole(
    ws: Workspace, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests may run as root (chmod does not stop root): the read-only mount is simulated
    # where the OS would report it, at the creation of a file in that directory.
    real_open = os.open

    def ro_open(path, flags, *a, **k):
        if flags & os.O_CREAT and Path(path).parent == repo / "src":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", ro_open)
    res = await call(ws, "write_file", path="src/app.py", content="")
    assert not res.ok and "Read-only file system" in res.content
    assert (repo / "src/app.py").read_text() == "def add(a, b):\n    return a + b\n"


async def test_writes_keep_the_files_permission_bits(ws: Workspace, repo: Path) -> None:
    script = repo / "run.sh"
    script.write_text("echo one\n")
    script.chmod(0o750)
    assert (await call(ws, "edit_file", path="run.sh", old="one", new="two")).ok
    assert (await call(ws, "write_file", path="run.sh", content="echo three\n")).ok
    assert script.read_text() == "echo three\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    old_umask = os.umask(0o027)
    try:
        assert (await call(ws, "write_file", path="new.txt", content="x")).ok
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((repo / "new.txt").stat().st_mode) == 0o640
    assert _leftovers(repo) == []


# ---------------------------------------------------------------- output caps


async def test_a_50mb_single_line_is_capped_in_bytes(tmp_path: Path) -> None:
    from engine.tools.commands import run_command

    longest: list[int] = []
    res = await run_command(
        "head -c 50000000 /dev/zero | tr '\\0' x; echo; echo end",
        tmp_path,
        timeout_s=120,
        output_cap=30_000,
        on_line=lambda line: longest.append(len(line)),
    )
    assert res.exit_code == 0 and res.truncated
    assert len(res.output.encode()) < 30_000 + 100
    assert res.output.endswith("\nend")
    assert "bytes omitted" in res.output
    # the streamed line is cut too (with a note), never a 50 MB string
    assert len(longest) == 2 and longest[0] < 30_100 and longest[1] == 3


def test_output_cap_holds_for_any_shape() -> None:
    from engine.tools.commands import OutputCap

    for chunks in (
        [b"x" * 1_000_000],  # one line
        [b"y\n"] * 200_000,  # many short lines
        [("é" * 7 + "\r\n").encode()] * 50_000,  # multi-byte text, CRLF
    ):
        cap = OutputCap(1000)
        for c in chunks:
            cap.add(c)
        out = cap.text()
        assert cap.truncated and len(out.encode()) <= 1100, len(out)
        assert "\ufffd" not in out  # never half a character at the cuts
