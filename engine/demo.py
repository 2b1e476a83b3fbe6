"""The offline demo: a sample project with a real bug, fixed by a replayed model.

``prepare_demo`` copies the bundled ``invoice`` sample into a directory,
makes it a git repository with one commit, and returns the path of the
bundled script for the scripted provider. No network and no API key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from engine.errors import UsageError

DEMO_FLOW = "bugfix"
DEMO_GOAL = (
    "invoice_total returns wrong totals: the discount is applied after tax and every line "
    "is rounded separately, so multi-line invoices drift by a cent. Fix it."
)


@dataclass
class Demo:
    repo: Path
    script: Path
    flow: str = DEMO_FLOW
    goal: str = DEMO_GOAL

    @property
    def model(self) -> str:
        return f"scripted:{self.script}"

    @property
    def settings(self) -> dict[str, str]:
        # Run the sample's tests with this interpreter: it has pytest, `python` may not.
        py = sys.executable
        return {"test_command": f'"{py}" -m pytest -q -p no:cacheprovider'}


def _demo_data() -> Path:
    return Path(str(resources.files("flows") / "demo"))


def prepare_demo(directory: str | os.PathLike[str] | None = None) -> Demo:
    """Create the demo repository (a new temp dir if ``directory`` is None)."""
    if directory is None:
        target = Path(tempfile.mkdtemp(prefix="llmflows-demo-"))
    else:
        target = Path(directory).expanduser().resolve()
        if target.exists() and any(target.iterdir()):
            raise UsageError(f"{target} is not empty: give a new or empty directory for the demo")
        target.mkdir(parents=True, exist_ok=True)
    data = _demo_data()
    shutil.copytree(
        data / "sample",
        target,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"),
    )
    (target / ".gitignore").write_text("__pycache__/\n.pytest_cache/\n")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "llmflows demo",
        "GIT_AUTHOR_EMAIL": "demo@llmflows.invalid",
        "GIT_COMMITTER_NAME": "llmflows demo",
        "GIT_COMMITTER_EMAIL": "demo@llmflows.invalid",
    }
    for args in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "invoice: initial version"],
    ):
        subprocess.run(args, cwd=target, env=env, check=True, capture_output=True)
    script = target / ".git" / "llmflows-demo-script.yaml"
    shutil.copyfile(data / "bugfix.script.yaml", script)
    return Demo(repo=target, script=script)
