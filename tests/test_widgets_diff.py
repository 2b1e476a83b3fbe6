"""DiffView and FileList: rendering, hunk navigation/review, big diffs, snapshots."""

from __future__ import annotations

from textual.app import App, ComposeResult

from engine.git.diffmodel import Diff, DiffLine, FileDiff, Hunk, HunkRef
from tui.widgets.diff_view import DiffView, _pair_lines, file_summary, lexer_for_path
from tui.widgets.file_list import FileList

SIZE = (100, 30)


def py_diff() -> Diff:
    """Two hunks in a Python file, a binary file, a mode-only rename."""
    h0 = Hunk(
        index=0,
        old_start=1,
        old_len=3,
        new_start=1,
        new_len=4,
        section="def add(a, b):",
        lines=[
            DiffLine(" ", "def add(a, b):", 1, 1),
            DiffLine("-", "    return a+b", 2, None),
            DiffLine("+", "    # sum of two numbers", None, 2),
            DiffLine("+", "    return a + b", None, 3),
            DiffLine(" ", "", 3, 4),
        ],
    )
    h1 = Hunk(
        index=1,
        old_start=10,
        old_len=2,
        new_start=11,
        new_len=2,
        lines=[
            DiffLine(" ", "class Calc:", 10, 11),
            DiffLine("-", "    x = 1", 11, None),
            DiffLine("+", "    x = 2", None, 12),
        ],
    )
    return Diff(
        files=[
            FileDiff(path="src/app.py", status="modified", hunks=[h0, h1]),
            FileDiff(path="logo.png", status="modified", binary=True, old_size=1200, new_size=3400),
            FileDiff(
                path="bin/run.sh",
                old_path="run.sh",
                status="renamed",
                old_mode="100644",
                new_mode="100755",
            ),
            FileDiff(path="data/huge.csv", status="modified", too_large=True, new_size=9_000_000),
            FileDiff(
                path="README.md",
                status="added",
                hunks=[
                    Hunk(
                        0,
                        0,
                        0,
                        1,
                        2,
                        lines=[DiffLine("+", "# Demo", None, 1), DiffLine("+", "text", None, 2)],
                    )
                ],
            ),
        ]
    )


def big_diff(n_lines: int, per_file: int = 2000) -> Diff:
    files = []
    made = 0
    while made < n_lines:
        count = min(per_file, n_lines - made)
        lines = [
            DiffLine("+", f"value_{made + i} = {i}  # line {i + 1}", None, i + 1)
            for i in range(count)
        ]
        files.append(
            FileDiff(
                path=f"gen/mod{len(files)}.py",
                status="added",
                hunks=[Hunk(0, 0, 0, 1, count, lines=lines)],
            )
        )
        made += count
    return Diff(files=files)


class DiffApp(App[None]):
    def __init__(self, diff: Diff | None = None, mode: str = "unified") -> None:
        super().__init__()
        self._diff = diff
        self._mode = mode
        self.messages: list[object] = []

    def compose(self) -> ComposeResult:
        yield DiffView(id="diff")

    def on_mount(self) -> None:
        dv = self.query_one(DiffView)
        if self._diff is not None:
            dv.set_diff(self._diff)
        dv.set_mode(self._mode)  # type: ignore[arg-type]
        dv.focus()

    def on_diff_view_hunk_toggled(self, message: DiffView.HunkToggled) -> None:
        self.messages.append(("toggled", message.ref, message.accepted))

    def on_diff_view_current_hunk_changed(self, message: DiffView.CurrentHunkChanged) -> None:
        self.messages.append(("current", message.ref))


def screen_text(dv: DiffView) -> list[str]:
    return [line.rstrip() for line in dv.rendered_text()]


