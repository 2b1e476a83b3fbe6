"""A review of many files: the pane reads hunks only for the files it shows, and the
hunks the person rejects are exactly the ones the engine drops."""

from __future__ import annotations

import subprocess
from typing import Any

from engine.git import diffs
from engine.git.diffmodel import HunkRef
from tests.support.tui import at_gate, finished, main_screen, wait_for
from tests.test_tui_app import CHANGED, ORIGINAL, SIZE, Recorder, _edit_entries, make_repo, new_app
from tui.widgets.diff_view import DiffView
from tui.widgets.file_list import FileList

MANY = 300
FAR = "many/f250.txt"
BOTH = CHANGED  # lines 2 and 28 changed: two hunks per file
FIRST_ONLY = ORIGINAL.replace("line 2\n", "line 2 CHANGED\n")


class EditsMany(Recorder):
    """The scripted model, which also changes ``MANY`` files (two hunks each) when first
    called: inside the step, so the review gate opens over all of them."""

    def __init__(self, write: Any) -> None:
        super().__init__()
        self._write = write

    def __call__(self, settings: dict[str, Any]) -> Any:
        client = super().__call__(settings)
        inner = client.complete

        async def complete(messages, **kw):
            if self._write is not None:
                self._write()
                self._write = None
            return await inner(messages, **kw)

        client.complete = complete
        return client


async def test_a_300_file_review_reads_hunks_only_for_the_files_shown(tmp_path, monkeypatch):
    repo, model = make_repo(tmp_path, _edit_entries(CHANGED))
    many = repo / "many"
    many.mkdir()
    names = [f"many/f{i:03}.txt" for i in range(MANY)]
    for name in names:
        (repo / name).write_text(ORIGINAL)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, capture_output=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "many"],
        cwd=repo,
        check=True,
    )

    def write_many() -> None:
        for name in names:
            (repo / name).write_text(BOTH)

    reads: list[tuple[Any, str, list[str]]] = []  # (source, scope, paths): each loader call
    real_load = diffs._HunkSource.load

    def counting(self, files, scope):
        reads.append((self, scope, [f.path for f in files]))
        return real_load(self, files, scope)

    monkeypatch.setattr(diffs._HunkSource, "load", counting)
    app = new_app(repo, model, EditsMany(write_many))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: at_gate(app) and len(main_screen(app).diff_view.diff.files))
        screen = main_screen(app)
        view: DiffView = screen.diff_view
        files = view.diff.files
        assert len(files) == MANY + 1 and files[0].path == "data.txt"
        await pilot.pause()
        # Opened: the first screen's files were read in one call with the listing; the
        # rows on screen show hunks, none is still waiting.
        assert not any("reading hunks" in row for row in view.rendered_text())
        source = files[-1].__dict__["_load_hunks"].__self__  # this diff's loader, unread
        mine = [r for r in reads if r[0] is source]
        read = [f.path for f in files if f.hunks_loaded]
        assert [r[1] for r in mine] == ["some"]  # never the whole 601-file diff
        assert read == [f.path for f in files[: DiffView.FIRST_FILES]]
        assert mine[0][2] == read

        # A file far down, chosen in the file list: read then (with its neighbours) only.
        file_list = screen.query_one("#files", FileList)
        file_list.highlight_path(FAR)
        file_list.action_select()
        await wait_for(pilot, lambda: view.current_hunk() == HunkRef(FAR, 0))
        await pilot.press("j", "space")  # reject the far file's second hunk
        assert view.rejected_hunks() == {HunkRef(FAR, 1)}
        first_read = min(i for i, f in enumerate(files) if f.hunks_loaded and i > 100)
        assert not files[first_read - 1].hunks_loaded
        # k into a file not read yet waits for it and lands on its last hunk (index 1).
        file_list.highlight_path(files[first_read].path)
        file_list.action_select()
        await wait_for(pilot, lambda: view.current_file() == files[first_read].path)
        await pilot.press("k")
        above = files[first_read - 1].path
        await wait_for(pilot, lambda: view.current_hunk() == HunkRef(above, 1))
        await pilot.press("space")
        assert view.rejected_hunks() == {HunkRef(FAR, 1), HunkRef(above, 1)}
        # Three reads in all, each of a few files: the first screen, the far file with
        # its neighbours, the file above those with the ones above it.
        after, before = DiffView.PREFETCH_FILES, DiffView.PREFETCH_FILES // 4
        mine = [r for r in reads if r[0] is source]
        assert [(scope, len(paths)) for _s, scope, paths in mine] == [
            ("some", DiffView.FIRST_FILES),
            ("some", 1 + after + before),
            ("some", 1 + before),
        ]
        assert sum(f.hunks_loaded for f in files) == sum(len(paths) for _s, _k, paths in mine)

        # A live refresh (as when the person saves a file): a new listing with only the
        # first screen read; the far rejections come back, by key, as their files are read.
        before = view.diff
        screen.refresh_diff()
        await wait_for(pilot, lambda: view.diff is not before and len(view.rejected_hunks()) == 2)
        assert view.rejected_hunks() == {HunkRef(FAR, 1), HunkRef(above, 1)}
        for path in (FAR, above):
            assert "✗1" in file_list.row_text(file_list.paths.index(path)).plain
        assert sum(f.hunks_loaded for f in view.diff.files) < MANY // 2

        await pilot.press("a")
        await wait_for(pilot, lambda: finished(app))
    assert (repo / "data.txt").read_text() == CHANGED
    for name in names:
        want = FIRST_ONLY if name in (FAR, above) else BOTH
        assert (repo / name).read_text() == want, name
