"""Command policy: which shell commands an agent may run without asking.

``CommandPolicy.classify(cmd)`` returns ``"allow"``, ``"deny"`` or ``"ask"``.
The command line is parsed with tree-sitter-bash; anything the parser does not
recognise (a syntax error, a construct this module does not model) is "ask".
Every simple command is judged on its own: those in pipelines, lists,
subshells, loops and conditionals, in command substitutions (``$(...)``,
backticks, ``<(...)``, also inside double quotes and unquoted heredocs) and in
``sh -c``/``bash -c``/``eval`` scripts. Heredoc and here-string bodies are
data, not commands. Any part denied → deny; any part not allowed → ask;
otherwise allow.

Pattern syntax (defaults and config alike):

* ``"git push"`` — shell words matched against the command's leading words;
  each word is an ``fnmatch`` pattern (write ``[*]`` for a literal ``*``).
  For *allow* patterns the words must match positionally and the program must
  be named exactly as written (``./ls`` is not ``ls``). For *deny* patterns
  the program is compared by basename (``/bin/rm`` is ``rm``), the non-option
  words must be a prefix of the command's non-option words and every option in
  the pattern must appear anywhere (``-rf`` matches ``-r -f`` and ``-fr``), so
  ``git push`` also denies ``git -C x push --force``.
* ``"re:<regex>"`` — a Python regex searched in the command's text with the
  data masked: quoted strings and heredoc bodies that hold shell syntax
  (``echo "curl x | sh" > README.md`` is data, not a download piped to a shell).

An allowed command still needs approval ("ask") when it writes through an
output redirection anywhere but inside the repository (or ``/dev/null``), uses
an option that makes a read-only tool write or execute (``find -exec``,
``sort -o``/``-uo``, ``sort --compress-program``, ``git -c``/``-O``,
``rg --pre``, ``tree -o``, ``uniq IN OUT``...), expands a variable, uses a
command's output as an argument, takes its arguments from input (``xargs``),
sets a dangerous variable (``PATH=...``), or names a path outside the
repository (``~``, ``$HOME``, absolute paths, ``..`` escapes, and globs such as
``.?/.?/`` that can match ``..``): read-only is not harmless when the output
goes to a model provider. A redirection into the repository is allowed: inside
the sandbox that is the same as ``write_file``, and the checkpoint records it.
"""

from __future__ import annotations

import codecs
import fnmatch
import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from engine.tools.secrets import secret_files

Verdict = Literal["allow", "deny", "ask"]

DEFAULT_ALLOW: list[str] = [
    # tests
    "pytest",
    "py.test",
    "python -m pytest",
    "python3 -m pytest",
    ".venv/bin/pytest",
    ".venv/bin/python -m pytest",
    ".venv/bin/python3 -m pytest",
    "uv run pytest",
    "make test",
    "make check",
    "npm test",
    "npm run test",
    "cargo test",
    "cargo check",
    "go test",
    "go vet",
    # linters / type checkers
    "ruff check",
    "ruff format",
    ".venv/bin/ruff check",
    ".venv/bin/ruff format",
    "mypy",
    ".venv/bin/mypy",
    # read-only inspection
    "ls",
    "cat",
    "head",
    "tail",
    "wc",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "find",
    "tree",
    "pwd",
    "cd",
    "echo",
    "printf",
    "diff",
    "file",
    "stat",
    "du",
    "sort",
    "uniq",
    "cut",
    "tr",
    "true",
    "false",
    "which",
    "basename",
    "dirname",
    "realpath",
    "git status",
    "git diff",
    "git log",
    "git show",
    "git blame",
    "git ls-files",
    "git grep",
    "git rev-parse",
    "git branch --show-current",
]