async def test_unified_render_shows_headers_gutter_and_markers():
    app = DiffApp(py_diff())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dv = app.query_one(DiffView)
        lines = screen_text(dv)
        assert lines[0] == " M src/app.py  +3 -2"
        assert lines[1] == "▌✓ @@ -1,3 +1,4 @@ def add(a, b):"
        assert lines[2] == "▌  1  1   def add(a, b):"
        assert lines[3] == "▌  2    -     return a+b"
        assert lines[4] == "▌     2 +     # sum of two numbers"
        assert lines[5] == "▌     3 +     return a + b"
        # The second hunk is not current: no indicator bar.
        assert lines[7] == " ✓ @@ -10,2 +11,2 @@"
        assert lines[9] == "  11    -     x = 1"
        assert lines[10] == "     12 +     x = 2"
        assert lines[11] == " M logo.png  [binary]"
        assert lines[12] == "   Binary file changed: 1.2 KB → 3.3 KB"
        assert lines[13] == " R run.sh → bin/run.sh  mode 100644 → 100755"
        assert lines[14] == "   Mode changed 100644 → 100755 (content unchanged)"
        assert lines[15] == " M data/huge.csv"
        assert lines[16] == "   Diff too large to display: ? → 8.6 MB"
        assert lines[17] == " A README.md  +2 -0"


async def test_split_render_pairs_old_and_new():
    app = DiffApp(py_diff(), mode="split")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dv = app.query_one(DiffView)
        lines = screen_text(dv)
        assert lines[0] == " M src/app.py  +3 -2"
        left, right = lines[2][1:50], lines[2][51:]
        assert left.strip() == "1   def add(a, b):"
        assert right.strip() == "1   def add(a, b):"
        assert "│" in lines[2]
        # Removal paired with the first addition; second addition has an empty left side.
        assert lines[3][1:50].strip() == "2 -     return a+b"
        assert lines[3][51:].strip() == "2 +     # sum of two numbers"
        assert lines[4][1:50].strip() == ""
        assert lines[4][51:].strip() == "3 +     return a + b"
        assert dv.row_count < len(screen_text(dv)) + 100


async def test_mode_toggle_with_v_keeps_position():
    app = DiffApp(big_diff(3000, per_file=1000))
    async with app.run_test(size=SIZE) as pilot:
        dv = app.query_one(DiffView)
        dv.scroll_to(y=1500, animate=False, immediate=True)
        await pilot.pause()
        top_before = screen_text(dv)[0]
        await pilot.press("v")
        assert dv.mode == "split"
        top_after = screen_text(dv)[0]
        # Same new-file line number at the top in both modes.
        assert top_before.split()[0] == top_after.split("│")[1].split()[0]
        await pilot.press("v")
        assert dv.mode == "unified"


async def test_j_k_move_current_hunk_across_files_and_post_messages():
    app = DiffApp(py_diff())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dv = app.query_one(DiffView)
        assert dv.current_hunk() == HunkRef("src/app.py", 0)
        await pilot.press("j")
        assert dv.current_hunk() == HunkRef("src/app.py", 1)
        lines = screen_text(dv)
        assert lines[7].startswith("▌✓ @@ -10,2")
        assert not lines[1].startswith("▌")
        await pilot.press("j")  # binary / too-large / mode-only files have no hunks
        assert dv.current_hunk() == HunkRef("README.md", 0)
        await pilot.press("j")  # stays on the last hunk
        assert dv.current_hunk() == HunkRef("README.md", 0)
        await pilot.press("k", "k")
        assert dv.current_hunk() == HunkRef("src/app.py", 0)
        await pilot.pause()
        currents = [m[1] for m in app.messages if m[0] == "current"]
        assert currents == [
            HunkRef("src/app.py", 0),
            HunkRef("src/app.py", 1),
            HunkRef("README.md", 0),
            HunkRef("src/app.py", 1),
            HunkRef("src/app.py", 0),
        ]


async def test_j_scrolls_to_a_far_hunk():
    diff = big_diff(400, per_file=100)
    app = DiffApp(diff)
    async with app.run_test(size=SIZE) as pilot:
        dv = app.query_one(DiffView)
        await pilot.press("j", "j", "j")
        assert dv.current_hunk() == HunkRef("gen/mod3.py", 0)
        assert dv.scroll_y > 0
        assert any("@@ -0,0 +1,100 @@" in line for line in screen_text(dv))
        assert dv.current_file() == "gen/mod3.py"


