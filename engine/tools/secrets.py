"""What counts as a secret: files the agent may not see, variables it may not inherit.

Files: a default list in gitignore syntax (:data:`DEFAULT_SECRET_FILES`) plus the
project's ``.llmflowsignore`` (same syntax, matched with ``pathspec``). The file
tools refuse them and the command sandbox hides them.

Variables: a name is secret when one of its ``_``-separated words is a
credential word (``KEY``, ``TOKEN``, ``PAT``, ``DSN``, ``AUTH``...), it belongs to
a provider/cloud family (``AWS_``, ``OPENAI_``...), it is the configured
``api_key_env``, or its value looks like a credential (a URL with a password, a
known token format). :func:`scrub_text` replaces secret values in any text
(tool output) before it is stored or sent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

import pathspec

#: Files never shown to the model (gitignore syntax; ``!`` re-includes).
DEFAULT_SECRET_FILES: tuple[str, ...] = (
    ".env",
    ".env.*",
    "!.env.example",
    "!.env.sample",
    "!.env.template",
    ".envrc",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".htpasswd",
    "credentials",
    "credentials.json",
    "*credentials*.json",
    "service-account*.json",
    "secrets.y*ml",
    ".ssh/",
    ".aws/",
    ".gnupg/",
    ".docker/config.json",
    ".kube/config",
)
IGNORE_FILE = ".llmflowsignore"
#: Dependency and cache folders the sandbox's secret search does not walk (size; they
#: hold installed packages, not the project's credentials). File tools still refuse.
NO_WALK = frozenset(
    {"node_modules", ".venv", "venv", ".tox", ".nox", "__pycache__", ".mypy_cache",
     ".pytest_cache", ".ruff_cache"}
)  # fmt: skip

# --------------------------------------------------------------------------- files


class SecretFiles:
    """Matches repo-relative paths against the secret list + ``.llmflowsignore``."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        lines = list(DEFAULT_SECRET_FILES)
        ignore = self.root / IGNORE_FILE
        try:
            lines += ignore.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            pass
        self.spec = pathspec.GitIgnoreSpec.from_lines(lines)

    def matches(self, rel: str) -> bool:
        """True when ``rel`` (relative, forward slashes) or a folder above it is secret."""
        rel = rel.strip("/")
        if not rel or rel == ".":
            return False
        return self.spec.match_file(rel)

    def hidden(self) -> list[str]:
        """Every secret path under the root (a matching folder stands for its contents)."""
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel_dir = os.path.relpath(dirpath, self.root)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            if ".git" in dirnames:
                dirnames.remove(".git")
            keep = []
            for d in dirnames:
                if d in NO_WALK:
                    continue
                if self.spec.match_file(rel_dir + d + "/"):
                    found.append(rel_dir + d)
                else:
                    keep.append(d)
            dirnames[:] = keep
            found += [rel_dir + f for f in filenames if self.spec.match_file(rel_dir + f)]
        return sorted(found)


def secret_files(root: str | os.PathLike[str]) -> SecretFiles:
    """The matcher for ``root``, re-read when ``.llmflowsignore`` changes."""
    try:
        st = os.stat(Path(root) / IGNORE_FILE)
        key = (st.st_mtime_ns, st.st_size)
    except OSError:
        key = (0, -1)
    return _cached(str(root), key)


@lru_cache(maxsize=16)
def _cached(root: str, _key: tuple[int, int]) -> SecretFiles:
    return SecretFiles(root)


def refusal(rel: str) -> str:
    """The message the model gets for a secret path."""
    return (
        f"'{rel}' is a secret file (it matches the secret-file list or .llmflowsignore); "
        "its contents are never shown. Work without it, or ask the user for what you need."
    )


# --------------------------------------------------------------------------- variables

#: Words of a variable name (split at ``_``) that mark a credential.
SECRET_WORDS = frozenset(
    {
        "KEY", "APIKEY", "TOKEN", "SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASS", "PWD",
        "PASSPHRASE", "CREDENTIAL", "CREDENTIALS", "CREDS", "PRIVATE", "AUTH", "PAT",
        "DSN", "WEBHOOK", "COOKIE", "SIGNATURE", "SALT", "OTP", "BEARER",
    }
)  # fmt: skip
#: Whole families of provider / cloud variables.
SECRET_PREFIXES = (
    "AWS_", "AZURE_", "GOOGLE_", "GCP_", "GCLOUD_", "OPENAI_", "ANTHROPIC_", "GEMINI_",
    "COHERE_", "MISTRAL_", "GROQ_", "TOGETHER_", "REPLICATE_", "HUGGINGFACE", "HF_",
    "DEEPSEEK_", "OPENROUTER_", "PERPLEXITY_", "FIREWORKS_", "VERTEX", "DATABRICKS_",
    "LITELLM_", "VOYAGE_", "XAI_", "BEDROCK_", "VAULT_", "DOCKER_AUTH", "NPM_CONFIG__",
    "TWILIO_", "STRIPE_", "SENDGRID_", "CLOUDFLARE_", "DIGITALOCEAN_", "HEROKU_",
)  # fmt: skip
SECRET_NAMES = frozenset(
    {"SSH_AUTH_SOCK", "DATABASE_URL", "NETRC", "GIT_ASKPASS", "SSH_ASKPASS", "KUBECONFIG"}
)
#: Names that look secret by a word but are not (``PWD`` is the working directory).
NOT_SECRET = frozenset({"PWD", "OLDPWD", "GPG_TTY", "SSH_TTY", "KEYTIMEOUT"})
#: Values that are credentials whatever the variable is called.
SECRET_VALUES = re.compile(
    r"://[^/\s:@]*:[^/\s@]+@"  # a URL with a password (redis://:pw@h, https://u:pw@proxy)
    r"|hooks\.slack\.com/services/"
    r"|\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\bgithub_pat_\w{20,}"
    r"|\bglpat-[\w-]{20,}|\bxox[abprs]-[\w-]{10,}|\bsk-[\w-]{20,}|\bnpm_[A-Za-z0-9]{30,}"
    r"|\bA(?:KIA|SIA)[0-9A-Z]{16}\b|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\beyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]{10,}"  # a JWT
)


def is_secret_var(name: str, value: str = "", extra: Iterable[str] = ()) -> bool:
    """True when an environment variable looks like a credential.

    ``extra``: more names that are secret here (the configured ``api_key_env``).
    """
    upper = name.upper()
    if upper in {e.upper() for e in extra}:
        return True
    if upper in NOT_SECRET:
        return bool(value) and bool(SECRET_VALUES.search(value))
    words = {w for w in re.split(r"_+", upper) if w}
    return (
        bool(words & SECRET_WORDS)
        or any(w.endswith(("KEY", "TOKEN", "SECRET", "PASSWORD")) for w in words)
        or upper.startswith(SECRET_PREFIXES)
        or upper in SECRET_NAMES
        or bool(value and SECRET_VALUES.search(value))
    )


def secret_values(
    env: Mapping[str, str] | None = None, extra: Iterable[str] = ()
) -> dict[str, str]:
    """``{value: name}`` of the secret variables in ``env`` (default ``os.environ``)."""
    src = os.environ if env is None else env
    extra = tuple(extra)
    return {v: k for k, v in src.items() if len(v) >= 6 and is_secret_var(k, v, extra)}


def scrub_text(text: str, values: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret value (see :func:`secret_values`) masked."""
    if not text:
        return text
    values = secret_values() if values is None else values
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, f"[secret ${values[value]}]")
    return text
