"""File tools through call_tool: what the model sends and what it gets back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import UsageError
from engine.tools import TOOL_NAMES, ToolContext, Workspace, call_tool, tool_schemas


@pytest.fixture
def ws(repo: Path) -> Workspace:
    return Workspace(repo)


async def call(ws: Workspace, name: str, **args):
    return await call_tool(ws, name, args, ToolContext())


# ---------------------------------------------------------------- read_file


async def test_read_file_returns_text(ws: Workspace) -> None:
    res = await call(ws, "read_file", path="src/app.py")
    assert res.ok
    assert res.content == "def add(a, b):\n    return a + b\n"
    assert res.files_changed == []


async def test_read_file_missing_and_directory(ws: Workspace) -> None:
    res = await call(ws, "read_file", path="nope.py")
    assert not res.ok and "No such file" in res.content and "list_files" in res.content
    res = await call(ws, "read_file", path="src")
    assert not res.ok and "directory" in res.content


async def test_read_file_truncates_large_files(ws: Workspace, repo: Path) -> None:
    (repo / "big.txt").write_text("".join(f"line {i}\n" for i in range(50_000)))
    res = await call_tool(ws, "read_file", {"path": "big.txt"}, ToolContext(read_cap=1000))
    assert res.ok
    assert res.content.startswith("line 0\nline 1\n")
    assert "[truncated" in res.content
    assert res.data["truncated"] is True
    body = res.content.split("\n[truncated")[0]
    assert len(body) <= 1000
    assert body.endswith("\n")  # cut at a line boundary


async def test_read_file_refuses_binary(ws: Workspace, repo: Path) -> None:
    (repo / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    res = await call(ws, "read_file", path="img.png")
    assert not res.ok
    assert "binary" in res.content


async def test_read_file_non_ascii_name_and_content(ws: Workspace, repo: Path) -> None:
    (repo / "docs dir").mkdir()
    (repo / "docs dir" / "café ☕.md").write_text("héllo wörld\n", encoding="utf-8")
    res = await call(ws, "read_file", path="docs dir/café ☕.md")
    assert res.ok and res.content == "héllo wörld\n"


# ---------------------------------------------------------------- write_file


async def test_write_file_creates_dirs_and_reports(ws: Workspace, repo: Path) -> None:
    res = await call(ws, "write_file", path="pkg/sub/new.py", content="x = 1\ny = 2\n")
    assert res.ok
    assert res.content.startswith("Created pkg/sub/new.py")
    assert res.files_changed == ["pkg/sub/new.py"]
    assert res.data["created"] is True
    assert (repo / "pkg" / "sub" / "new.py").read_text() == "x = 1\ny = 2\n"

    res = await call(ws, "write_file", path="pkg/sub/new.py", content="x = 3\n")
    assert res.ok and res.content.startswith("Overwrote")
    assert res.data["created"] is False
    assert res.files_changed == ["pkg/sub/new.py"]

    res = await call(ws, "write_file", path="pkg/sub/new.py", content="x = 3\n")
    assert res.ok and "nothing changed" in res.content
    assert res.files_changed == []


async def test_write_file_keeps_bytes_exactly(ws: Workspace, repo: Path) -> None:
    content = "a\r\nb\n\tc  \n"
    res = await call(ws, "write_file", path="crlf.txt", content=content)
    assert res.ok
    assert (repo / "crlf.txt").read_bytes() == content.encode()


async def test_write_file_onto_directory_fails(ws: Workspace) -> None:
    res = await call(ws, "write_file", path="src", content="x")
    assert not res.ok and "directory" in res.content


# ---------------------------------------------------------------- edit_file


async def test_edit_file_unique_match(ws: Workspace, repo: Path) -> None:
    res = await call(ws, "edit_file", path="src/app.py", old="a + b", new="a - b")
    assert res.ok, res.content
    assert res.files_changed == ["src/app.py"]
    assert "line 2" in res.content
    assert (repo / "src" / "app.py").read_text() == "def add(a, b):\n    return a - b\n"


async def test_edit_file_no_match_shows_closest_lines(ws: Workspace, repo: Path) -> None:
    before = (repo / "src" / "app.py").read_text()
    res = await call(ws, "edit_file", path="src/app.py", old="  return a+b", new="x")
    assert not res.ok
    assert "not found" in res.content
    assert "Closest matches" in res.content
    assert "    2|     return a + b" in res.content
    assert (repo / "src" / "app.py").read_text() == before
    assert res.files_changed == []


async def test_edit_file_no_match_nothing_similar(ws: Workspace) -> None:
    res = await call(ws, "edit_file", path="src/app.py", old="zzzzqqqq", new="x")
    assert not res.ok
    assert "not found" in res.content and "No similar text" in res.content


async def test_edit_file_multiple_matches(ws: Workspace, repo: Path) -> None:
    (repo / "dup.py").write_text("x = 1\ny = 2\nx = 1\nx = 1\n")
    res = await call(ws, "edit_file", path="dup.py", old="x = 1", new="x = 9")
    assert not res.ok
    assert "3 times" in res.content
    assert "lines 1, 3, 4" in res.content
    assert "more surrounding lines" in res.content
    assert (repo / "dup.py").read_text() == "x = 1\ny = 2\nx = 1\nx = 1\n"
    # With more context it is unique.
    res = await call(ws, "edit_file", path="dup.py", old="y = 2\nx = 1", new="y = 2\nx = 5")
    assert res.ok
    assert (repo / "dup.py").read_text() == "x = 1\ny = 2\nx = 5\nx = 1\n"


async def test_edit_file_crlf_file(ws: Workspace, repo: Path) -> None:
    (repo / "win.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    res = await call(ws, "edit_file", path="win.txt", old="one\ntwo", new="uno\ndos")
    assert res.ok, res.content
    assert (repo / "win.txt").read_bytes() == b"uno\r\ndos\r\nthree\r\n"


async def test_edit_file_bad_inputs(ws: Workspace) -> None:
    res = await call(ws, "edit_file", path="missing.py", old="a", new="b")
    assert not res.ok and "write_file" in res.content
    res = await call(ws, "edit_file", path="src/app.py", old="", new="b")
    assert not res.ok and "empty" in res.content
    res = await call(ws, "edit_file", path="src/app.py", old="a + b", new="a + b")
    assert not res.ok and "identical" in res.content


# ---------------------------------------------------------------- list_files


async def test_list_files_respects_gitignore(ws: Workspace, repo: Path) -> None:
    (repo / ".gitignore").write_text("build/\n*.log\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.py").write_text("x\n")
    (repo / "debug.log").write_text("x\n")
    (repo / "src" / "new_untracked.py").write_text("x\n")
    (repo / ".llmflows").mkdir()
    (repo / ".llmflows" / "notes.py").write_text("x\n")
    res = await call(ws, "list_files", pattern="*")
    assert res.ok
    files = res.content.splitlines()
    assert "README.md" in files
    assert "src/app.py" in files
    assert "src/new_untracked.py" in files
    assert ".gitignore" in files
    assert not any(f.startswith("build/") for f in files)
    assert "debug.log" not in files
    assert not any(".llmflows" in f or f.startswith(".git/") for f in files)


async def test_list_files_patterns(ws: Workspace, repo: Path) -> None:
    (repo / "top.py").write_text("x\n")
    res = await call(ws, "list_files", pattern="*.py")
    assert res.content.splitlines() == ["src/app.py", "top.py"]
    res = await call(ws, "list_files", pattern="**/*.py")
    assert res.content.splitlines() == ["src/app.py", "top.py"]
    res = await call(ws, "list_files", pattern="src")
    assert res.content.splitlines() == ["src/app.py"]
    res = await call(ws, "list_files", pattern="src/**")
    assert res.content.splitlines() == ["src/app.py"]
    res = await call(ws, "list_files", pattern="*.rs")
    assert res.ok and "No files match" in res.content


async def test_list_files_skips_deleted_tracked_files(ws: Workspace, repo: Path) -> None:
    (repo / "README.md").unlink()
    res = await call(ws, "list_files", pattern="*")
    assert "README.md" not in res.content.splitlines()


async def test_list_files_cap(ws: Workspace, repo: Path) -> None:
    for i in range(30):
        (repo / f"f{i:02}.txt").write_text("x")
    res = await call_tool(ws, "list_files", {"pattern": "*.txt"}, ToolContext(list_cap=10))
    lines = res.content.splitlines()
    assert lines[:10] == [f"f{i:02}.txt" for i in range(10)]
    assert "20 more files not shown" in lines[-1]


# ---------------------------------------------------------------- search


async def test_search_returns_file_line_text(ws: Workspace, repo: Path) -> None:
    (repo / "src" / "other.py").write_text("# add things\nvalue = add(1, 2)\n")
    res = await call(ws, "search", pattern=r"add\(")
    assert res.ok
    assert res.content.splitlines() == [
        "src/app.py:1: def add(a, b):",
        "src/other.py:2: value = add(1, 2)",
    ]
    res = await call(ws, "search", pattern="add", path="src/other.py")
    assert res.content.splitlines() == [
        "src/other.py:1: # add things",
        "src/other.py:2: value = add(1, 2)",
    ]


async def test_search_scope_ignored_binary_and_cap(ws: Workspace, repo: Path) -> None:
    (repo / ".gitignore").write_text("ignored/\n")
    (repo / "ignored").mkdir()
    (repo / "ignored" / "x.py").write_text("needle\n")
    (repo / "bin.dat").write_bytes(b"needle\x00\x01")
    (repo / "many.txt").write_text("needle\n" * 50)
    res = await call_tool(ws, "search", {"pattern": "needle"}, ToolContext(search_cap=5))
    lines = res.content.splitlines()
    assert lines[:5] == [f"many.txt:{i}: needle" for i in range(1, 6)]
    assert "45 more matches not shown" in lines[-1]
    assert "ignored/" not in res.content and "bin.dat" not in res.content


async def test_search_bad_regex_and_no_match(ws: Workspace) -> None:
    res = await call(ws, "search", pattern="add(")
    assert not res.ok and "invalid regular expression" in res.content
    res = await call(ws, "search", pattern="zzz_not_there")
    assert res.ok and "No matches" in res.content


# ---------------------------------------------------------------- dispatch + plan/finish


async def test_unknown_tool_and_bad_arguments_never_raise(ws: Workspace) -> None:
    res = await call_tool(ws, "delete_everything", {}, ToolContext())
    assert not res.ok and "Unknown tool" in res.content and "read_file" in res.content
    res = await call_tool(ws, "read_file", {"file_path": "x"}, ToolContext())
    assert not res.ok and "missing required argument(s) path" in res.content
    res = await call_tool(ws, "write_file", {"path": "x", "content": 5}, ToolContext())
    assert not res.ok and "'content' must be a string" in res.content
    res = await call_tool(ws, "read_file", "{not json", ToolContext())
    assert not res.ok and "not valid JSON" in res.content
    res = await call_tool(ws, "read_file", json.dumps({"path": "README.md"}), ToolContext())
    assert res.ok and res.content == "# demo\n"
    res = await call_tool(ws, "read_file", {"path": "README.md"}, ToolContext(tools=["finish"]))
    assert not res.ok and "Unknown tool" in res.content


async def test_submit_plan_validates_and_normalizes(ws: Workspace) -> None:
    res = await call(
        ws,
        "submit_plan",
        tasks=[
            {"title": "Add subtract", "description": "new fn", "files": ["src/app.py"]},
            {"title": "Test it", "files": ["./tests/test_app.py"]},
            "Update docs",
        ],
    )
    assert res.ok, res.content
    tasks = res.data["tasks"]
    assert [t["id"] for t in tasks] == ["t1", "t2", "t3"]
    assert tasks[0] == {
        "id": "t1",
        "title": "Add subtract",
        "description": "new fn",
        "files": ["src/app.py"],
        "status": "pending",
    }
    assert tasks[1]["files"] == ["tests/test_app.py"]
    assert tasks[2]["title"] == "Update docs"

    for bad in ([], [{"description": "no title"}], [{"title": "x", "files": ["../etc"]}]):
        res = await call(ws, "submit_plan", tasks=bad)
        assert not res.ok, bad
        assert res.data.get("tasks") is None


async def test_finish(ws: Workspace) -> None:
    res = await call(ws, "finish", summary="  Added subtract.  ")
    assert res.ok and res.data == {"summary": "Added subtract."}
    res = await call(ws, "finish", summary=" ")
    assert not res.ok


def test_tool_schemas_openai_format() -> None:
    schemas = tool_schemas(TOOL_NAMES)
    assert [s["function"]["name"] for s in schemas] == TOOL_NAMES
    for s in schemas:
        assert s["type"] == "function"
        fn = s["function"]
        assert len(fn["description"]) > 30
        params = fn["parameters"]
        assert params["type"] == "object"
        assert set(params["required"]) <= set(params["properties"])
        json.dumps(s)  # serializable
    edit = tool_schemas(["edit_file"])[0]["function"]["parameters"]
    assert edit["required"] == ["path", "old", "new"]
    assert tool_schemas(None) == schemas
    with pytest.raises(UsageError, match="unknown tool"):
        tool_schemas(["read_file", "rm_rf"])