async def test_space_toggles_current_hunk_and_accepted_set():
    app = DiffApp(py_diff())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dv = app.query_one(DiffView)
        everything = {HunkRef("src/app.py", 0), HunkRef("src/app.py", 1), HunkRef("README.md", 0)}
        assert dv.accepted_hunks() == everything
        assert dv.rejected_hunks() == set()
        await pilot.press("j", "space")
        assert dv.rejected_hunks() == {HunkRef("src/app.py", 1)}
        assert dv.accepted_hunks() == everything - {HunkRef("src/app.py", 1)}
        lines = screen_text(dv)
        assert lines[0] == " M src/app.py  +3 -2  (1/2 hunks rejected)"
        assert lines[7].startswith("▌✗ rejected  @@ -10,2 +11,2 @@")
        assert lines[9] == "▌ 11    ✗     x = 1"
        await pilot.press("space")
        assert dv.rejected_hunks() == set()
        await pilot.pause()
        toggles = [m for m in app.messages if m[0] == "toggled"]
        assert toggles == [
            ("toggled", HunkRef("src/app.py", 1), False),
            ("toggled", HunkRef("src/app.py", 1), True),
        ]


async def test_rejected_hunk_is_struck_through():
    app = DiffApp(py_diff())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dv = app.query_one(DiffView)
        dv.set_hunk_accepted(HunkRef("src/app.py", 0), False)
        strip = dv.render_line(3)  # "-     return a+b" of the rejected hunk
        code = [seg for seg in strip if "return" in seg.text]
        assert code and all(seg.style is not None and seg.style.strike for seg in code)


async def test_set_diff_with_accepted_subset():
    diff = py_diff()
    app = DiffApp()
    async with app.run_test(size=SIZE) as pilot:
        dv = app.query_one(DiffView)
        dv.set_diff(diff, accepted={HunkRef("README.md", 0)})
        await pilot.pause()
        assert dv.accepted_hunks() == {HunkRef("README.md", 0)}
        assert dv.rejected_hunks() == {HunkRef("src/app.py", 0), HunkRef("src/app.py", 1)}
        dv.set_all_accepted(True)
        assert dv.rejected_hunks() == set()
        assert dv.toggle_current_hunk() is False


async def test_n_p_and_jump_to_file():
    app = DiffApp(py_diff())
    async with app.run_test(size=(100, 8)) as pilot:
        dv = app.query_one(DiffView)
        await pilot.press("n")
        assert screen_text(dv)[0] == " M logo.png  [binary]"
        await pilot.press("n", "n", "n")
        # Near the end the view cannot scroll the header to the top: it is visible.
        assert " A README.md  +2 -0" in screen_text(dv)
        assert dv.current_hunk() == HunkRef("README.md", 0)
        await pilot.press("p", "p", "p")
        assert screen_text(dv)[0] == " M logo.png  [binary]"
        assert dv.jump_to_file("run.sh")  # old path of a rename works too
        assert screen_text(dv)[0].startswith(" R run.sh → bin/run.sh")
        assert dv.jump_to_file("src/app.py")
        assert dv.current_hunk() == HunkRef("src/app.py", 0)
        assert not dv.jump_to_file("nope.txt")


async def test_empty_diff():
    app = DiffApp(Diff())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dv = app.query_one(DiffView)
        assert screen_text(dv)[0] == " No changes"
        assert dv.current_hunk() is None
        assert dv.toggle_current_hunk() is None
        await pilot.press("j", "n", "space", "v")


async def test_python_is_highlighted_and_unknown_extension_is_plain():
    assert lexer_for_path("src/app.py") is not None
    assert lexer_for_path("weird.unknownext") is None
    assert lexer_for_path("Makefile") is not None
    diff = Diff(
        files=[
            FileDiff(
                path="x.unknownext",
                status="added",
                hunks=[Hunk(0, 0, 0, 1, 1, lines=[DiffLine("+", "def foo(): pass", None, 1)])],
            ),
            FileDiff(
                path="x.py",
                status="added",
                hunks=[Hunk(0, 0, 0, 1, 1, lines=[DiffLine("+", "def foo(): pass", None, 1)])],
            ),
        ]
    )
    app = DiffApp(diff)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dv = app.query_one(DiffView)
        plain = {seg.style.color for seg in dv.render_line(2) if "def" in seg.text}
        colored = {seg.style.color for seg in dv.render_line(5) if seg.text.strip() == "def"}
        assert screen_text(dv)[5].endswith("def foo(): pass")
        assert colored and plain and colored != plain


