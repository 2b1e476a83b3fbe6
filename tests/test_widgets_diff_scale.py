"""DiffView / FileList at scale: long lines, wrap, word changes, split scroll, 10k files."""

from __future__ import annotations

from textual.app import App, ComposeResult

from engine.git.diffmodel import Diff, DiffLine, FileDiff, Hunk, HunkRef
from tui.widgets.diff_view import MORE_LEFT, MORE_RIGHT, DiffView, word_diff
from tui.widgets.file_list import FileList


def one_hunk(path: str, lines: list[DiffLine]) -> FileDiff:
    olds = sum(1 for ln in lines if ln.kind != "+")
    news = sum(1 for ln in lines if ln.kind != "-")
    return FileDiff(path=path, status="modified", hunks=[Hunk(0, 1, olds, 1, news, lines=lines)])


def long_line_diff(n: int) -> Diff:
    text = "".join(f"{i % 10}" for i in range(n))
    return Diff(
        files=[
            one_hunk(
                "data.py",
                [
                    DiffLine(" ", "x = 1", 1, 1),
                    DiffLine("-", "y = 'short'", 2, None),
                    DiffLine("+", text, None, 2),
                ],
            )
        ]
    )


def many_files(n: int) -> Diff:
    return Diff(
        files=[
            one_hunk(f"pkg{i // 100}/mod{i}.py", [DiffLine("+", f"v = {i}", None, 1)])
            for i in range(n)
        ]
    )


class ViewApp(App[None]):
    def __init__(self, diff: Diff, **kwargs) -> None:
        super().__init__()
        self._diff = diff
        self._kwargs = kwargs

    def compose(self) -> ComposeResult:
        yield DiffView(self._diff, **self._kwargs)


async def test_a_5mb_line_is_sliced_never_lexed_and_marked():
    diff = long_line_diff(5_000_000)
    app = ViewApp(diff)
    async with app.run_test(size=(130, 20)) as pilot:
        dv = app.query_one(DiffView)
        assert not dv.wrapping  # 130 columns: wrap is off by default
        lines = dv.rendered_text()
        long_row = next(ln for ln in lines if "0123456789" in ln)
        assert long_row.rstrip().endswith(MORE_RIGHT)  # continues off screen
        # The long line never went through the lexer (its tokens are not cached).
        assert dv._token_cache.get((0, 0, 2)) is None and dv._token_cache.get((0, 0, 0))
        assert dv.virtual_size.width > 5_000_000
        dv.scroll_to(x=2_000_003, animate=False, immediate=True)
        await pilot.pause()
        rows = dv.rendered_text()
        assert all(MORE_LEFT in ln for ln in rows if " + " in ln or " 1 " in ln)
        row = next(ln for ln in rows if "789" in ln)
        code = row.split(MORE_LEFT, 1)[1]
        assert code.startswith("456789")  # cell 2,000,004 onwards (the mark takes one)
        assert code.rstrip().endswith(MORE_RIGHT)


async def test_wrap_folds_long_lines_and_defaults_on_below_120_columns():
    text = "word " * 60  # 300 cells
    diff = Diff(files=[one_hunk("notes.txt", [DiffLine("+", text, None, 1)])])
    app = ViewApp(diff)
    async with app.run_test(size=(80, 24)) as pilot:
        dv = app.query_one(DiffView)
        assert dv.wrap is None and dv.wrapping  # auto: 80 < 120 columns
        rows = [ln for ln in dv.rendered_text() if "word" in ln]
        assert len(rows) > 3  # one diff line, several screen rows
        assert dv.virtual_size.width == dv.scrollable_content_region.width  # no h-scroll
        assert "".join(r[dv._text_x() :] for r in rows).split() == text.split()
        assert rows[0].split()[2] == "+" and "+" not in rows[1]  # marker on the first only
        dv.toggle_wrap()
        await pilot.pause()
        assert dv.wrap is False and not dv.wrapping
        rows = [ln for ln in dv.rendered_text() if "word" in ln]
        assert len(rows) == 1 and rows[0].rstrip().endswith(MORE_RIGHT)
        await pilot.press("w")
        assert dv.wrapping


async def test_wrapped_hunk_navigation_and_click_use_screen_rows():
    long = "z" * 500
    lines = [DiffLine("+", long, None, i + 1) for i in range(6)]
    diff = Diff(
        files=[
            one_hunk("a.txt", lines),
            one_hunk("b.txt", [DiffLine("-", "old", 1, None), DiffLine("+", "new", None, 1)]),
        ]
    )
    app = ViewApp(diff, id="diff")
    async with app.run_test(size=(80, 24)) as pilot:
        dv = app.query_one(DiffView)
        dv.focus()
        assert dv.wrapping and dv.virtual_size.height > 30
        await pilot.press("j")
        assert dv.current_hunk() == HunkRef("b.txt", 0)
        assert any("@@" in ln and "▌" in ln for ln in dv.rendered_text())
        await pilot.press("space")
        assert dv.rejected_in_file("b.txt") == 1 and dv.rejected_in_file("a.txt") == 0


