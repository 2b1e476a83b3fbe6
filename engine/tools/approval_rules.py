"""Remembered command approvals: "always allow this prefix" here (project) or for me (user).

A rule is a prefix of shell words (``npm run lint`` allows ``npm run lint --fix``).
Rules live in the user's own config directory, never in the repository — a
project file must not widen what commands run unasked — in ``approvals.toml``:

    [user]
    allow = ["npm run lint"]            # for me, in every repository

    [projects."/home/me/src/app"]       # here: this repository (and its worktrees)
    allow = ["make docs"]

The file can be edited by hand (comments survive: tomlkit). The command policy
gets the rules as extra allow patterns through :func:`with_rules`; they never lift
a deny, and the policy's other checks (redirections, paths outside the repo, ...)
still ask.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from engine.errors import UsageError
from engine.records import ApprovalRule, RuleScope

_GLOB = str.maketrans({"*": "[*]", "?": "[?]", "[": "[[]"})


def rules_path() -> Path:
    """``approvals.toml`` beside the user config file."""
    from engine.models.settings import user_config_path

    return user_config_path().with_name("approvals.toml")


def project_key(repo_root: str | os.PathLike[str]) -> str:
    """The repository a project rule belongs to: its main work tree, so worktrees share rules."""
    import subprocess

    out = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return str(Path(repo_root).resolve())
    common = Path(out.stdout.strip())
    return str(common.parent if common.name == ".git" else common)


def normalize_prefix(prefix: str) -> str:
    """One space between words; a clear error for what cannot be a prefix."""
    try:
        words = shlex.split(prefix)
    except ValueError as e:
        raise UsageError(f"approval rule {prefix!r}: {e}") from None
    if not words:
        raise UsageError("an approval rule needs a command prefix, e.g. 'npm run lint'")
    if words[0].startswith("re:"):
        raise UsageError("approval rules are word prefixes, not regexes")
    return shlex.join(words)


def suggest_prefix(command: str) -> str:
    """The leading words of ``command`` that name what it does (at most three): the
    program, its subcommands and options, up to the first path, assignment or operator.
    Options stay in so ``python -m pytest`` does not become ``python``."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    out: list[str] = []
    for w in words[:3]:
        if out and ("/" in w or "." in w or "=" in w):
            break
        if any(c in w for c in ";&|<>$`"):
            break
        out.append(w)
    return shlex.join(out) if out else command.strip()


def _load():
    import tomlkit

    path = rules_path()
    if not path.is_file():
        doc = tomlkit.document()
        doc.add(tomlkit.comment("Commands llmflows-tui runs without asking (word prefixes)."))
        doc.add(tomlkit.comment('[user]: everywhere; [projects."PATH"]: in that repository.'))
        return doc
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except Exception as e:  # tomlkit raises its own ParseError subclasses
        raise UsageError(f"{path}: {e}") from None


def _allow_list(table) -> list[str]:
    value = (table or {}).get("allow") or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{rules_path()}: 'allow' must be a list of strings")
    return [str(v) for v in value]


def list_rules(repo_root: str | os.PathLike[str] | None) -> list[ApprovalRule]:
    """Project rules for ``repo_root`` (if given) first, then the user's."""
    doc = _load()
    rules: list[ApprovalRule] = []
    if repo_root is not None:
        projects = doc.get("projects") or {}
        for p in _allow_list(projects.get(project_key(repo_root))):
            rules.append(ApprovalRule(p, RuleScope.PROJECT))
    rules += [ApprovalRule(p, RuleScope.USER) for p in _allow_list(doc.get("user"))]
    return rules


def _table_for(doc, scope: RuleScope, repo_root, create: bool):
    import tomlkit

    if scope is RuleScope.USER:
        if "user" not in doc and create:
            doc["user"] = tomlkit.table()
        return doc.get("user")
    if "projects" not in doc and create:
        doc["projects"] = tomlkit.table(is_super_table=True)
    projects = doc.get("projects")
    key = project_key(repo_root)
    if projects is not None and key not in projects and create:
        projects[key] = tomlkit.table()
    return projects.get(key) if projects is not None else None


def _save(doc) -> None:
    import tomlkit

    path = rules_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)


def add_rule(prefix: str, scope: RuleScope | str, repo_root) -> ApprovalRule:
    """Remember ``prefix`` for this project or for the user (idempotent)."""
    import tomlkit

    scope, prefix = RuleScope(scope), normalize_prefix(prefix)
    doc = _load()
    table = _table_for(doc, scope, repo_root, create=True)
    current = _allow_list(table)
    if prefix not in current:
        array = tomlkit.array()
        array.extend([*current, prefix])
        table["allow"] = array.multiline(len(current) >= 2)
        _save(doc)
    return ApprovalRule(prefix, scope)


def remove_rule(prefix: str, scope: RuleScope | str, repo_root) -> bool:
    """Forget a rule; False if there was none. The other entries keep their comments."""
    scope, prefix = RuleScope(scope), normalize_prefix(prefix)
    doc = _load()
    table = _table_for(doc, scope, repo_root, create=False)
    current = _allow_list(table)
    if prefix not in current:
        return False
    del table["allow"][current.index(prefix)]  # in place: a new list would drop comments
    _save(doc)
    return True


def with_rules(policy, repo_root):
    """``policy`` plus the remembered rules as allow patterns (denies stay as they are)."""
    from engine.tools.policy import CommandPolicy

    extra = [r.prefix.translate(_GLOB) for r in list_rules(repo_root)]
    if not extra:
        return policy
    return CommandPolicy(allow=[*policy.allow, *extra], deny=list(policy.deny))


def remember_gate_command(
    session, run_id: str, scope: RuleScope | str, prefix: str = ""
) -> ApprovalRule:
    """At a command gate: remember ``prefix`` (default: :func:`suggest_prefix` of the
    waiting command) so matching commands no longer ask. The caller then approves."""
    gate = session.store.pending_gate(run_id)
    if gate is None or gate["kind"] != "command":
        raise UsageError(f"run {run_id} is not waiting at a command gate")
    command = (gate.get("payload") or {}).get("command", "")
    prefix = normalize_prefix(prefix) if prefix else suggest_prefix(command)
    if not _covers(prefix, command):
        raise UsageError(f"{prefix!r} is not a prefix of the waiting command {command!r}")
    return add_rule(prefix, scope, session.repo_root)


def _covers(prefix: str, command: str) -> bool:
    try:
        words, cmd = shlex.split(prefix), shlex.split(command)
    except ValueError:
        return False
    return cmd[: len(words)] == words
