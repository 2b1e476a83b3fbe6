"""Command policy: which shell commands an agent may run without asking.

``CommandPolicy.classify(cmd)`` returns ``"allow"``, ``"deny"`` or ``"ask"``.
The command is split into its simple commands at unquoted ``;``, ``&&``,
``||``, ``|``, ``&``, newlines and parentheses; command substitutions
(``$(...)``, backticks, ``<(...)``) and ``sh -c``/``bash -c``/``eval`` scripts
are classified as commands of their own. Any part denied → deny; any part not
allowed → ask; otherwise allow.

Pattern syntax (defaults and config alike):

* ``"git push"`` — shell words matched against the command's leading words;
  each word is an ``fnmatch`` pattern (write ``[*]`` for a literal ``*``).
  For *allow* patterns the words must match positionally and the program must
  be named exactly as written (``./ls`` is not ``ls``). For *deny* patterns
  the program is compared by basename (``/bin/rm`` is ``rm``), the non-option
  words must be a prefix of the command's non-option words and every option in
  the pattern must appear anywhere (``-rf`` matches ``-r -f`` and ``-fr``), so
  ``git push`` also denies ``git -C x push --force``.
* ``"re:<regex>"`` — a Python regex searched in the whole command text.

An allowed command still needs approval ("ask") when it writes through an
output redirection (other than to ``/dev/null``), uses an option that makes a
read-only tool write or execute (``find -exec``, ``sort -o``, ``rg --pre``...),
expands a variable, sets a dangerous variable (``PATH=...``), or names a path
outside the repository (``~``, ``$HOME``, absolute paths, ``..`` escapes):
read-only is not harmless when the output goes to a model provider.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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
    r"PYTHONSTARTUP|PYTHONHOME|NODE_OPTIONS|PERL5OPT|RUBYOPT)$"
)
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
#: Options that turn a read-only tool into one that writes files or runs programs.
_UNSAFE_OPTIONS: dict[str, tuple[str, ...]] = {
    "find": (
        "-exec",
        "-execdir",
        "-ok",
        "-okdir",
        "-delete",
        "-fprint",
        "-fprint0",
        "-fprintf",
        "-fls",
    ),  # fmt: skip
    "sort": ("-o", "--output"),
    "git": ("--output", "--ext-diff", "--exec", "-c"),
    "rg": ("--pre",),
    "tree": ("-o",),
    "uniq": (),
}
_SUBST = "\x00subst\x00"  # placeholder for a command substitution's output


@dataclass
class PolicyDecision:
    """A verdict plus the reason, for messages to the model and the human."""

    verdict: Verdict
    reason: str
    part: str = ""


@dataclass
class _Simple:
    """One simple command found in a command line."""

    sep: str  # operator before it: "", ";", "&&", "||", "|", "&", "(", "$(" ...
    text: str
    redirects: list[tuple[str, str]] = field(default_factory=list)


class _ParseError(ValueError):
    pass


# --------------------------------------------------------------------------- scanning


def _close(s: str, i: int, closer: str) -> int:
    """Index of the unquoted ``)`` (or backtick) closing a construct opened before ``i``."""
    depth = 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if closer == ")" and c == "'":
            j = s.find("'", i + 1)
            if j < 0:
                raise _ParseError("unbalanced single quote")
            i = j + 1
            continue
        if closer == ")" and c == '"':
            i = _close_dquote(s, i + 1) + 1
            continue
        if closer == ")" and c == "(":
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise _ParseError(f"unbalanced {closer!r}")


def _close_dquote(s: str, i: int) -> int:
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if s.startswith("$(", i):
            i = _close(s, i + 2, ")") + 1
            continue
        if c == "`":
            i = _close(s, i + 1, "`") + 1
            continue
        if c == '"':
            return i
        i += 1
    raise _ParseError("unbalanced double quote")


def _scan(s: str, depth: int = 0) -> list[_Simple]:
    """Split a command line into simple commands (nested substitutions flattened in)."""
    if depth > 20:
        raise _ParseError("nesting too deep")
    out: list[_Simple] = []
    nested: list[_Simple] = []
    buf: list[str] = []
    redirects: list[tuple[str, str]] = []
    sep = ""
    i, n = 0, len(s)

    def flush(next_sep: str) -> None:
        nonlocal buf, redirects, sep
        text = "".join(buf).strip()
        if text or redirects:
            out.append(_Simple(sep, text, redirects))
        buf, redirects, sep = [], [], next_sep

    def substitution(start: int, end: int, kind: str) -> None:
        for part in _scan(s[start:end], depth + 1):
            if not part.sep:
                part.sep = kind
            nested.append(part)

    while i < n:
        c = s[i]
        if c == "\\":
            buf.append(s[i : i + 2])
            i += 2
        elif c == "'":
            j = s.find("'", i + 1)
            if j < 0:
                raise _ParseError("unbalanced single quote")
            buf.append(s[i : j + 1])
            i = j + 1
        elif c == '"':
            j = _close_dquote(s, i + 1)
            inner = s[i + 1 : j]
            # Substitutions run even inside double quotes.
            k = 0
            while k < len(inner):
                if inner[k] == "\\":
                    k += 2
                elif inner.startswith("$(", k):
                    e = _close(inner, k + 2, ")")
                    for part in _scan(inner[k + 2 : e], depth + 1):
                        part.sep = part.sep or "$("
                        nested.append(part)
                    k = e + 1
                elif inner[k] == "`":
                    e = _close(inner, k + 1, "`")
                    for part in _scan(inner[k + 1 : e], depth + 1):
                        part.sep = part.sep or "`"
                        nested.append(part)
                    k = e + 1
                else:
                    k += 1
            buf.append(s[i : j + 1])
            i = j + 1
        elif s.startswith("$(", i) or (c in "<>" and s[i + 1 : i + 2] == "("):
            j = _close(s, i + 2, ")")
            substitution(i + 2, j, "$(")
            buf.append(_SUBST)
            i = j + 1
        elif c == "`":
            j = _close(s, i + 1, "`")
            substitution(i + 1, j, "`")
            buf.append(_SUBST)
            i = j + 1
        elif c == "#" and (not buf or buf[-1][-1:].isspace()):
            j = s.find("\n", i)
            i = n if j < 0 else j
        elif c in "<>" or (c == "&" and s[i + 1 : i + 2] == ">"):
            text = "".join(buf)
            m = re.search(r"(?:^|\s)(\d+)$", text)
            fd = ""
            if m:
                fd = m.group(1)
                buf = [text[: m.start(1)]]
            j = i
            while j < n and j - i < 3 and s[j] in "<>&|-":
                j += 1
            op = fd + s[i:j]
            while j < n and s[j] in " \t":
                j += 1
            k = j
            while k < n and not s[k].isspace() and s[k] not in ";&|()<>":
                if s[k] in "'\"":
                    q = s.find(s[k], k + 1)
                    k = n if q < 0 else q + 1
                else:
                    k += 1
            redirects.append((op, s[j:k]))
            buf.append(" ")
            i = k
        elif c in ";|&\n()":
            op = s[i : i + 2] if s[i : i + 2] in ("&&", "||", ";;", "|&") else c
            flush(op)
            i += len(op)
        else:
            buf.append(c)
            i += 1
    flush("")
    return out + nested


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


def _path_outside(arg: str, root: Path | None) -> bool:
    """True when a word names something outside the repository."""
    values = [arg]
    if arg.startswith("-") and "=" in arg:
        values.append(arg.split("=", 1)[1])
    for v in values:
        if v.startswith("~"):
            return True
        if v in ("/dev/null", "-"):
            continue
        parts = v.split("/")
        if v.startswith("/") or ".." in parts:
            if root is None:
                return True
            p = Path(os.path.normpath(v if v.startswith("/") else root / v))
            if not (p == root or root in p.parents):
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

    def to_config(self) -> dict[str, Any]:
        return {"allow": list(self.allow), "deny": list(self.deny), "defaults": False}

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
        for pat, rx in self._deny_re:
            if rx.search(cmd):
                return PolicyDecision("deny", f"matches the deny pattern {pat!r}", cmd)
        try:
            parts = self._expand(_scan(cmd), 0)
        except _ParseError as e:
            return PolicyDecision("ask", f"could not parse the command ({e})", cmd)
        decisions = [self._check_simple(argv, redirects, root_p) for argv, redirects in parts]
        for d in decisions:
            if d.verdict == "deny":
                return d
        for d in decisions:
            if d.verdict == "ask":
                return d
        return PolicyDecision("allow", "every part of the command is on the allowlist", cmd)

    # -- internals

    def _expand(self, simples: list[_Simple], depth: int) -> list[tuple[list[str], list]]:
        """Tokenize simple commands and unwrap wrappers (env, timeout, xargs, sh -c, eval)."""
        result: list[tuple[list[str], list]] = []
        for s in simples:
            try:
                argv = shlex.split(s.text) if s.text else []
            except ValueError as e:
                raise _ParseError(str(e)) from None
            argv, scripts = self._unwrap(argv)
            for script in scripts:
                if depth > 10:
                    raise _ParseError("nesting too deep")
                result.extend(self._expand(_scan(script), depth + 1))
            result.append((argv, s.redirects))
        return result

    def _unwrap(self, argv: list[str]) -> tuple[list[str], list[str]]:
        """Strip keywords and wrapper programs; return (argv, nested scripts)."""
        scripts: list[str] = []
        assigns: list[str] = []
        changed = True
        while argv and changed:
            changed = False
            head = argv[0]
            base = os.path.basename(head)
            if head in _KEYWORDS:
                argv, changed = argv[1:], True
            elif _ASSIGN.match(head):
                assigns.append(head)
                argv, changed = argv[1:], True
            elif base in _WRAPPERS:
                argv, changed = argv[1:], True
            elif base == "env":
                argv = argv[1:]
                while argv and (argv[0].startswith("-") or _ASSIGN.match(argv[0])):
                    if _ASSIGN.match(argv[0]):
                        assigns.append(argv[0])
                    argv = argv[1:]
                changed = True
            elif base == "nice":
                argv = argv[1:]
                if argv and argv[0] == "-n":
                    argv = argv[2:]
                elif argv and argv[0].startswith("-"):
                    argv = argv[1:]
                changed = True
            elif base == "timeout":
                argv = argv[1:]
                while argv and argv[0].startswith("-"):
                    argv = (
                        argv[2:]
                        if argv[0] in ("-s", "-k", "--signal", "--kill-after")
                        else argv[1:]
                    )
                argv, changed = argv[1:], True  # the duration
            elif base == "xargs":
                argv = argv[1:]
                while argv and argv[0].startswith("-"):
                    takes = argv[0] in ("-n", "-I", "-P", "-L", "-d", "-s", "-E", "-a")
                    argv = argv[2:] if takes else argv[1:]
                changed = True
            elif base in _SHELLS and any(re.fullmatch(r"-[a-z]*c[a-z]*", a) for a in argv[1:]):
                idx = next(
                    i for i, a in enumerate(argv) if i and re.fullmatch(r"-[a-z]*c[a-z]*", a)
                )
                if idx + 1 < len(argv):
                    scripts.append(argv[idx + 1])
                return [], scripts
            elif base == "eval":
                scripts.append(" ".join(argv[1:]))
                return [], scripts
        # Keep dangerous assignments visible to the checks as a pseudo-word.
        bad = [a for a in assigns if _DANGEROUS_VARS.match(a.split("=", 1)[0])]
        if bad:
            return ["\x00assign", *bad, *argv], scripts
        return argv, scripts

    def _check_simple(
        self, argv: list[str], redirects: list[tuple[str, str]], root: Path | None
    ) -> PolicyDecision:
        text = " ".join(a.replace(_SUBST, "$(...)") for a in argv)
        if argv and argv[0] == "\x00assign":
            return PolicyDecision("ask", f"sets {argv[1].split('=', 1)[0]}", text)
        core = _git_core(argv)
        for pat, toks in self._deny:
            if _deny_match(toks, argv) or (core is not argv and _deny_match(toks, core)):
                return PolicyDecision("deny", f"matches the deny pattern {pat!r}", text)
        if not argv:
            if any(_writes(op, tgt) for op, tgt in redirects):
                return PolicyDecision("ask", "writes a file through a redirection", text)
            return PolicyDecision("allow", "nothing to run", text)
        if not (
            any(_allow_match(t, argv) for t in self._allow)
            or any(rx.search(" ".join(argv)) for rx in self._allow_re)
        ):
            return PolicyDecision("ask", f"`{argv[0]}` is not on the command allowlist", text)
        for op, tgt in redirects:
            if _writes(op, tgt):
                return PolicyDecision("ask", f"writes to {tgt!r} through a redirection", text)
            if _path_outside(tgt, root):
                return PolicyDecision("ask", f"reads {tgt!r}, outside the repository", text)
        unsafe = _UNSAFE_OPTIONS.get(os.path.basename(argv[0]), ())
        for a in argv[1:]:
            if any(a == u or a.startswith(u + "=") for u in unsafe):
                return PolicyDecision("ask", f"option {a!r} can write files or run programs", text)
            if "$" in a.replace(_SUBST, ""):
                return PolicyDecision("ask", f"expands a variable ({a!r})", text)
            if _path_outside(a, root):
                return PolicyDecision("ask", f"names {a!r}, outside the repository", text)
        return PolicyDecision("allow", "on the allowlist", text)


def _writes(op: str, target: str) -> bool:
    if ">" not in op or op.startswith("<"):
        return False
    if op.endswith("&") or target.startswith("&") or target.isdigit() or target == "-":
        return False  # fd duplication like 2>&1
    return target != "/dev/null"
