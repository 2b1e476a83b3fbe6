"""Path confinement: every escape an agent might try is refused with a usable message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.errors import PathConfinementError, ToolError
from engine.tools import ToolContext, Workspace, call_tool, read_file, write_file
from tests.support.gitutil import git


@pytest.fixture
def ws(repo: Path) -> Workspace:
    return Workspace(repo)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.txt").write_text("top secret\n")
    return d


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "../repo/../outside/secret.txt",
        "sub/../../x",
        "src/../../x",
        "/etc/passwd",
        "..",
    ],
)
def test_escapes_are_refused(ws: Workspace, path: str) -> None:
    with pytest.raises(PathConfinementError, match="outside the repository"):
        ws.resolve(path)


def test_absolute_path_outside_root_is_refused(ws: Workspace, outside: Path) -> None:
    with pytest.raises(PathConfinementError) as e:
        ws.resolve(str(outside / "secret.txt"))
    assert "relative to the repository root" in str(e.value)


@pytest.mark.parametrize(
    "path", [".git/config", ".git/../.git/HEAD", ".git", "./.git/hooks/pre-commit", ".GIT/config"]
)
def test_git_dir_is_refused(ws: Workspace, path: str) -> None:
    with pytest.raises(PathConfinementError, match=r"\.git"):
        ws.resolve(path)


def test_nested_git_and_llmflows_are_refused(ws: Workspace, repo: Path) -> None:
    with pytest.raises(PathConfinementError, match=r"\.git"):
        ws.resolve("vendor/lib/.git/config")
    with pytest.raises(PathConfinementError, match=r"\.llmflows"):
        ws.resolve(".llmflows/history.db")
    with pytest.raises(PathConfinementError, match=r"\.llmflows"):
        ws.resolve(".llmflows/flows/x.yaml")


def test_git_file_of_a_linked_worktree_is_refused(repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(wt), "-b", "side")
    assert (wt / ".git").is_file()
    w = Workspace(wt)
    with pytest.raises(PathConfinementError, match=r"\.git"):
        w.resolve(".git")
    # Normal files in the worktree are fine.
    assert w.resolve("README.md") == (wt / "README.md").resolve()


def test_symlink_to_file_outside_is_refused(ws: Workspace, repo: Path, outside: Path) -> None:
    (repo / "link.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(PathConfinementError, match="symlink"):
        ws.resolve("link.txt")
    with pytest.raises(ToolError):
        read_file(ws, "link.txt")


def test_symlinked_directory_escape_is_refused(ws: Workspace, repo: Path, outside: Path) -> None:
    (repo / "linkdir").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PathConfinementError, match="symlink"):
        ws.resolve("linkdir/secret.txt")
    # Writing a new file through it is refused too, and nothing is created outside.
    with pytest.raises(PathConfinementError):
        write_file(ws, "linkdir/new.txt", "x")
    assert not (outside / "new.txt").exists()


def test_symlink_dir_then_dotdot_follows_the_real_path(
    ws: Workspace, repo: Path, outside: Path
) -> None:
    # linkdir/.. is `outside`'s parent for the OS, not the repo root.
    (outside / "inner").mkdir()
    (repo / "linkdir").symlink_to(outside / "inner", target_is_directory=True)
    with pytest.raises(PathConfinementError):
        ws.resolve("linkdir/../secret.txt")


def test_symlink_into_git_dir_is_refused(ws: Workspace, repo: Path) -> None:
    (repo / "cfg").symlink_to(repo / ".git" / "config")
    with pytest.raises(PathConfinementError, match=r"\.git"):
        ws.resolve("cfg")


def test_dangling_symlink_pointing_outside_is_refused(
    ws: Workspace, repo: Path, outside: Path
) -> None:
    (repo / "dangling").symlink_to(outside / "does-not-exist.txt")
    with pytest.raises(PathConfinementError):
        write_file(ws, "dangling", "pwned")
    assert not (outside / "does-not-exist.txt").exists()


def test_symlink_inside_the_repo_is_allowed(ws: Workspace, repo: Path) -> None:
    (repo / "alias.py").symlink_to("src/app.py")
    assert ws.resolve("alias.py") == (repo / "src" / "app.py").resolve()


@pytest.mark.parametrize(
    "path",
    [
        "README.md",
        "./README.md",
        "src/app.py",
        "src/../README.md",
        "new dir/with space.txt",
        "données/café ☕.md",
        ".github/workflows/ci.yml",
        ".gitignore",
        ".llmflowsrc",
        "not.git/file",
    ],
)
def test_normal_paths_inside_are_allowed(ws: Workspace, repo: Path, path: str) -> None:
    p = ws.resolve(path)
    assert p == Path(os.path.normpath(repo.resolve() / path))


def test_absolute_path_inside_root_is_allowed(ws: Workspace, repo: Path) -> None:
    assert ws.resolve(str(repo / "src" / "app.py")) == (repo / "src" / "app.py").resolve()


def test_root_itself_resolves(ws: Workspace, repo: Path) -> None:
    assert ws.resolve(".") == repo.resolve()
    assert ws.relpath(ws.resolve(".")) == "."


@pytest.mark.parametrize("path", ["", "   ", "a\x00b"])
def test_empty_and_nul_paths_are_refused(ws: Workspace, path: str) -> None:
    with pytest.raises(PathConfinementError):
        ws.resolve(path)


def test_symlinked_root_is_handled(repo: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(repo, target_is_directory=True)
    w = Workspace(alias)
    assert w.resolve("README.md") == (repo / "README.md").resolve()
    with pytest.raises(PathConfinementError):
        w.resolve("../outside.txt")


async def test_call_tool_reports_confinement_without_raising(ws: Workspace) -> None:
    for name, args in [
        ("read_file", {"path": "../../etc/passwd"}),
        ("write_file", {"path": ".git/hooks/post-commit", "content": "evil"}),
        ("edit_file", {"path": "/etc/hosts", "old": "a", "new": "b"}),
        ("search", {"pattern": "root", "path": "/etc"}),
        ("list_files", {"pattern": "../*"}),
    ]:
        res = await call_tool(ws, name, args, ToolContext())
        assert res.ok is False, name
        assert res.data["error"] == "path_refused"
        assert "repository" in res.content or ".git" in res.content
    assert not (ws.root / ".git" / "hooks" / "post-commit").exists()


async def test_list_files_hides_escaping_symlinks(ws: Workspace, repo: Path, outside: Path) -> None:
    (repo / "link.txt").symlink_to(outside / "secret.txt")
    (repo / "ok_link.py").symlink_to("src/app.py")
    res = await call_tool(ws, "list_files", {"pattern": "*"}, ToolContext())
    files = res.content.splitlines()
    assert "link.txt" not in files
    assert "ok_link.py" in files
