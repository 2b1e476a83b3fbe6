"""The OS sandbox every agent and flow command runs in (bubblewrap).

Inside: the repository is writable (its ``.git`` and ``.llmflows`` read-only), the
rest of the filesystem read-only, ``/tmp`` a private tmpfs, ``$HOME`` secrets
(``~/.ssh``, ``~/.aws``, ``~/.config``, keyrings...) and the project's secret
files (see :mod:`engine.tools.secrets`) replaced by empty ones, no network
unless asked for, and a PID namespace: ``/proc`` shows only the command's own
processes, and when the command ends every process it started dies with it
(``--unshare-pid --die-with-parent``).

``bwrap`` is found at runtime. Where it is missing or cannot create namespaces,
:func:`sandbox_status` says why and commands run unsandboxed; the tools then
ask for approval for anything not on the allowlist, whatever the autonomy.

Environment: ``LLMFLOWS_SANDBOX=off`` turns the sandbox off (the fallback
above applies), ``LLMFLOWS_SANDBOX_NETWORK=1`` lets commands use the network;
so does ``[sandbox] network = true`` in the user config (never the project's).
``LLMFLOWS_SANDBOX_WRITABLE=DIR[:DIR...]`` binds more folders read-write (a
cache, a log outside the repository), an explicit choice of the person.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.tools.secrets import secret_files

ENV_SANDBOX = "LLMFLOWS_SANDBOX"
ENV_NETWORK = "LLMFLOWS_SANDBOX_NETWORK"
ENV_WRITABLE = "LLMFLOWS_SANDBOX_WRITABLE"

#: Paths under ``$HOME`` that hold credentials: hidden inside the sandbox.
HOME_SECRETS = (
    ".ssh", ".aws", ".azure", ".config", ".gnupg", ".docker", ".kube", ".local/share/keyrings",
    ".password-store", ".netrc", ".git-credentials", ".npmrc", ".pypirc", ".pgpass",
    ".cargo/credentials", ".cargo/credentials.toml", ".m2/settings.xml", ".terraform.d",
)  # fmt: skip
_BASE = ["--die-with-parent", "--unshare-pid", "--unshare-ipc", "--new-session"]
_FS = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]


@dataclass(frozen=True)
class SandboxOptions:
    """How one command is sandboxed.

    ``network``: allow network access (default: only when ``LLMFLOWS_SANDBOX_NETWORK=1``).
    ``writable``: extra directories bound read-write (e.g. a test report's temp dir).
    """

    network: bool | None = None
    writable: tuple[str, ...] = ()


@dataclass(frozen=True)
class SandboxStatus:
    """Whether commands are sandboxed here, and if not, why."""

    available: bool
    reason: str

    def notice(self) -> str:
        """One line for the person: what protects their machine."""
        if self.available:
            return "Commands run in a bubblewrap sandbox (repository writable, no network)."
        return (
            f"No command sandbox: {self.reason}. Commands run unisolated, so every command "
            "not on the allowlist needs your approval, whatever the autonomy level."
        )


def sandbox_status() -> SandboxStatus:
    """Detect bubblewrap (once per process, unless ``LLMFLOWS_SANDBOX`` changes)."""
    return _probe(os.environ.get(ENV_SANDBOX, "").strip().lower())


@lru_cache(maxsize=4)
def _probe(setting: str) -> SandboxStatus:
    if setting in ("off", "0", "no", "false"):
        return SandboxStatus(False, f"turned off by {ENV_SANDBOX}={setting}")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return SandboxStatus(False, "bubblewrap (bwrap) is not installed")
    try:
        r = subprocess.run(
            [bwrap, *_BASE, "--unshare-net", *_FS, "true"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return SandboxStatus(False, f"bwrap could not start ({e})")
    if r.returncode != 0:
        err = r.stderr.decode("utf-8", "replace").strip().splitlines()
        return SandboxStatus(False, f"bwrap cannot create namespaces here ({' '.join(err[-1:])})")
    return SandboxStatus(True, bwrap)


_told = False


def notice_once() -> str | None:
    """The fallback notice the first time it is asked for in this process, else None."""
    global _told
    status = sandbox_status()
    if status.available or _told:
        return None
    _told = True
    return status.notice()


def network_allowed(options: SandboxOptions) -> bool:
    """Explicit option > ``LLMFLOWS_SANDBOX_NETWORK`` > user config ``[sandbox] network``."""
    if options.network is not None:
        return options.network
    env = os.environ.get(ENV_NETWORK, "").strip().lower()
    if env:
        return env in ("1", "on", "yes", "true")
    return _user_network_setting()


def _user_network_setting() -> bool:
    import tomllib

    from engine.models.settings import user_config_path

    try:
        table = tomllib.loads(user_config_path().read_text(encoding="utf-8")).get("sandbox")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return isinstance(table, dict) and table.get("network") is True


def wrap(
    argv: list[str],
    root: str | os.PathLike[str],
    cwd: str | os.PathLike[str],
    options: SandboxOptions | None = None,
    home: str | None = None,
) -> list[str]:
    """``argv`` wrapped in bwrap for the repository ``root`` (needs :func:`sandbox_status`)."""
    status = sandbox_status()
    if not status.available:
        raise RuntimeError(status.notice())
    options = options or SandboxOptions()
    root_p = Path(root).resolve()
    args = [status.reason, *_BASE]
    if not network_allowed(options):
        args.append("--unshare-net")
    args += _FS
    for d in _interpreter_dirs_in_tmp():  # e.g. a venv in /tmp: the tests run with it
        args += ["--ro-bind", d, d]
    home_p = Path(home if home is not None else os.path.expanduser("~"))
    for rel in HOME_SECRETS:
        args += _hide(home_p / rel, root_p)
    args += ["--bind", str(root_p), str(root_p)]
    extra = [p for p in os.environ.get(ENV_WRITABLE, "").split(os.pathsep) if p.strip()]
    for w in [*options.writable, *extra]:
        if os.path.isdir(w):
            args += ["--bind", w, w]
    for protected in (".git", ".llmflows"):
        p = root_p / protected
        if os.path.lexists(p) and not p.is_symlink():
            args += ["--ro-bind", str(p), str(p)]
    for rel in secret_files(root_p).hidden():
        args += _hide(root_p / rel, None)
    args += ["--chdir", str(Path(cwd).resolve()), "--", *argv]
    return args


def _interpreter_dirs_in_tmp() -> list[str]:
    """This interpreter's folders that lie under /tmp, which is a fresh tmpfs inside.

    The demo and the built-in flows run the project's tests with this interpreter, so
    an app installed in /tmp (a venv made there) must stay visible, read-only.
    """
    import sys

    dirs = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    found: list[str] = []
    for d in sorted(dirs):
        real = os.path.realpath(d)
        if real.startswith("/tmp/") and os.path.isdir(real) and real not in found:
            found.append(real)
    return found


def _hide(path: Path, keep: Path | None) -> list[str]:
    """Mount arguments that replace ``path`` with an empty file or folder."""
    if path.is_symlink() or not path.exists():
        return []
    if keep is not None:
        if keep == path or path in keep.parents or keep in path.parents:
            return []  # the repository lives there; its own secrets are hidden separately
        if str(path).startswith("/tmp/"):
            return []  # already hidden: /tmp is a fresh tmpfs inside
    if path.is_dir():
        return ["--tmpfs", str(path)]
    return ["--ro-bind", "/dev/null", str(path)]
