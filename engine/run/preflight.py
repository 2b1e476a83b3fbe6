"""Checks made before a run is recorded: repository state, policy, limits, model settings.

Anything wrong here is the person's to fix, so it is a :class:`UsageError` with
one clear line, raised before a run row exists (nothing half-made to clean up).
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Any

from engine.errors import UsageError

#: Files git keeps while an operation waits for the person, and how to finish it.
_IN_PROGRESS = {
    "MERGE_HEAD": ("a merge", "git merge --continue` or `git merge --abort"),
    "rebase-merge": ("a rebase", "git rebase --continue` or `git rebase --abort"),
    "rebase-apply": ("a rebase or `git am`", "git rebase --abort` or `git am --abort"),
    "CHERRY_PICK_HEAD": ("a cherry-pick", "git cherry-pick --abort"),
    "REVERT_HEAD": ("a revert", "git revert --abort"),
    "BISECT_LOG": ("a bisect", "git bisect reset"),
}

_POSITIVE_SETTINGS = ("timeout_s", "retry_base_s", "retry_max_s")


def check_repo_state(repo_root: Path) -> None:
    """Refuse a repository in the middle of a merge, rebase, cherry-pick, revert or bisect."""
    args = ["git", "rev-parse"]
    for name in _IN_PROGRESS:
        args += ["--git-path", name]
    out = subprocess.run(args, cwd=repo_root, capture_output=True, text=True, check=False)
    for name, rel in zip(_IN_PROGRESS, out.stdout.splitlines(), strict=False):
        if (Path(repo_root) / rel).exists():
            what, finish = _IN_PROGRESS[name]
            raise UsageError(
                f"the repository is in the middle of {what}: finish it first (`{finish}`), "
                "then start the run"
            )


def check_policy(policy: dict[str, Any]) -> None:
    """``[policy]`` allow/deny must be lists of non-empty command patterns."""
    from engine.tools import CommandPolicy

    for name in ("allow", "deny"):
        value = policy.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise UsageError(
                f".llmflows/config.toml: [policy] {name} must be a list of non-empty command "
                f'patterns, e.g. {name} = ["make test"]'
            )
    if "defaults" in policy and not isinstance(policy["defaults"], bool):
        raise UsageError(".llmflows/config.toml: [policy] defaults must be true or false")
    try:
        CommandPolicy.from_config(policy)
    except ValueError as e:
        raise UsageError(f".llmflows/config.toml: [policy]: {e}") from None


def check_limits(limits: dict[str, Any]) -> None:
    """Budgets are positive finite numbers (``nan`` or ``inf`` would never stop a run)."""
    for key, value in (limits or {}).items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"{key} must be a number, not {value!r}")
        if not math.isfinite(value) or value <= 0:
            raise UsageError(f"{key} must be a positive number, not {value}")


def check_model_settings(settings: dict[str, Any]) -> None:
    """Timeouts are positive; a ``scripted:PATH`` names a file."""
    from engine.models.scripted_names import is_scripted, scripted_path

    for key in _POSITIVE_SETTINGS:
        value = settings.get(key)
        if value is None:
            continue
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise UsageError(
                f"model setting {key} must be a positive number of seconds, not {value}"
            )
    model = str(settings.get("model") or "")
    for name in [model, *(settings.get("fallbacks") or [])]:
        if is_scripted(str(name)):
            path = Path(scripted_path(str(name))).expanduser()
            if path.is_dir():
                raise UsageError(f"{name}: {path} is a directory; give the script's YAML file")
            if not path.is_file():
                raise UsageError(f"{name}: no script file at {path}")


def check_start(repo_root: Path, config: dict[str, Any]) -> None:
    """Everything :func:`engine.run.operations.create_run` checks before recording a run."""
    check_repo_state(repo_root)
    check_policy(config.get("policy") or {})
    check_limits(config.get("limits") or {})
    check_model_settings(config.get("model_settings") or {})