DEFAULT_DENY: list[str] = [
    # privilege escalation
    "sudo",
    "su",
    "doas",
    "pkexec",
    # history / user state the agent must never rewrite (checkpoints handle undo)
    "git push",
    "git reset --hard",
    "git checkout",
    "git switch",
    "git restore",
    "git clean",
    "git rebase",
    "git filter-branch",
    "git filter-repo",
    "git update-ref",
    "git reflog expire",
    "git stash drop",
    "git stash clear",
    "git branch -D",
    "git config",
    # wiping the machine
    "rm -r /",
    "rm -R /",
    "rm -r /[*]",
    "rm -R /[*]",
    "rm -r ~",
    "rm -r ~/",
    "rm -r ~/[*]",
    "rm -R ~",
    "rm -r $HOME",
    "rm -r ${HOME}",
    "rm --no-preserve-root",
    "mkfs*",
    "shutdown",
    "reboot",
    "halt",
    "poweroff",
    r"re:\bdd\b.*\bof=/dev/",
    r"re:>\s*/dev/(sd|hd|nvme|disk|mmcblk)",
    r"re::\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:",  # fork bomb
    # running code fetched from the network
    r"re:\b(curl|wget|fetch)\b[^;&]*\|\s*(sudo\s+)?(\S*/)?((ba|z|da|k|fi)?sh|python[0-9.]*|perl|ruby|node)\b",
    r"re:\b((ba|z|da|k)?sh|python[0-9.]*)\b.*(\$\(|<\(|`)\s*(curl|wget)\b",
]

_SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "fish"}
_KEYWORDS = {"{", "}", "!", "if", "then", "else", "elif", "fi", "do", "done", "while",
             "until", "time", "esac", "in"}  # fmt: skip
_WRAPPERS = {"nohup", "command", "exec", "builtin", "stdbuf"}
_DANGEROUS_VARS = re.compile(
    r"^(PATH|LD_\w+|DYLD_\w+|BASH_ENV|ENV|PROMPT_COMMAND|IFS|SHELLOPTS|PS4|GIT_\w+|"
    r"PYTHONSTARTUP|PYTHONHOME|PYTHONPATH|NODE_OPTIONS|PERL5OPT|RUBYOPT|HOME|TMPDIR)$"
)
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
#: Options that turn a read-only tool into one that writes files or runs programs.
#: A single-letter option also counts glued (``-o/x``) or in a cluster (``-uo``).
_UNSAFE_OPTIONS: dict[str, tuple[str, ...]] = {
    "find": ("-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0",
             "-fprintf", "-fls"),
    "sort": ("-o", "--output", "--compress-program"),
    "git": ("--output", "--ext-diff", "--exec", "--exec-path", "-c", "--config-env", "-O",
            "--open-files-in-pager", "--upload-pack", "--receive-pack", "--textconv"),
    "rg": ("--pre", "--hostname-bin"),
    "tree": ("-o", "-R"),
    "file": ("-C", "--compile"),
    "go": ("-exec", "-toolexec", "-o"),
    "cargo": ("--config",),
    "mypy": ("--install-types",),
    "pytest": ("--basetemp",),
}  # fmt: skip
#: Commands whose positional arguments after the first N name files they write.
_WRITES_POSITIONAL = {"uniq": 1}
#: Characters that make a quoted string shell syntax worth masking from deny regexes.
_SYNTAX = re.compile(r"[|;&<>`]|\$\(")


@dataclass
class PolicyDecision:
    """A verdict plus the reason, for messages to the model and the human."""

    verdict: Verdict
    reason: str
    part: str = ""


@dataclass
class _Arg:
    """One shell word: its value when static, and what makes it dynamic."""

    text: str  # the value (the source text for dynamic parts)
    var: bool = False  # expands a variable / arithmetic
    subst: bool = False  # contains a command substitution's output
    glob: bool = False  # unquoted glob or brace expansion


@dataclass
class _Cmd:
    """One simple command found in a command line."""

    args: list[_Arg]
    source: str
    redirects: list[tuple[str, _Arg]] = field(default_factory=list)
    assigns: list[str] = field(default_factory=list)


class _Unparsable(ValueError):
    pass


# --------------------------------------------------------------------------- parsing


@lru_cache(maxsize=1)
def _parser() -> Any:
    import tree_sitter
    import tree_sitter_bash

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))


#: Nodes that only group statements; their children are walked.
_CONTAINERS = {
    "program", "list", "pipeline", "subshell", "compound_statement", "negated_command",
    "if_statement", "elif_clause", "else_clause", "while_statement", "do_group",
    "case_statement", "case_item",
}  # fmt: skip
#: Leaf tokens of containers that carry no command (keywords, operators).
_NOISE = {"comment", "heredoc_start", "heredoc_end", "variable_name", "extglob_pattern"}


