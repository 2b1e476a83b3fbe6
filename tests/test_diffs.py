"""engine.git.diffs: parsing git's diff output and per-hunk application on real repos."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from engine.git.diffmodel import HunkRef
from engine.git.diffs import apply_hunks, diff_commits, diff_to_worktree, parse_unified_diff
from engine.git.snapshots import Snapshotter
from tests.support.gitutil import git, init_repo

TRICKY = r"""diff --git a/my file.txt b/my file.txt
index 7898192..422c2b7 100644
--- a/my file.txt<TAB>
+++ b/my file.txt<TAB>
@@ -1,3 +1,4 @@ def section():
 a
-b
+B
+b2
 c
diff --git "a/we\"ird\tname" "b/we\"ird\tname"
new file mode 100755
index 0000000..ea0c8a8
--- /dev/null
+++ "b/we\"ird\tname"
@@ -0,0 +1 @@
+q
\ No newline at end of file
diff --git a/ü.txt b/ü.txt
deleted file mode 100644
index 587be6b..0000000
--- a/ü.txt
+++ /dev/null
@@ -1 +0,0 @@
-x
diff --git "a/\303\244 old" "b/\303\244 new"
similarity index 90%
rename from "\303\244 old"
rename to "\303\244 new"
index 1111111..2222222 100644
--- "a/\303\244 old"
+++ "b/\303\244 new"
@@ -2 +2 @@
-old
+new
diff --git a/script.sh b/script.sh
old mode 100644
new mode 100755
diff --git a/img.png b/img.png
index 3333333..4444444 100644
Binary files a/img.png and b/img.png differ
diff --git a/pure a b/pure b
similarity index 100%
rename from pure a
rename to pure b
diff --git a/ln b/ln
deleted file mode 100644
index 5555555..0000000
--- a/ln
+++ /dev/null
@@ -1 +0,0 @@
-was a file
diff --git a/ln b/ln
new file mode 120000
index 0000000..6666666
--- /dev/null
+++ b/ln
@@ -0,0 +1 @@
+target
\ No newline at end of file
""".replace("<TAB>", "\t")  # git appends a TAB to ---/+++ names with spaces


def test_parse_tricky_diff():
    d = parse_unified_diff(TRICKY)
    by = {f.path: f for f in d.files}
    assert list(by) == [
        "my file.txt",
        'we"ird\tname',
        "ü.txt",
        "ä new",
        "script.sh",
        "img.png",
        "pure b",
        "ln",
    ]
    f = by["my file.txt"]
    assert f.status == "modified" and f.old_path is None
    assert f.old_mode == f.new_mode == "100644"
    (h,) = f.hunks
    assert (h.old_start, h.old_len, h.new_start, h.new_len) == (1, 3, 1, 4)
    assert h.section == "def section():"
    assert [(ln.kind, ln.text, ln.old_no, ln.new_no) for ln in h.lines] == [
        (" ", "a", 1, 1),
        ("-", "b", 2, None),
        ("+", "B", None, 2),
        ("+", "b2", None, 3),
        (" ", "c", 3, 4),
    ]
    assert h.header == "@@ -1,3 +1,4 @@ def section():"
    assert (f.additions, f.deletions) == (2, 1)

    f = by['we"ird\tname']
    assert f.status == "added" and f.new_mode == "100755"
    assert [ln.kind for ln in f.hunks[0].lines] == ["+", "\\"]
    assert f.hunks[0].lines[1].text == "No newline at end of file"
    assert (f.hunks[0].old_start, f.hunks[0].old_len) == (0, 0)

    f = by["ü.txt"]
    assert f.status == "deleted" and f.old_mode == "100644" and f.old_path is None

    f = by["ä new"]
    assert f.status == "renamed" and f.old_path == "ä old"
    assert f.hunks[0].old_start == 2 and f.hunks[0].old_len == 1

    f = by["script.sh"]
    assert f.mode_changed and (f.old_mode, f.new_mode) == ("100644", "100755")
    assert f.hunks == []

    assert by["img.png"].binary and by["img.png"].hunks == []
    f = by["pure b"]
    assert f.status == "renamed" and f.old_path == "pure a" and f.hunks == []

    f = by["ln"]
    assert f.status == "type_changed"
    assert (f.old_mode, f.new_mode) == ("100644", "120000")
    assert [h.index for h in f.hunks] == [0, 1]
    assert d.additions == sum(x.additions for x in d.files)
    assert d.to_dict()["files"][0]["hunks"][0]["header"] == "@@ -1,3 +1,4 @@ def section():"


def test_parse_ignores_preamble_and_empty_input():
    assert parse_unified_diff("").files == []
    d = parse_unified_diff("commit abc\n\n    message\n\n" + TRICKY)
    assert len(d.files) == 8


def test_parse_context_line_with_stripped_space():
    text = "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-c\n+C\n"
    (f,) = parse_unified_diff(text).files
    assert [(ln.kind, ln.text) for ln in f.hunks[0].lines] == [
        (" ", "a"),
        (" ", ""),
        ("-", "c"),
        ("+", "C"),
    ]


def _lines(n: int, change: set[int] | None = None) -> str:
    return "".join(f"line {i}{' CHANGED' if change and i in change else ''}\n" for i in range(n))


def commit_all(root: Path, msg: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", msg)
    return git(root, "rev-parse", "HEAD").strip()


def test_diff_commits_real_repo_matches_git(repo: Path):
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "long.txt").write_text(_lines(60))
    base = commit_all(repo, "long")
    (repo / "long.txt").write_text(_lines(60, {5, 30, 55}))
    (repo / "sp ace ü.txt").write_text("new\n")
    (repo / "bin.dat").write_bytes(b"\x00\x01\x02" * 100)
    (repo / "src/app.py").rename(repo / "src/app2.py")
    (repo / "README.md").chmod(0o755)
    target = commit_all(repo, "changes")
    d = diff_commits(repo, base, target)
    by = {f.path: f for f in d.files}
    assert len(by["long.txt"].hunks) == 3
    assert by["sp ace ü.txt"].status == "added"
    assert by["bin.dat"].binary and by["bin.dat"].new_size == 300
    assert by["bin.dat"].old_size is None
    assert by["src/app2.py"].status == "renamed"
    assert by["src/app2.py"].old_path == "src/app.py"
    assert by["README.md"].mode_changed
    assert (d.from_ref, d.to_ref) == (base, target)
    # too large: hunks dropped, file still listed
    d2 = diff_commits(repo, base, target, max_file_lines=5)
    by2 = {f.path: f for f in d2.files}
    assert by2["long.txt"].too_large and by2["long.txt"].hunks == []


def test_diff_commits_lists_files_and_reads_hunks_only_when_asked(repo: Path, monkeypatch):
    """The listing runs no patch; one file's hunks are read alone; a walk reads the rest in
    one more ``git diff``; and the result equals a parse of git's whole patch."""
    from engine.git import diffs

    (repo / "long.txt").write_text(_lines(60))
    (repo / "old name.txt").write_text(_lines(30))
    (repo / "ln").write_text("was a file\n")
    (repo / "bin.dat").write_bytes(b"\x00old")
    (repo / "latin.txt").write_bytes(b"caf\xe9\n")
    base = commit_all(repo, "base")
    (repo / "long.txt").write_text(_lines(60, {5, 30, 55}))
    (repo / "old name.txt").rename(repo / "new name.txt")
    (repo / "new name.txt").write_text(_lines(30, {12}))
    (repo / "ln").unlink()
    os.symlink("long.txt", repo / "ln")
    (repo / "bin.dat").write_bytes(b"\x00new!")
    (repo / "latin.txt").write_bytes(b"caf\xe9 au lait\n")
    (repo / "README.md").chmod(0o755)
    (repo / "src/app.py").unlink()
    (repo / "added.txt").write_text("a\nb\n")
    target = commit_all(repo, "target")

    calls: list[tuple[str, ...]] = []
    real = diffs.run_git

    def counting(r, *args, **kw):
        calls.append(args)
        return real(r, *args, **kw)

    monkeypatch.setattr(diffs, "run_git", counting)
    d = diff_commits(repo, base, target)
    patches = [c for c in calls if "diff" in c and "--raw" not in c]
    assert patches == []  # listed from --raw/--numstat only
    by = {f.path: f for f in d.files}
    assert by["new name.txt"].status == "renamed" and by["new name.txt"].old_path == "old name.txt"
    assert by["ln"].status == "type_changed" and by["ln"].new_mode == "120000"
    assert by["bin.dat"].binary and by["bin.dat"].new_size == 5
    assert by["README.md"].mode_changed and by["README.md"].hunks == []
    assert (by["long.txt"].additions, by["long.txt"].deletions) == (3, 3)
    assert not any(f.hunks_loaded for f in d.files if f.additions + f.deletions and not f.binary)

    assert len(by["new name.txt"].hunks) == 1  # one file: read alone
    assert len([c for c in calls if "-U3" in c]) == 1
    assert not by["long.txt"].hunks_loaded
    d.load_hunks()  # a walk of the rest: one more git diff for every other file
    assert len([c for c in calls if "-U3" in c]) == 2

    calls.clear()
    diff_commits(repo, base, target).load_hunks()  # a walk from the start: one patch in all
    assert len([c for c in calls if "-U3" in c]) == 1

    monkeypatch.setattr(diffs, "run_git", real)
    patch = subprocess.run(
        ["git", "diff", "--no-color", "-M", "--full-index", "--inter-hunk-context=0", base, target],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    whole = parse_unified_diff(patch.decode("utf-8", "replace"))

    def shape(files):
        return [
            (
                f.path,
                f.status,
                f.old_path,
                f.binary,
                f.additions,
                f.deletions,
                [(h.header, [(ln.kind, ln.text) for ln in h.lines]) for h in f.hunks],
            )
            for f in files
        ]

    assert shape(d.files) == shape(whole.files)

    # A viewer's batch: exactly the files asked for, in one limited git diff (renames in
    # one more, with both paths), hunks and keys as in the whole diff.
    monkeypatch.setattr(diffs, "run_git", counting)
    calls.clear()
    lazy = diff_commits(repo, base, target)
    wanted = {"long.txt", "ln", "new name.txt", "latin.txt"}
    lazy.load_hunks([f for f in lazy.files if f.path in wanted])
    reads = [c for c in calls if "-U3" in c]
    assert len(reads) == 2
    assert sorted(reads[0][reads[0].index("--") + 1 :]) == ["latin.txt", "ln", "long.txt"]
    assert "--no-renames" in reads[0] and "--no-renames" not in reads[1]
    assert sorted(reads[1][reads[1].index("--") + 1 :]) == ["new name.txt", "old name.txt"]
    assert {f.path for f in lazy.files if f.hunks_loaded and f.hunks} == wanted
    assert not {f.path for f in lazy.files if not f.hunks_loaded} & wanted
    chosen = [f for f in lazy.files if f.path in wanted]
    same = [f for f in whole.files if f.path in wanted]
    assert shape(chosen) == shape(same)
    assert [r.key for f in chosen for r in f.refs()] == [r.key for f in same for r in f.refs()]
    assert len([c for c in calls if "-U3" in c]) == 2  # nothing read twice


def test_diff_commits_ignores_user_diff_config(repo: Path):
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "README.md").write_text("changed\n")
    target = commit_all(repo, "c")
    git(repo, "config", "diff.noprefix", "true")
    git(repo, "config", "color.diff", "always")
    git(repo, "config", "diff.external", "false")
    d = diff_commits(repo, base, target)
    assert [f.path for f in d.files] == ["README.md"]
    assert d.files[0].hunks[0].lines[-1].text == "changed"


