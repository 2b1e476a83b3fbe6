"""A repo map: a ranked outline of the repository's files and top-level symbols.

Each source file is parsed with tree-sitter (Python, JavaScript, TypeScript/TSX,
Go, Rust) and reduced to its top-level definitions (and the methods of its
classes / impls), one line each. Outlines are cached by git blob sha in
``.llmflows/cache/repomap.sqlite``: a file is parsed again only when its
content changes, so a large repository costs a ``git ls-files`` and a few
lookups after the first build (``bench/repomap.py`` measures it).

:func:`render_repo_map` ranks files (files in play first, then files whose
path or symbols share words with the goal, then shallow paths) and renders as
many as fit a token budget, ending with a line that says how many were left out.
"""

from __future__ import annotations

import importlib
import os
import re
import sqlite3
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE = Path(".llmflows") / "cache" / "repomap.sqlite"
_MAX_PARSE_BYTES = 512_000
_SIGNATURE_CHARS = 110
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]{2,}")

# extension -> (module, function returning the language capsule)
_GRAMMARS: dict[str, tuple[str, str]] = {
    ".py": ("tree_sitter_python", "language"),
    ".js": ("tree_sitter_javascript", "language"),
    ".jsx": ("tree_sitter_javascript", "language"),
    ".mjs": ("tree_sitter_javascript", "language"),
    ".ts": ("tree_sitter_typescript", "language_typescript"),
    ".tsx": ("tree_sitter_typescript", "language_tsx"),
    ".go": ("tree_sitter_go", "language"),
    ".rs": ("tree_sitter_rust", "language"),
}
# Node types that define something worth a line, and those whose body we open.
_DEFS = {
    "function_definition", "class_definition", "decorated_definition",  # Python
    "function_declaration", "class_declaration", "lexical_declaration",  # JS/TS
    "interface_declaration", "type_alias_declaration", "enum_declaration",
    "abstract_class_declaration", "export_statement", "method_definition",
    "method_declaration", "type_declaration",  # Go
    "function_item", "struct_item", "enum_item", "trait_item", "impl_item",  # Rust
    "mod_item", "type_item", "const_item", "static_item", "function_signature_item",
}  # fmt: skip
_CONTAINERS = {
    "class_definition", "class_declaration", "abstract_class_declaration", "impl_item",
    "trait_item", "decorated_definition", "export_statement",
}  # fmt: skip
_BODIES = {"block", "class_body", "declaration_list", "body"}


@dataclass(frozen=True)
class Symbol:
    """One outline line: the definition's first source line, its line number and depth."""

    line: int
    depth: int
    text: str


class _Parsers:
    """tree-sitter parsers, built once per language on first use."""

    def __init__(self) -> None:
        self._by_ext: dict[str, Any] = {}

    def for_path(self, path: str) -> Any | None:
        ext = Path(path).suffix.lower()
        if ext not in _GRAMMARS:
            return None
        if ext not in self._by_ext:
            from tree_sitter import Language, Parser

            module, fn = _GRAMMARS[ext]
            self._by_ext[ext] = Parser(Language(getattr(importlib.import_module(module), fn)()))
        return self._by_ext[ext]


def outline(parser: Any, source: bytes) -> list[Symbol]:
    """Top-level definitions (and one level inside classes / impls) of a parsed file."""
    tree = parser.parse(source)
    lines = source.splitlines()
    out: list[Symbol] = []

    def add(node: Any, depth: int) -> None:
        row = node.start_point[0]
        if out and out[-1].line == row + 1:
            return  # already shown: a one-line class with its methods
        text = lines[row].decode("utf-8", "replace").strip() if row < len(lines) else ""
        if text.startswith("@"):  # a decorator: show the decorated line instead
            for child in node.children:
                if child.type != "decorator":
                    row = child.start_point[0]
                    text = lines[row].decode("utf-8", "replace").strip()
                    break
        if len(text) > _SIGNATURE_CHARS:
            text = text[: _SIGNATURE_CHARS - 1] + "…"
        out.append(Symbol(row + 1, depth, text))

    def walk(nodes: Iterable[Any], depth: int) -> None:
        for node in nodes:
            if node.type not in _DEFS:
                continue
            if node.type == "export_statement":
                inner = [c for c in node.children if c.type in _DEFS]
                if inner:
                    walk(inner, depth)
                    continue
            add(node, depth)
            if depth == 0 and node.type in _CONTAINERS:
                target = node
                if node.type == "decorated_definition":
                    target = node.child_by_field_name("definition") or node
                for child in target.children:
                    if child.type in _BODIES:
                        walk(child.children, depth + 1)

    walk(tree.root_node.children, 0)
    return out


def _encode(symbols: list[Symbol]) -> str:
    """One cached outline: a line per symbol, ``depth<TAB>line<TAB>text`` (cheap to scan)."""
    return "\n".join(f"{sym.depth}\t{sym.line}\t{sym.text}" for sym in symbols)


def _decode(data: str) -> list[Symbol]:
    out: list[Symbol] = []
    for row in data.split("\n") if data else []:
        depth, line, text = row.split("\t", 2)
        out.append(Symbol(int(line), int(depth), text))
    return out


#: Rows of contents no longer in the tree kept beyond the live ones (a rewind may bring
#: them back); past that the cache drops them, so it stays about the size of the tree.
STALE_SLACK = 256