def test_word_diff_marks_only_the_changed_words():
    old, new = word_diff("total = price * qty", "total = price * quantity + tax")
    assert [("total = price * qty"[a:b]) for a, b in old] == ["qty"]
    assert [("total = price * quantity + tax"[a:b]) for a, b in new] == ["quantity + tax"]
    assert word_diff("alpha beta", "gamma delta epsilon") is None  # all different: no emphasis


async def test_paired_lines_get_word_emphasis_in_both_modes():
    diff = Diff(
        files=[
            one_hunk(
                "calc.py",
                [DiffLine("-", "rate = 0.25", 1, None), DiffLine("+", "rate = 0.30", None, 1)],
            )
        ]
    )
    app = ViewApp(diff)
    async with app.run_test(size=(130, 12)) as pilot:
        dv = app.query_one(DiffView)
        word_bg = dv._style("added-word").bgcolor
        line_bg = dv._style("added").bgcolor
        assert word_bg is not None and word_bg != line_bg

        def emphasised(y: int) -> str:
            return "".join(s.text for s in dv.render_line(y) if s.style.bgcolor == word_bg)

        texts = dv.rendered_text()
        added = next(i for i, t in enumerate(texts) if "0.30" in t)
        assert emphasised(added) == "30"  # "0" and "." are the same words
        removed = next(i for i, t in enumerate(texts) if "0.25" in t)
        removed_bg = dv._style("removed-word").bgcolor
        strip = dv.render_line(removed)
        assert "".join(s.text for s in strip if s.style.bgcolor == removed_bg) == "25"
        dv.set_mode("split")
        await pilot.pause()
        row = next(i for i, t in enumerate(dv.rendered_text()) if "0.30" in t)
        assert emphasised(row) == "30"


async def test_split_view_scrolls_horizontally():
    left = "L" * 150 + "END_OLD"
    right = "R" * 150 + "END_NEW"
    diff = Diff(
        files=[one_hunk("x.txt", [DiffLine("-", left, 1, None), DiffLine("+", right, None, 1)])]
    )
    app = ViewApp(diff, mode="split")
    async with app.run_test(size=(130, 12)) as pilot:
        dv = app.query_one(DiffView)
        assert not dv.wrapping and dv.virtual_size.width > dv.scrollable_content_region.width
        row = next(t for t in dv.rendered_text() if "LLL" in t)
        assert "END_OLD" not in row and row.count(MORE_RIGHT) == 2
        await pilot.press("right")
        assert dv.scroll_x > 0  # the key scrolls split view too
        dv.scroll_to(x=200, animate=False, immediate=True)
        await pilot.pause()
        row = next(t for t in dv.rendered_text() if "END_OLD" in t)
        assert "END_NEW" in row and row.count(MORE_LEFT) == 2


class ListApp(App[None]):
    def __init__(self, diff: Diff) -> None:
        super().__init__()
        self._diff = diff

    def compose(self) -> ComposeResult:
        yield FileList(id="files")
        yield DiffView(id="diff")

    def on_mount(self) -> None:
        self.query_one(FileList).set_diff(self._diff)
        self.query_one(DiffView).set_diff(self._diff)

    def on_diff_view_hunk_toggled(self, event: DiffView.HunkToggled) -> None:
        path = event.ref.path
        self.query_one(FileList).set_rejected_count(path, event.diff_view.rejected_in_file(path))


async def test_10k_files_a_hunk_toggle_rebuilds_one_file_row():
    diff = many_files(10_000)
    app = ListApp(diff)
    async with app.run_test(size=(100, 30)) as pilot:
        fl = app.query_one(FileList)
        dv = app.query_one(DiffView)
        await pilot.pause()
        assert len(fl.paths) == 10_000
        # Only the rows on screen were ever built, not 10,000.
        assert 0 < fl.rows_built <= fl.scrollable_content_region.height
        dv.focus()
        await pilot.pause()
        built = fl.rows_built
        await pilot.press("space")
        await pilot.pause()
        assert dv.rejected_in_file("pkg0/mod0.py") == 1
        assert "✗1" in fl.render_line(0).text
        assert fl.rows_built == built + 1  # one toggle, one row
        fl.highlight_path("pkg99/mod9999.py")
        await pilot.pause()
        assert fl.highlighted == 9_999 and "mod9999.py" in "".join(
            fl.render_line(y).text for y in range(fl.scrollable_content_region.height)
        )