def test_diff_to_worktree_includes_untracked_and_leaves_index(repo: Path):
    base = git(repo, "rev-parse", "HEAD").strip()
    index_before = (repo / ".git/index").read_bytes()
    (repo / "untracked.txt").write_text("hello\n")
    (repo / "README.md").write_text("edited\n")
    (repo / "src/app.py").unlink()
    d = diff_to_worktree(repo, base)
    by = {f.path: f.status for f in d.files}
    assert by == {"untracked.txt": "added", "README.md": "modified", "src/app.py": "deleted"}
    assert d.to_ref is None
    assert (repo / ".git/index").read_bytes() == index_before
    assert git(repo, "for-each-ref", "refs/llmflows") == ""  # no refs created


def test_diff_to_worktree_marks_too_large(repo: Path):
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "README.md").write_text("x" * 5000)
    (repo / "big.new").write_text("y" * 5000)
    d = diff_to_worktree(repo, base, max_file_bytes=1000)
    by = {f.path: f for f in d.files}
    assert by["README.md"].too_large and by["README.md"].status == "modified"
    assert by["big.new"].too_large and by["big.new"].status == "added"


def test_apply_hunks_keeps_only_accepted(repo: Path):
    (repo / "long.txt").write_text(_lines(60))
    (repo / "keep.txt").write_text("keep\n")
    (repo / "old name.txt").write_text(_lines(20))
    (repo / "gone.txt").write_text("bye\n")
    base = commit_all(repo, "base")
    (repo / "long.txt").write_text(_lines(60, {5, 30, 55}))
    (repo / "added.txt").write_text("added\n")
    (repo / "gone.txt").unlink()
    (repo / "old name.txt").rename(repo / "new name.txt")
    (repo / "new name.txt").write_text(_lines(20, {10}))
    (repo / "keep.txt").chmod(0o755)
    target = commit_all(repo, "target")
    d = diff_commits(repo, base, target)
    assert len({f.path: f for f in d.files}["long.txt"].hunks) == 3

    touched = apply_hunks(
        repo,
        base,
        target,
        {HunkRef("long.txt", 0), HunkRef("long.txt", 2), HunkRef("added.txt", 0)},
    )
    assert (repo / "long.txt").read_text() == _lines(60, {5, 55})
    assert (repo / "added.txt").read_text() == "added\n"
    assert (repo / "gone.txt").read_text() == "bye\n"  # deletion rejected
    assert (repo / "old name.txt").read_text() == _lines(20)  # rename rejected
    assert not (repo / "new name.txt").exists()
    assert not os.access(repo / "keep.txt", os.X_OK)  # mode change rejected
    assert "long.txt" in touched and "added.txt" in touched

    # now accept the rest: the tree becomes the target exactly
    d_all = {HunkRef(f.path, h.index) for f in d.files for h in f.hunks} | {
        HunkRef(f.path, 0) for f in d.files
    }
    apply_hunks(repo, base, target, d_all)
    assert git(repo, "status", "--porcelain") == ""