async def test_control_chars_and_tabs_are_sanitized():
    diff = Diff(
        files=[
            FileDiff(
                path="t.txt",
                status="added",
                hunks=[Hunk(0, 0, 0, 1, 1, lines=[DiffLine("+", "a\tb\x1b[31mc\r", None, 1)])],
            )
        ]
    )
    app = DiffApp(diff)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        line = screen_text(app.query_one(DiffView))[2]
        assert "\x1b" not in line and "\t" not in line
        assert line.endswith("a   b\ufffd[31mc␍")


def test_pair_lines_for_split_mode():
    k = [DiffLine(x, "") for x in [" ", "-", "-", "+", "\\", " ", "+"]]
    assert list(_pair_lines(k)) == [(0, 0), (1, 3), (2, 4), (5, 5), (-1, 6)]


def test_file_summary_texts():
    assert file_summary(FileDiff("a.bin", "added", binary=True, new_size=10)) == (
        "Binary file added (10 B)"
    )
    assert file_summary(FileDiff("a", "renamed", old_path="b")) == "Renamed without changes"
    assert file_summary(FileDiff("a", "added")) == "Empty file added"


async def test_20k_line_diff_opens_and_pages():
    diff = big_diff(20_000)
    app = DiffApp()
    async with app.run_test(size=(120, 40)) as pilot:
        dv = app.query_one(DiffView)
        dv.focus()
        dv.set_diff(diff)
        await pilot.pause()
        first = screen_text(dv)
        assert first[0] == " A gen/mod0.py  +2000 -0"
        assert dv.row_count == 20_000 + 2 * len(diff.files)
        height = dv.scrollable_content_region.height
        for _ in range(10):
            await pilot.press("pagedown")
        assert dv.scroll_y == 10 * height
        # Row r of the first file is line r-1 (file header + hunk header above).
        assert f"value_{10 * height - 2} =" in screen_text(dv)[0]
        await pilot.press("end")
        assert "line 2000" in screen_text(dv)[-1]
        await pilot.press("pageup", "home")
        assert screen_text(dv) == first
        # Only rows that were on screen were rendered and cached.
        assert len(dv._line_cache) <= 512


async def test_file_list_rows_and_selection_message():
    selected: list[str] = []

    class ListApp(App[None]):
        def compose(self) -> ComposeResult:
            yield FileList(py_diff())

        def on_file_list_file_selected(self, message: FileList.FileSelected) -> None:
            selected.append(message.path)

    app = ListApp()
    async with app.run_test(size=(80, 12)) as pilot:
        fl = app.query_one(FileList)
        fl.focus()
        assert fl.paths == ["src/app.py", "logo.png", "bin/run.sh", "data/huge.csv", "README.md"]
        rows = [str(fl.row_text(i)) for i in range(len(fl.paths))]
        assert rows[0].split() == ["M", "+3", "-2", "src/app.py"]
        assert rows[1].split() == ["M", "binary", "logo.png"]
        assert rows[2].split()[:4] == ["R", "+0", "-0", "run.sh"]
        assert "bin/run.sh" in rows[2] and "(100644→100755)" in rows[2]
        assert rows[3].split()[:3] == ["M", "too", "large"]
        assert rows[4].split() == ["A", "+2", "-0", "README.md"]
        await pilot.press("down", "enter")
        await pilot.pause()
        assert selected == ["logo.png"]
        assert fl.highlight_path("README.md") and fl.highlighted_path == "README.md"
        await pilot.pause()
        assert selected == ["logo.png"]  # highlighting from code posts nothing
        fl.set_rejected_counts({"src/app.py": 1})
        assert "✗1" in str(fl.row_text(0))


# ---------------------------------------------------------------- snapshots


class SnapApp(App[None]):
    """DiffView + FileList as the review screen might lay them out."""

    CSS = "FileList { height: 7; }"

    def __init__(self, mode: str) -> None:
        super().__init__()
        self._mode = mode

    def compose(self) -> ComposeResult:
        yield FileList(py_diff())
        yield DiffView(id="diff")

    def on_mount(self) -> None:
        dv = self.query_one(DiffView)
        dv.set_diff(py_diff())
        dv.set_mode(self._mode)  # type: ignore[arg-type]
        dv.set_hunk_accepted(HunkRef("src/app.py", 1), False)
        dv.focus()


def test_snapshot_diff_unified(snap_compare):
    assert snap_compare(SnapApp("unified"), terminal_size=(120, 40))


def test_snapshot_diff_split(snap_compare):
    assert snap_compare(SnapApp("split"), terminal_size=(120, 40))