class RepoMapCache:
    """Encoded outlines by blob sha, in SQLite (one row per distinct file content).

    Every edit adds a row; :meth:`get_many` counts the rows of contents no longer in
    the tree and :meth:`prune` drops them once they outnumber the live ones plus
    :data:`STALE_SLACK`, so the file never grows with the history of edits.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS outlines (sha TEXT PRIMARY KEY, data TEXT)")
        self._stale: list[str] = []

    def get_many(self, shas: set[str]) -> dict[str, str]:
        # One sequential scan beats thousands of point lookups; rows of contents no
        # longer in the tree are skipped (and remembered for prune).
        found: dict[str, str] = {}
        self._stale = []
        for sha, data in self.db.execute("SELECT sha, data FROM outlines"):
            if sha in shas:
                found[sha] = data
            else:
                self._stale.append(sha)
        return found

    def put_many(self, items: dict[str, str]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO outlines VALUES (?, ?)", items.items())

    def prune(self, live: int) -> int:
        """Drop the stale rows seen by the last :meth:`get_many` if there are too many."""
        if len(self._stale) <= live + STALE_SLACK:
            return 0
        with self.db:
            self.db.executemany("DELETE FROM outlines WHERE sha = ?", ((s,) for s in self._stale))
        dropped, self._stale = len(self._stale), []
        return dropped

    def close(self) -> None:
        self.db.close()


def _git(root: Path, *args: str, stdin: str | None = None) -> str:
    """Plumbing output, "" when git fails (one process; 50,000-line outputs stay cheap)."""
    done = subprocess.run(
        ["git", "-C", str(root), *args],
        input=stdin.encode() if stdin is not None else None,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        return ""  # not a git work tree: no map rather than a failed step
    return done.stdout.decode("utf-8", "surrogateescape")


def _blob_shas(root: Path) -> dict[str, str]:
    """path -> blob sha of the file as it is in the working tree (tracked and untracked)."""
    shas: dict[str, str] = {}
    staged = _git(root, "ls-files", "-s", "-z")
    for entry in staged.split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, sha, _stage = meta.split()
        if mode.startswith("100") and os.path.splitext(path)[1].lower() in _GRAMMARS:
            shas[path] = sha
    changed = _git(root, "ls-files", "-m", "-o", "--exclude-standard", "-z").split("\0")
    changed = [
        p for p in dict.fromkeys(changed) if p and os.path.splitext(p)[1].lower() in _GRAMMARS
    ]
    changed = [p for p in changed if (root / p).is_file()]
    if changed:
        hashed = _git(root, "hash-object", "--stdin-paths", stdin="\n".join(changed) + "\n")
        shas.update(zip(changed, hashed.split(), strict=True))
    for path in _git(root, "ls-files", "-d", "-z").split("\0"):
        shas.pop(path, None)  # deleted in the working tree
    return shas


def _encoded_outlines(root: Path, cache_path: Path | None) -> dict[str, str]:
    """path -> encoded outline, parsing only contents the cache has not seen."""
    shas = _blob_shas(root)
    cache = RepoMapCache(cache_path or root / CACHE)
    try:
        known = cache.get_many(set(shas.values()))
        parsers = _Parsers()
        new: dict[str, str] = {}
        for path, sha in shas.items():
            if sha in known or sha in new:
                continue
            parser = parsers.for_path(path)
            try:
                data = (root / path).read_bytes()[:_MAX_PARSE_BYTES]
            except OSError:
                continue
            new[sha] = _encode(outline(parser, data)) if parser is not None else ""
        if new:
            cache.put_many(new)
        known.update(new)
        cache.prune(len(known))
    finally:
        cache.close()
    return {path: known.get(sha, "") for path, sha in sorted(shas.items())}


def build_outlines(root: Path, cache_path: Path | None = None) -> dict[str, list[Symbol]]:
    """Every source file's outline (see module docstring for the cache)."""
    return {p: _decode(d) for p, d in _encoded_outlines(Path(root), cache_path).items()}


def rank_files(outlines: dict[str, str], in_play: list[str], goal: str) -> list[str]:
    """Paths of encoded outlines, ranked: files in play first, then by words shared with the
    goal, then shallow and short paths."""
    words = {w.lower() for w in _WORD.findall(goal)}
    play = {p: i for i, p in enumerate(in_play)}

    def score(path: str) -> tuple:
        hits = 0
        if words:
            text = (path + " " + outlines[path]).lower()
            hits = sum(w in text for w in words)
        return (0 if path in play else 1, play.get(path, 0), -hits, path.count("/"), path)

    return sorted(outlines, key=score)


def render_repo_map(
    root: Path,
    *,
    in_play: list[str] | None = None,
    goal: str = "",
    max_tokens: int = 2048,
    count: Callable[[str], int] | None = None,
    cache_path: Path | None = None,
) -> str:
    """The ranked outline within ``max_tokens`` (``count`` counts a text's tokens)."""
    outlines = _encoded_outlines(Path(root), cache_path)
    if not outlines:
        return ""
    count = count or (lambda text: len(text) // 4 + 1)
    parts: list[str] = []
    used = 0
    order = rank_files(outlines, list(in_play or []), goal)
    shown = 0
    for path in order:
        syms = _decode(outlines[path])
        block = path + ":\n" + "".join(f"{'  ' * (s.depth + 1)}{s.text}\n" for s in syms)
        cost = count(block)
        if used + cost > max_tokens:
            if shown:
                break
            continue  # the first file alone is too big: try the next
        parts.append(block)
        used += cost
        shown += 1
    left = len(order) - shown
    if left:
        parts.append(f"[... {left} more source files not shown — use list_files / search]\n")
    return "".join(parts)