class _Walker:
    """Collects the simple commands of a parsed command line, and the data to mask."""

    def __init__(self, source: bytes):
        self.src = source
        self.cmds: list[_Cmd] = []
        self.masks: list[tuple[int, int]] = []  # byte ranges of data (for deny regexes)

    def text(self, n: Any) -> str:
        return self.src[n.start_byte : n.end_byte].decode("utf-8", "replace")

    def statement(self, n: Any) -> None:
        if n.type == "ERROR" or n.is_missing:
            raise _Unparsable(f"unexpected {self.text(n)[:40]!r}")
        t = n.type
        if t in _NOISE or not n.is_named:
            return
        if t == "command":
            self.cmds.append(self.command(n))
        elif t == "redirected_statement":
            body = n.child_by_field_name("body")
            redirects: list[tuple[str, _Arg]] = []
            for c in n.children:
                if c.is_named and (body is None or c.id != body.id):
                    redirects += self.redirect(c)
            if body is not None and body.type == "command":
                cmd = self.command(body)
                cmd.redirects += redirects
                cmd.source = self.text(n)
                self.cmds.append(cmd)
            else:
                if body is not None:
                    self.statement(body)
                self.cmds.append(_Cmd([], self.text(n), redirects))
        elif t in _CONTAINERS:
            for c in n.children:
                self.statement(c)
        elif t == "function_definition":
            body = n.child_by_field_name("body")
            if body is not None:
                self.statement(body)
        elif t == "variable_assignment":
            self.cmds.append(_Cmd([], self.text(n), assigns=[self.assignment(n)]))
        elif t in ("declaration_command", "unset_command", "test_command"):
            args = [_Arg(self.text(n.children[0]))]
            for c in n.children[1:]:
                if c.type == "variable_assignment":
                    args.append(_Arg(self.assignment(c)))
                elif c.is_named:
                    args.append(self.arg(c))
            self.cmds.append(_Cmd(args, self.text(n)))
        elif t == "for_statement":
            for c in n.children_by_field_name("value"):
                self.arg(c)  # substitutions in the word list run
            body = n.child_by_field_name("body")
            if body is not None:
                self.statement(body)
        elif t in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
            self.cmds.append(_Cmd([], self.text(n), self.redirect(n)))
        elif t in ("command_substitution", "process_substitution"):
            self.arg(n)
        else:
            raise _Unparsable(f"unsupported shell construct ({t})")

    def assignment(self, n: Any) -> str:
        name = n.child_by_field_name("name")
        value = n.child_by_field_name("value")
        text = self.arg(value).text if value is not None else ""
        return f"{self.text(name) if name is not None else ''}={text}"

    def command(self, n: Any) -> _Cmd:
        cmd = _Cmd([], self.text(n))
        for c in n.children:
            if c.type == "variable_assignment":
                cmd.assigns.append(self.assignment(c))
            elif c.type == "command_name":
                cmd.args.append(self.arg(c.named_children[0]))
            elif c.type in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                cmd.redirects += self.redirect(c)
            elif c.is_named and c.type != "comment":
                cmd.args.append(self.arg(c))
        return cmd

    def redirect(self, n: Any) -> list[tuple[str, _Arg]]:
        t = n.type
        if t == "file_redirect":
            fd = ""
            op = ""
            dest: _Arg | None = None
            for c in n.children:
                if c.type == "file_descriptor":
                    fd = self.text(c)
                elif not c.is_named:
                    op = self.text(c)
                else:
                    dest = self.arg(c)
            return [(fd + op, dest or _Arg(""))]
        if t == "herestring_redirect":
            for c in n.named_children:
                self.mask(c)
                self.arg(c)  # substitutions in it run; the value is data
            return []
        if t == "heredoc_redirect":
            out: list[tuple[str, _Arg]] = []
            for c in n.children:
                if c.type == "heredoc_body":
                    self.heredoc(c)
                elif c.type in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
                    out += self.redirect(c)
                elif c.is_named and c.type not in _NOISE:
                    self.statement(c)  # `cat <<EOF | sh`: the pipe continues here
            return out
        raise _Unparsable(f"unsupported redirection ({t})")

    def heredoc(self, n: Any) -> None:
        """A heredoc body is data; only substitutions in an unquoted one run."""
        if not n.named_children:
            self.masks.append((n.start_byte, n.end_byte))
        for c in n.named_children:
            if c.type == "heredoc_content":
                self.masks.append((c.start_byte, c.end_byte))
            else:
                self.arg(c)

    def mask(self, n: Any) -> None:
        if _SYNTAX.search(self.text(n)):
            self.masks.append((n.start_byte, n.end_byte))

    def arg(self, n: Any) -> _Arg:
        """The value of a word node; substitutions inside are collected as commands."""
        t = n.type
        if n.type == "ERROR" or n.is_missing:
            raise _Unparsable(f"unexpected {self.text(n)[:40]!r}")
        raw = self.text(n)
        if t == "word":
            return _Arg(_unescape(raw), glob=_has_glob(raw))
        if t in ("number", "test_operator", "regex"):
            return _Arg(raw)
        if t == "raw_string":
            self.mask(n)
            return _Arg(raw[1:-1])
        if t == "ansi_c_string":
            self.mask(n)
            try:
                value = codecs.decode(raw[2:-1], "unicode_escape")
            except (UnicodeDecodeError, ValueError):
                value = raw
            return _Arg(value)
        if t in ("string", "translated_string"):
            parts = _Arg("")
            for c in n.named_children:
                if c.type == "string_content":
                    self.mask(c)
                    parts.text += re.sub(r'\\([\\$`"])', r"\1", self.text(c))
                else:
                    parts = _join(parts, self.arg(c))
            return parts
        if t == "concatenation":
            out = _Arg("")
            for c in n.children:
                out = _join(out, self.arg(c))
            return out
        if t in ("simple_expansion", "expansion", "arithmetic_expansion"):
            for sub in _descendants(n, ("command_substitution", "process_substitution")):
                self.arg(sub)
            return _Arg(raw, var=True)
        if t in ("command_substitution", "process_substitution"):
            for c in n.named_children:
                self.statement(c)
            return _Arg(raw, subst=True)
        if t == "brace_expression":
            return _Arg(raw, glob=True)
        if not n.is_named:
            return _Arg(raw)
        raise _Unparsable(f"unsupported shell word ({t})")


