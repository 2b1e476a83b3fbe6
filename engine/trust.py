"""Trust gate for project files: ``.llmflows/config.toml`` and ``.llmflows/flows/``.

A cloned repository can carry those files; they choose the model, the flows
(whose ``run`` nodes execute commands) and command deny lists. Before a run
uses them, the person trusts them once: the TUI asks with a modal, headless
runs refuse (exit 2) until ``llmflows-tui trust`` (or ``--trust`` for CI).
Trust is recorded in the user's config dir (``trust.json`` beside
``config.toml``), keyed by the repository path and a SHA-256 of those files,
so any change to them asks again.

Even trusted, a project file never sets ``api_base`` or ``api_key_env`` (the
model endpoint and which secret it gets) nor widens the command policy
(``[policy] allow`` / ``defaults = false``): those are honoured only from the
user config, the environment or flags (:data:`PROJECT_IGNORED`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from engine.errors import UsageError

#: Keys a project config may contain but that only user config, env or flags can set.
PROJECT_IGNORED: dict[str, tuple[str, ...]] = {
    "model": ("api_base", "api_key_env"),
    "policy": ("allow", "defaults"),
}
TRUST_FILE = "trust.json"


class TrustState(StrEnum):
    """Where a repository's project files stand."""

    NOTHING = "nothing"  # no project config or flows: nothing to trust
    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"  # never trusted
    CHANGED = "changed"  # trusted once, the files changed since


@dataclass
class TrustCheck:
    """The trust state of one repository, and what its project files set."""

    repo: str
    state: TrustState
    digest: str = ""
    files: list[str] = field(default_factory=list)  # repo-relative

    @property
    def ok(self) -> bool:
        return self.state in (TrustState.NOTHING, TrustState.TRUSTED)


def trust_store_path() -> Path:
    """``$XDG_CONFIG_HOME/llmflows-tui/trust.json`` (the user config's folder)."""
    from engine.models.settings import user_config_path

    return user_config_path().parent / TRUST_FILE


def project_files(repo_root: str | os.PathLike[str]) -> list[str]:
    """The project files trust covers, repo-relative, sorted."""
    root = Path(repo_root)
    out: list[str] = []
    config = root / ".llmflows" / "config.toml"
    if config.is_file():
        out.append(".llmflows/config.toml")
    flows = root / ".llmflows" / "flows"
    if flows.is_dir():
        for dirpath, _dirs, names in os.walk(flows):
            for name in names:
                out.append(Path(os.path.relpath(os.path.join(dirpath, name), root)).as_posix())
    return sorted(out)


def project_digest(repo_root: str | os.PathLike[str], files: list[str]) -> str:
    """SHA-256 over the names and contents of ``files``."""
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode() + b"\0")
        try:
            h.update((Path(repo_root) / rel).read_bytes())
        except OSError as e:
            h.update(f"<unreadable: {e.strerror}>".encode())
        h.update(b"\0")
    return h.hexdigest()


def _load_store() -> dict[str, Any]:
    try:
        data = json.loads(trust_store_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    repos = data.get("repos") if isinstance(data, dict) else None
    return repos if isinstance(repos, dict) else {}


def check_trust(repo_root: str | os.PathLike[str]) -> TrustCheck:
    """Whether the repository's project files are trusted as they are now."""
    root = str(Path(repo_root).resolve())
    files = project_files(root)
    if not files:
        return TrustCheck(root, TrustState.NOTHING)
    digest = project_digest(root, files)
    entry = _load_store().get(root)
    if not isinstance(entry, dict):
        return TrustCheck(root, TrustState.UNTRUSTED, digest, files)
    state = TrustState.TRUSTED if entry.get("sha256") == digest else TrustState.CHANGED
    return TrustCheck(root, state, digest, files)


def record_trust(repo_root: str | os.PathLike[str]) -> TrustCheck:
    """Trust the repository's project files as they are now (atomic write)."""
    check = check_trust(repo_root)
    if check.state == TrustState.NOTHING:
        return check
    repos = _load_store()
    repos[check.repo] = {"sha256": check.digest, "files": check.files, "trusted_at": time.time()}
    path = trust_store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".trust-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"version": 1, "repos": repos}, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return TrustCheck(check.repo, TrustState.TRUSTED, check.digest, check.files)


def require_trust(repo_root: str | os.PathLike[str], trust_flag: bool = False) -> TrustCheck:
    """Raise UsageError (exit 2) naming ``llmflows-tui trust`` unless trusted.

    ``trust_flag`` (``--trust``, for CI) accepts the files for this invocation
    without recording anything.
    """
    check = check_trust(repo_root)
    if check.ok or trust_flag:
        return check
    what = "changed since you trusted them" if check.state == TrustState.CHANGED else "not trusted"
    raise UsageError(
        f"this repository's project files ({', '.join(check.files)}) are {what}. "
        f"Review them with `llmflows-tui trust` (in {check.repo}), or pass --trust in CI."
    )


def describe(repo_root: str | os.PathLike[str]) -> list[str]:
    """Lines saying what the project files set (for the trust prompt and verb)."""
    from engine.flow.listing import find_flows

    root = Path(repo_root)
    lines: list[str] = []
    config = root / ".llmflows" / "config.toml"
    if config.is_file():
        lines.append(".llmflows/config.toml sets:")
        try:
            table = tomllib.loads(config.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as e:
            table = {}
            lines.append(f"  (unreadable: {e})")
        for key, value in _flatten(table):
            section = key.split(".", 1)[0]
            leaf = key.split(".")[1] if "." in key else ""
            note = ""
            if leaf in PROJECT_IGNORED.get(section, ()):
                note = "  [ignored: only your user config, env or flags may set this]"
            lines.append(f"  {key} = {json.dumps(value, default=str)}{note}")
    project = [f for f in find_flows(root) if f.source == "project"]
    if project:
        lines.append(".llmflows/flows/ defines flows (their `run` nodes execute commands):")
        for f in project:
            label = "project, shadows built-in" if f.shadows_builtin else "project"
            lines.append(f"  {f.name} ({label}): {f.description}")
    return lines


def _flatten(table: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += _flatten(v, key + ".")
        else:
            out.append((key, v))
    return out
