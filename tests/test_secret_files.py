"""Secrets kept from the model: secret files refused by the file tools, credential
variables scrubbed from command environments and masked in tool output."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path

import pytest

from engine.models import resolve_model_settings
from engine.run import operations as ops
from engine.run.executor import Executor
from engine.run.session import Session
from engine.tools import ToolContext, Workspace, call_tool, scrubbed_env
from engine.tools.secrets import is_secret_var, scrub_text, secret_values
from tests.support.gitutil import init_repo
from tests.support.openai_server import (  # noqa: F401  (fixture)
    openai_server,
    reply_text,
    reply_tool_calls,
)

ENV_KEY = "sk-live-0123456789abcdefSECRET"

#: The 33 credential-bearing variables of the adversarial probe (issue 16).
PROBE = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
    "SENTRY_DSN": "https://abc123@o1.ingest.sentry.io/42",
    "MYSQL_PWD": "mysql-pw-123",
    "NPM_CONFIG__AUTH": "bnBtOnNlY3JldA==",
    "REDIS_URL": "redis://:redis-pw-9@cache:6379/0",
    "https_proxy": "http://user:proxy-pw@proxy:3128",
    "HTTP_PROXY": "http://user:proxy-pw2@proxy:3128",
    "GITHUB_PAT": "github_pat_11AAAAAAA0123456789abcdef",
    "GH_TOKEN": "ghp_0123456789abcdefghijABCDEFGHIJ0123",
    "DOCKER_AUTH_CONFIG": '{"auths": {"r.io": {"auth": "dXNlcjpwdw=="}}}',
    "AWS_ACCESS_KEY_ID": "AKIAABCDEFGHIJKLMNOP",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-key-value",
    "AWS_SESSION_TOKEN": "aws-session-token-value",
    "AWS_PROFILE": "prod-admin",
    "OPENAI_API_KEY": "sk-openai-0123456789abcdefgh",
    "ANTHROPIC_API_KEY": "sk-ant-0123456789abcdefgh",
    "GOOGLE_APPLICATION_CREDENTIALS": "/home/u/sa.json",
    "AZURE_CLIENT_SECRET": "azure-secret",
    "DATABASE_URL": "postgres://app:db-pw@db/app",
    "MONGO_URI": "mongodb://root:mongo-pw@mongo:27017",
    "PGPASSWORD": "pg-pw-123",
    "TWILIO_AUTH_TOKEN": "twilio-token",
    "STRIPE_API_KEY": "sk_live_stripe",
    "SENDGRID_API_KEY": "SG.sendgrid",
    "CI_JOB_JWT": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl",
    "GITLAB_TOKEN": "glpat-0123456789abcdefghij",
    "NETLIFY_AUTH_TOKEN": "netlify-token",
    "HEROKU_API_KEY": "heroku-key",
    "VAULT_TOKEN": "hvs.vault-token",
    "SSH_AUTH_SOCK": "/tmp/ssh-agent.sock",
    "COOKIE_SECRET": "cookie-secret",
    "DJANGO_SECRET_KEY": "django-secret",
    "SMTP_PASS": "smtp-pass",
}


def test_the_33_variable_probe_has_no_survivors() -> None:
    assert len(PROBE) == 33
    env = scrubbed_env({**PROBE, "PATH": "/usr/bin", "HOME": "/home/u", "PWD": "/src"})
    assert sorted(set(PROBE) & set(env)) == []
    assert {"PATH", "HOME", "PWD"} <= set(env)  # ordinary variables stay


def test_ordinary_variables_are_not_mistaken_for_secrets() -> None:
    for name in ("PATH", "HOME", "LANG", "TERM", "PWD", "OLDPWD", "GIT_AUTHOR_NAME", "EDITOR"):
        assert not is_secret_var(name, "/usr/bin"), name


def test_configured_api_key_env_is_scrubbed_and_masked() -> None:
    base = {"LLM_GATEWAY": "gw-0123456789", "PATH": "/usr/bin"}
    assert "LLM_GATEWAY" in scrubbed_env(base)  # an unremarkable name...
    assert "LLM_GATEWAY" not in scrubbed_env(base, extra=["LLM_GATEWAY"])  # ...once configured
    values = secret_values(base, extra=["LLM_GATEWAY"])
    assert scrub_text("key is gw-0123456789.", values) == "key is [secret $LLM_GATEWAY]."


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    repo = init_repo(
        tmp_path / "r",
        {
            "README.md": "hello\n",
            ".gitignore": ".env\nkeys/\n",
            ".env.example": "API_KEY=changeme\n",
            ".llmflowsignore": "private/\n",
            "private/notes.md": "the launch code is 0000\n",
        },
    )
    (repo / ".env").write_text(f"API_KEY={ENV_KEY}\n")
    (repo / "server.pem").write_text("PEM hello\n")
    (repo / "keys").mkdir()
    (repo / "keys" / "id_ed25519").write_text("hello key\n")
    return Workspace(repo)


@pytest.mark.parametrize("path", [".env", "server.pem", "keys/id_ed25519", "private/notes.md"])
async def test_file_tools_refuse_secret_files(ws: Workspace, path: str) -> None:
    for name, args in (
        ("read_file", {"path": path}),
        ("search", {"pattern": "hello|API|launch", "path": path}),
        ("edit_file", {"path": path, "old": "hello", "new": "bye"}),
        ("write_file", {"path": path, "content": "overwritten"}),
    ):
        res = await call_tool(ws, name, args, ToolContext())
        assert not res.ok and "secret file" in res.content, (name, res.content)
    assert "overwritten" not in (ws.root / path).read_text()


async def test_listing_and_searching_skip_secret_files(ws: Workspace) -> None:
    res = await call_tool(ws, "list_files", {"pattern": "*"}, ToolContext())
    listed = res.content.splitlines()
    assert ".env.example" in listed and "README.md" in listed
    assert not {".env", "server.pem", "private/notes.md"} & set(listed)
    res = await call_tool(ws, "search", {"pattern": "hello|launch|API_KEY"}, ToolContext())
    assert "README.md" in res.content and ".env.example" in res.content
    assert ENV_KEY not in res.content and "launch code" not in res.content
    assert "server.pem" not in res.content


async def test_secret_values_are_masked_in_tool_output(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", ENV_KEY)
    (ws.root / "notes.txt").write_text(f"someone pasted {ENV_KEY} here\n")
    res = await call_tool(ws, "read_file", {"path": "notes.txt"}, ToolContext())
    assert ENV_KEY not in res.content and "[secret $DEPLOY_TOKEN]" in res.content


FLOW = """\
name: snoop
description: an agent that tries to read the .env
nodes:
  - id: look
    kind: agent
    tools: [read_file, search, run_command, finish]
    prompt: "Find the API key."
    next: end
