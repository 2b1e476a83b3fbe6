"""The repo map: tree-sitter outlines, cached by blob sha, ranked within a budget."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.context import repomap
from engine.context.repomap import build_outlines, render_repo_map
from tests.support.gitutil import init_repo

FILES = {
    "app/models.py": (
        "import os\n\n\n@dataclass\nclass Invoice:\n    def total(self, lines):\n"
        "        return sum(lines)\n\n\ndef parse_invoice(text):\n    return Invoice()\n"
    ),
    "web/api.ts": (
        "export interface Req { id: number }\nexport function handle(r: Req): string "
        "{ return 'x'; }\nexport class Router {\n  route(p: string) { return p; }\n}\n"
    ),
    "svc/main.go": "package main\n\ntype Server struct{}\n\nfunc (s Server) Start() {}\n\nfunc main() {}\n",
    "core/lib.rs": "pub struct Ledger { n: u32 }\n\nimpl Ledger {\n    pub fn post(&mut self) {}\n}\n",
    "README.md": "# not source\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "r", FILES)


def _texts(outlines, path):
    return [(s.depth, s.text) for s in outlines[path]]


def test_outlines_come_from_the_parsers_for_each_language(repo: Path):
    out = build_outlines(repo)
    assert set(out) == {"app/models.py", "web/api.ts", "svc/main.go", "core/lib.rs"}
    assert _texts(out, "app/models.py") == [
        (0, "class Invoice:"),
        (1, "def total(self, lines):"),
        (0, "def parse_invoice(text):"),
    ]
    assert (0, "export function handle(r: Req): string { return 'x'; }") in _texts(
        out, "web/api.ts"
    )
    assert (1, "route(p: string) { return p; }") in _texts(out, "web/api.ts")
    assert _texts(out, "svc/main.go") == [
        (0, "type Server struct{}"),
        (0, "func (s Server) Start() {}"),
        (0, "func main() {}"),
    ]
    assert (1, "pub fn post(&mut self) {}") in _texts(out, "core/lib.rs")


def test_unchanged_contents_are_never_parsed_again(repo: Path, monkeypatch):
    build_outlines(repo)
    parsed: list[int] = []
    real = repomap.outline

    def counting(parser, source):
        parsed.append(len(source))
        return real(parser, source)

    monkeypatch.setattr(repomap, "outline", counting)
    again = build_outlines(repo)
    assert parsed == [] and len(again) == 4
    # An uncommitted edit and a new untracked file: only those two are parsed.
    (repo / "app" / "models.py").write_text(FILES["app/models.py"] + "\ndef added():\n    pass\n")
    (repo / "app" / "new.py").write_text("def fresh():\n    pass\n")
    (repo / "svc" / "main.go").unlink()
    out = build_outlines(repo)
    assert len(parsed) == 2
    assert (0, "def added():") in _texts(out, "app/models.py")
    assert "app/new.py" in out and "svc/main.go" not in out


def test_the_cache_does_not_grow_with_the_history_of_edits(repo: Path, tmp_path, monkeypatch):
    cache = tmp_path / "repomap.sqlite"
    slack = 5
    monkeypatch.setattr(repomap, "STALE_SLACK", slack)
    most = 0
    for i in range(30):  # 30 versions of one file: 29 rows go stale
        (repo / "app" / "models.py").write_text(f"def version_{i}():\n    pass\n")
        out = build_outlines(repo, cache_path=cache)
        assert (0, f"def version_{i}():") in _texts(out, "app/models.py")
        rows = sqlite3.connect(cache).execute("SELECT count(*) FROM outlines").fetchone()[0]
        most = max(most, rows)
    # live rows + stale ones up to live + slack, then pruned
    assert most <= 2 * len(out) + slack + 1, most
    # What is in the tree is still served from the cache after a prune.
    assert build_outlines(repo, cache_path=cache) == out


def test_map_ranks_files_in_play_and_goal_words_first_within_the_budget(repo: Path):
    full = render_repo_map(repo, goal="anything", max_tokens=10_000)
    assert "more source files" not in full
    text = render_repo_map(repo, in_play=["core/lib.rs"], goal="fix the Router", max_tokens=70)
    assert text.startswith("core/lib.rs:\n")
    assert "web/api.ts:" in text  # the goal names Router
    assert text.rstrip().endswith("more source files not shown — use list_files / search]")