def _descendants(n: Any, types: tuple[str, ...]) -> list[Any]:
    found = []
    for c in n.named_children:
        if c.type in types:
            found.append(c)
        else:
            found += _descendants(c, types)
    return found


def _join(a: _Arg, b: _Arg) -> _Arg:
    return _Arg(a.text + b.text, a.var or b.var, a.subst or b.subst, a.glob or b.glob)


def _unescape(word: str) -> str:
    return re.sub(r"\\(.)", r"\1", word, flags=re.S)


def _has_glob(word: str) -> bool:
    return bool(re.search(r"(?<!\\)[*?\[]", word))


def _parse(cmd: str) -> _Walker:
    src = cmd.encode("utf-8", "surrogateescape")
    tree = _parser().parse(src)
    walker = _Walker(src)
    walker.statement(tree.root_node)
    if tree.root_node.has_error:
        raise _Unparsable("syntax error")
    return walker


def _masked(walker: _Walker) -> str:
    """The command text with data ranges blanked out (for deny regexes)."""
    out = bytearray(walker.src)
    for a, b in walker.masks:
        out[a:b] = b"_" * (b - a)
    return out.decode("utf-8", "replace")


# --------------------------------------------------------------------------- helpers


def _split_pattern(p: str) -> list[str]:
    try:
        return shlex.split(p)
    except ValueError:
        return p.split()


def _short_flags(argv: Iterable[str]) -> set[str]:
    letters: set[str] = set()
    for a in argv:
        if re.fullmatch(r"-[A-Za-z]+", a):
            letters.update(a[1:])
    return letters