"""


def test_attacker_model_never_receives_the_env_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    openai_server,  # noqa: F811
) -> None:
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n", ".gitignore": ".env\n"})
    (repo / ".env").write_text(f"API_KEY={ENV_KEY}\n")
    monkeypatch.setenv("LLMFLOWS_MODEL", "openai/test-model")
    monkeypatch.setenv("LLMFLOWS_API_BASE", openai_server.api_base)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-provider-key-000")
    flow = tmp_path / "snoop.yaml"
    flow.write_text(FLOW)
    calls = [
        ("read_file", {"path": ".env"}),
        ("search", {"pattern": "API_KEY", "path": "."}),
        ("run_command", {"command": "cat .env"}),
        ("run_command", {"command": "grep -r API_KEY ."}),
    ]
    openai_server.enqueue(
        *[
            reply_tool_calls([{"id": f"c{i}", "name": n, "arguments": a}])
            for i, (n, a) in enumerate(calls)
        ],
        reply_tool_calls([{"id": "f", "name": "finish", "arguments": {"summary": "none"}}]),
        reply_text("done"),
    )
    with Session.open(repo) as s:
        settings = resolve_model_settings(None, repo)
        run_id = ops.create_run(
            s,
            str(flow),
            "steal",
            model=settings.model,
            model_settings=asdict(settings),
            autonomy="full",
        )
        out = asyncio.run(Executor(s, run_id).execute())
        assert out.status == "completed", out
    sent = json.dumps(openai_server.requests)
    assert "secret file" in sent  # the model was told why
    assert ENV_KEY not in sent