def test_apply_hunks_newline_at_eof_and_binary_and_symlink(repo: Path):
    (repo / "noeol.txt").write_bytes(b"a\nb\nc")
    (repo / "b.bin").write_bytes(b"\x00old")
    os.symlink("README.md", repo / "ln")
    base = commit_all(repo, "base")
    (repo / "noeol.txt").write_bytes(b"a\nb\nc\n")
    (repo / "b.bin").write_bytes(b"\x00new")
    (repo / "ln").unlink()
    os.symlink("src/app.py", repo / "ln")
    target = commit_all(repo, "t")
    apply_hunks(repo, base, target, {HunkRef("noeol.txt", 0), HunkRef("ln", 0)})
    assert (repo / "noeol.txt").read_bytes() == b"a\nb\nc\n"
    assert (repo / "b.bin").read_bytes() == b"\x00old"
    assert os.readlink(repo / "ln") == "src/app.py"
    apply_hunks(repo, base, target, {HunkRef("b.bin", 0)})
    assert (repo / "noeol.txt").read_bytes() == b"a\nb\nc"
    assert (repo / "b.bin").read_bytes() == b"\x00new"
    assert os.readlink(repo / "ln") == "README.md"


def test_apply_hunks_with_snapshots(tmp_path: Path):
    root = init_repo(tmp_path / "r", {"f.txt": _lines(40)})
    with Snapshotter(root) as snap:
        base = snap.snapshot("refs/llmflows/r/0", "base")
        (root / "f.txt").write_text(_lines(40, {1, 38}))
        target = snap.snapshot("refs/llmflows/r/1", "agent")
    apply_hunks(root, base.commit, target.commit, {HunkRef("f.txt", 1)})
    assert (root / "f.txt").read_text() == _lines(40, {38})