def _deny_match(pattern: list[str], argv: list[str]) -> bool:
    if not pattern or not argv:
        return False
    argv = [os.path.basename(argv[0]), *argv[1:]]
    p_words = [t for t in pattern if not t.startswith("-")]
    p_opts = [t for t in pattern if t.startswith("-")]
    a_words = [t for t in argv if not t.startswith("-")]
    # The program (and git's subcommand) must match in place; the remaining
    # words may appear anywhere after it, in order (`rm -rf build /`).
    fixed = 2 if a_words[0] == "git" and len(p_words) >= 2 else 1
    if len(a_words) < len(p_words):
        return False
    if not all(
        fnmatch.fnmatchcase(a, p) for a, p in zip(a_words[:fixed], p_words[:fixed], strict=False)
    ):
        return False
    rest = iter(a_words[fixed:])
    if not all(any(fnmatch.fnmatchcase(a, p) for a in rest) for p in p_words[fixed:]):
        return False
    letters = _short_flags(argv[1:])
    for opt in p_opts:
        if opt.startswith("--") or len(opt) == 2:
            if not any(fnmatch.fnmatchcase(a, opt) for a in argv[1:]) and not (
                len(opt) == 2 and opt[1] in letters
            ):
                return False
        elif not set(opt[1:]) <= letters:
            return False
    return True


def _allow_match(pattern: list[str], argv: list[str]) -> bool:
    if not pattern or len(argv) < len(pattern):
        return False
    return all(fnmatch.fnmatchcase(a, p) for a, p in zip(argv, pattern, strict=False))


def _git_core(argv: list[str]) -> list[str]:
    """`git -C x --no-pager push` → `git push` (global options removed) for deny checks."""
    if not argv or os.path.basename(argv[0]) != "git":
        return argv
    i = 1
    while i < len(argv) and argv[i].startswith("-"):
        if argv[i] in ("-C", "-c", "--git-dir", "--work-tree", "--namespace"):
            i += 2
        else:
            i += 1
    return [argv[0], *argv[i:]]


def _path_outside(arg: str, root: Path | None, glob: bool = False) -> bool:
    """True when a word names something outside the repository.

    ``glob``: the word is an unquoted glob; a component that can match ``..``
    (``.?``, ``.*``, ``[.][.]``) counts as ``..``.
    """
    values = [arg]
    if "=" in arg:
        values.append(arg.split("=", 1)[1])  # --opt=/x, cache_dir=/x
    for v in values:
        if v.startswith("~"):
            return True
        if v in ("/dev/null", "-"):
            continue
        parts = v.split("/")
        if glob:
            parts = [".." if fnmatch.fnmatchcase("..", p) else p for p in parts]
            v = "/".join(parts)
        if v.startswith("/") or ".." in parts:
            if root is None:
                return True
            p = Path(os.path.normpath(v if v.startswith("/") else root / v))
            if not (p == root or root in p.parents):
                return True
    return False


def _inside(target: str, root: Path | None) -> str | None:
    """``target`` relative to the repository when it is a plain path inside it, else None."""
    if root is None or not target or target.startswith("~"):
        return None
    p = Path(os.path.normpath(target if target.startswith("/") else root / target))
    if p != root and root not in p.parents:
        return None
    rel = p.relative_to(root).as_posix()
    first = rel.split("/", 1)[0].lower()
    if first in (".git", ".llmflows") or secret_files(root).matches(rel):
        return None
    return rel


def _unsafe_option(arg: str, unsafe: tuple[str, ...]) -> bool:
    """``arg`` is (or glues, or clusters) one of the ``unsafe`` options."""
    for u in unsafe:
        if arg == u or arg.startswith(u + "="):
            return True
        if len(u) == 2 and re.fullmatch(r"-[A-Za-z]", u):
            # -o/path (glued value) and -uo (a cluster of short options)
            if re.match(r"-[A-Za-z0-9]*" + re.escape(u[1]), arg) and not arg.startswith("--"):
                return True
    return False


# --------------------------------------------------------------------------- policy


class CommandPolicy:
    """Allow/deny lists for shell commands; everything else needs approval."""

    def __init__(self, allow: list[str] | None = None, deny: list[str] | None = None):
        self.allow: list[str] = list(DEFAULT_ALLOW if allow is None else allow)
        self.deny: list[str] = list(DEFAULT_DENY if deny is None else deny)
        self._allow = [_split_pattern(p) for p in self.allow if not p.startswith("re:")]
        self._allow_re = [re.compile(p[3:]) for p in self.allow if p.startswith("re:")]
        self._deny = [(p, _split_pattern(p)) for p in self.deny if not p.startswith("re:")]
        self._deny_re = [(p, re.compile(p[3:])) for p in self.deny if p.startswith("re:")]

    def __repr__(self) -> str:
        return f"CommandPolicy(allow={len(self.allow)} patterns, deny={len(self.deny)} patterns)"

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> CommandPolicy:
        """Build from flow/project config ``{"allow": [...], "deny": [...], "defaults": bool}``.

        With ``defaults`` (the default) the lists extend the built-in ones, and
        an ``allow`` entry identical to a built-in deny pattern lifts that deny
        (e.g. ``allow: ["git checkout"]``). With ``defaults: false`` the lists
        replace the built-ins.
        """
        config = config or {}
        allow = list(config.get("allow") or [])
        deny = list(config.get("deny") or [])
        for name, value in (("allow", allow), ("deny", deny)):
            if not all(isinstance(v, str) for v in value):
                raise ValueError(f"command policy {name!r} must be a list of strings")
        if config.get("defaults", True):
            lifted = set(allow)
            allow = DEFAULT_ALLOW + allow
            deny = [d for d in DEFAULT_DENY if d not in lifted] + deny
        return cls(allow=allow, deny=deny)

    def classify(self, cmd: str, root: str | os.PathLike[str] | None = None) -> Verdict:
        """``"allow"`` | ``"deny"`` | ``"ask"`` for a shell command line."""
        return self.check(cmd, root).verdict

    def check(self, cmd: str, root: str | os.PathLike[str] | None = None) -> PolicyDecision:
        """Like :meth:`classify` with the reason and the offending part.

        ``root`` (the repository) lets paths inside it count as safe; without
        it every absolute path or ``..`` in an allowed command needs approval.
        """
        root_p = Path(root).resolve() if root is not None else None
        cmd = cmd or ""
        if not cmd.strip():
            return PolicyDecision("ask", "empty command")
        decisions = self._decide(cmd, root_p, 0)
        for verdict in ("deny", "ask"):
            for d in decisions:
                if d.verdict == verdict:
                    return d
        return PolicyDecision("allow", "every part of the command is on the allowlist", cmd)

    # -- internals

    def _decide(self, cmd: str, root: Path | None, depth: int) -> list[PolicyDecision]:
        if depth > 10:
            return [PolicyDecision("ask", "scripts nested too deep to judge", cmd)]
        try:
            walker = _parse(cmd)
        except _Unparsable as e:
            return [PolicyDecision("ask", f"could not parse the command ({e})", cmd)]
        except RecursionError:
            return [PolicyDecision("ask", "the command is nested too deep to judge", cmd)]
        masked = _masked(walker)
        out = [
            PolicyDecision("deny", f"matches the deny pattern {pat!r}", cmd)
            for pat, rx in self._deny_re
            if rx.search(masked)
        ]
        for c in walker.cmds:
            start, scripts, assigns, from_input = _unwrap([a.text for a in c.args])
            for script in scripts:
                out += self._decide(script, root, depth + 1)
            out.append(self._check_simple(c, c.args[start:], c.assigns + assigns, from_input, root))
        return out

    def _check_simple(
        self,
        cmd: _Cmd,
        args: list[_Arg],
        assigns: list[str],
        from_input: bool,
        root: Path | None,
    ) -> PolicyDecision:
        argv = [a.text for a in args]
        text = cmd.source
        core = _git_core(argv)
        for pat, toks in self._deny:
            if _deny_match(toks, argv) or (core is not argv and _deny_match(toks, core)):
                return PolicyDecision("deny", f"matches the deny pattern {pat!r}", text)
        for a in assigns:
            name = a.split("=", 1)[0]
            if _DANGEROUS_VARS.match(name):
                return PolicyDecision("ask", f"sets {name}", text)
        for op, tgt in cmd.redirects:
            why = _redirect_problem(op, tgt, root)
            if why:
                return PolicyDecision("ask", why, text)
        if not argv:
            return PolicyDecision("allow", "nothing to run", text)
        if not (
            any(_allow_match(t, argv) for t in self._allow)
            or any(rx.search(" ".join(argv)) for rx in self._allow_re)
        ):
            return PolicyDecision("ask", f"`{argv[0]}` is not on the command allowlist", text)
        if from_input:
            return PolicyDecision("ask", "takes its arguments from input (xargs)", text)
        base = os.path.basename(argv[0])
        unsafe = _UNSAFE_OPTIONS.get(base, ())
        positional = 0
        for arg in args[1:]:
            if _unsafe_option(arg.text, unsafe):
                return PolicyDecision(
                    "ask", f"option {arg.text!r} can write files or run programs", text
                )
            if arg.subst:
                return PolicyDecision(
                    "ask", f"uses a command's output as an argument ({arg.text!r})", text
                )
            if arg.var:
                return PolicyDecision("ask", f"expands a variable ({arg.text!r})", text)
            if _path_outside(arg.text, root, arg.glob):
                return PolicyDecision("ask", f"names {arg.text!r}, outside the repository", text)
            if not arg.text.startswith("-"):
                positional += 1
                if base in _WRITES_POSITIONAL and positional > _WRITES_POSITIONAL[base]:
                    return PolicyDecision("ask", f"writes to {arg.text!r}", text)
        return PolicyDecision("allow", "on the allowlist", text)


def _redirect_problem(op: str, target: _Arg, root: Path | None) -> str | None:
    """Why a redirection needs approval, or None when it is harmless."""
    t = target.text
    if ">" not in op or op.startswith("<") and op != "<>":
        if target.var or target.subst or target.glob:
            return f"reads from a computed path ({t!r})"
        if "<" in op and _path_outside(t, root):
            return f"reads {t!r}, outside the repository"
        return None
    dup = op.endswith(("&", "&-")) or t.startswith("&")
    if dup and (t.lstrip("&").isdigit() or t in ("", "-")) and not (target.var or target.subst):
        return None  # fd duplication or closing: 2>&1, >&2, 2>&-

    if t == "/dev/null" and not (target.var or target.subst or target.glob):
        return None
    if target.var or target.subst or target.glob:
        return f"writes to a computed path ({t!r}) through a redirection"
    if _inside(t, root) is None:
        return f"writes to {t!r} through a redirection, outside the repository"
    return None


def _unwrap(argv: list[str]) -> tuple[int, list[str], list[str], bool]:
    """Skip keywords and wrapper programs.

    Returns (index of the real program, nested scripts, assignments seen,
    whether the program gets its arguments from input).
    """
    scripts: list[str] = []
    assigns: list[str] = []
    i, n = 0, len(argv)
    from_input = False
    while i < n:
        head = argv[i]
        base = os.path.basename(head)
        if head in _KEYWORDS or base in _WRAPPERS:
            i += 1
        elif _ASSIGN.match(head):
            assigns.append(head)
            i += 1
        elif base == "env":
            i += 1
            while i < n and (argv[i].startswith("-") or _ASSIGN.match(argv[i])):
                if _ASSIGN.match(argv[i]):
                    assigns.append(argv[i])
                i += 2 if argv[i] in ("-u", "--unset", "-C", "--chdir") else 1
        elif base == "nice":
            i += 1
            if i < n and argv[i] == "-n":
                i += 2
            elif i < n and argv[i].startswith("-"):
                i += 1
        elif base == "timeout":
            i += 1
            while i < n and argv[i].startswith("-"):
                i += 2 if argv[i] in ("-s", "-k", "--signal", "--kill-after") else 1
            i += 1  # the duration
        elif base == "xargs":
            i += 1
            from_input = True
            while i < n and argv[i].startswith("-"):
                takes = argv[i] in ("-n", "-I", "-P", "-L", "-d", "-s", "-E", "-a")
                i += 2 if takes else 1
        elif base in _SHELLS and any(re.fullmatch(r"-[a-z]*c[a-z]*", a) for a in argv[i + 1 :]):
            idx = next(j for j in range(i + 1, n) if re.fullmatch(r"-[a-z]*c[a-z]*", argv[j]))
            if idx + 1 < n:
                scripts.append(argv[idx + 1])
            return n, scripts, assigns, from_input
        elif base == "eval":
            scripts.append(" ".join(argv[i + 1 :]))
            return n, scripts, assigns, from_input
        else:
            break
    return min(i, n), scripts, assigns, from_input
