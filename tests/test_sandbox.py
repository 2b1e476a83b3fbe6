"""The command sandbox, tested as an attacker would use it: commands that try to
write outside the repository, read ~/.ssh or the repo's .env, reach the network,
peek at other processes through /proc, or leave processes behind."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.tools import ToolContext, Workspace, call_tool, run_command, run_tests
from engine.tools.dispatch import needs_approval
from engine.tools.sandbox import ENV_SANDBOX, notice_once, sandbox_status
from tests.support.gitutil import init_repo

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-ssh-key-material\n"


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder outside the repository and outside /tmp (the sandbox's /tmp is private)."""
    d = Path(tempfile.mkdtemp(prefix="llmflows-outside-", dir="/var/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "repo", {"README.md": "hi\n", ".gitignore": ".env\n"})


def test_the_sandbox_is_available_here() -> None:
    # .ci/run installs bubblewrap; without it every other test here would prove nothing.
    status = sandbox_status()
    assert status.available, status.reason


async def test_cannot_write_outside_the_repository(repo: Path, outside: Path) -> None:
    target = outside / "pwned"
    res = await run_command(f"echo owned > {target}; echo inside > ok.txt", repo)
    assert not target.exists()
    assert "Read-only file system" in res.output
    assert (repo / "ok.txt").read_text() == "inside\n"  # the repository stays writable


async def test_an_interpreter_installed_under_tmp_stays_visible(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `pip install` into a venv in /tmp, then the demo: its tests run with that venv's
    # python, which the sandbox's private /tmp must not hide.
    prefix = tmp_path / "venv"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "marker").write_text("visible\n")
    monkeypatch.setattr("sys.prefix", str(prefix))
    res = await run_command(f"cat {prefix}/bin/marker; echo x > {prefix}/bin/w", repo)
    assert "visible" in res.output, res.output
    assert not (prefix / "bin" / "w").exists()  # read-only


async def test_cannot_rewrite_git_or_the_run_store(repo: Path) -> None:
    (repo / ".llmflows").mkdir()
    res = await run_command(
        "echo evil > .git/hooks/post-checkout; echo evil > .llmflows/config.toml", repo
    )
    assert not (repo / ".git/hooks/post-checkout").exists()
    assert not (repo / ".llmflows/config.toml").exists()
    assert res.output.count("Read-only file system") == 2


async def test_cannot_read_ssh_keys_in_home(
    repo: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = outside / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text(KEY)
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("aws_secret_access_key = abc123\n")
    (home / ".netrc").write_text("machine x login me password hunter2\n")
    monkeypatch.setenv("HOME", str(home))
    res = await run_command(
        "ls -a $HOME/.ssh; cat $HOME/.ssh/id_ed25519 $HOME/.aws/credentials $HOME/.netrc; echo end",
        repo,
    )
    assert "end" in res.output
    for leaked in ("secret-ssh-key-material", "abc123", "hunter2"):
        assert leaked not in res.output
    assert res.output.splitlines()[:3] == [".", "..", res.output.splitlines()[2]]
    assert not any(line == "id_ed25519" for line in res.output.splitlines())  # ls: empty
    assert (home / ".ssh" / "id_ed25519").read_text() == KEY  # hidden, not harmed


async def test_repo_secret_files_are_empty_inside(repo: Path) -> None:
    (repo / ".env").write_text("OPENAI_API_KEY=sk-live-abcdef\n")
    (repo / "deploy.pem").write_text("PEM-SECRET\n")
    res = await run_command("cat .env deploy.pem; echo end", repo)
    assert "end" in res.output
    assert "sk-live" not in res.output and "PEM-SECRET" not in res.output
    assert (repo / ".env").read_text() == "OPENAI_API_KEY=sk-live-abcdef\n"


async def test_no_network_a_loopback_server_receives_nothing(repo: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    port = server.getsockname()[1]
    try:
        res = await run_command(
            "python3 -c \"import socket; socket.create_connection(('127.0.0.1', "
            f'{port}), timeout=5)"; echo exit=$?',
            repo,
        )
        assert "exit=1" in res.output
        # A connection that got through would be waiting in the backlog now.
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


async def test_proc_shows_only_the_commands_own_processes(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A secret in *our* environment (scrubbed from the command's): /proc must not
    # lead the command back to it.
    monkeypatch.setenv("PROBE_API_KEY", "sk-proc-secret-000111")
    res = await run_command(
        f"cat /proc/{os.getpid()}/environ; cat /proc/*/environ | tr '\\0' '\\n'; "
        "ls /proc | grep -c '^[0-9]'",
        repo,
    )
    assert "sk-proc-secret-000111" not in res.output
    assert int(res.output.strip().splitlines()[-1]) < 10  # sh, cat, ls, grep: not the host


async def test_setsid_children_die_when_the_command_ends(repo: Path) -> None:
    marker = f"61.{os.getpid()}{time.monotonic_ns() % 1_000_000}"
    res = await run_command(f"setsid sleep {marker} > /dev/null 2>&1 & echo started", repo)
    assert "started" in res.output
    for _ in range(60):  # a bound on the wait, not a timing assertion
        if not _running(marker):
            break
        time.sleep(0.05)
    assert not _running(marker), "a setsid child outlived its command"


async def test_test_runners_run_inside_the_sandbox(repo: Path, outside: Path) -> None:
    # An agent-edited conftest.py is code the person never reviewed.
    target = outside / "conftest-ran"
    (repo / "conftest.py").write_text(
        f"import pathlib\ntry:\n    pathlib.Path({str(target)!r}).write_text('x')\n"
        "except OSError as e:\n    print('blocked:', e)\n"
    )
    (repo / "test_a.py").write_text("def test_a():\n    assert True\n")
    report = await run_tests("python3 -m pytest -q -p no:cacheprovider -s", repo)
    assert not target.exists()
    assert report.parsed and report.passed == 1  # the junit report still came out
    assert "blocked:" in report.output


def test_without_a_sandbox_full_autonomy_asks_too(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not needs_approval("ask", "full")  # sandboxed: full runs ask-commands
    monkeypatch.setenv(ENV_SANDBOX, "off")
    status = sandbox_status()
    assert not status.available and "LLMFLOWS_SANDBOX=off" in status.reason
    assert "needs your approval" in status.notice()
    assert needs_approval("ask", "full") and needs_approval("ask", "auto-edit")
    assert not needs_approval("allow", "review")


async def test_forced_fallback_says_so_once_and_runs_unsandboxed(
    repo: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.tools.sandbox as sandbox

    monkeypatch.setenv(ENV_SANDBOX, "off")
    monkeypatch.setattr(sandbox, "_told", False)
    first, second = notice_once(), notice_once()
    assert first is not None and "No command sandbox" in first and second is None
    ctx = ToolContext(autonomy="full")
    res = await call_tool(Workspace(repo), "run_command", {"command": f"touch {outside}/x"}, ctx)
    assert not res.ok and res.data.get("needs_approval")
    assert not (outside / "x").exists()
    # Allowlisted commands still run (unsandboxed, as before).
    res = await call_tool(Workspace(repo), "run_command", {"command": "ls"}, ctx)
    assert res.ok and "README.md" in res.content


def _running(marker: str) -> bool:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker.encode() in f.read().split(b"\0"):
                    with open(f"/proc/{entry}/stat") as st:
                        if st.read().rsplit(")", 1)[1].split()[0] != "Z":
                            return True
        except OSError:
            continue
    return False


def test_network_opens_only_by_explicit_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.models.settings import user_config_path
    from engine.tools.sandbox import ENV_NETWORK, SandboxOptions, network_allowed

    assert not network_allowed(SandboxOptions())
    config = user_config_path()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[sandbox]\nnetwork = true\n")
    assert network_allowed(SandboxOptions())
    monkeypatch.setenv(ENV_NETWORK, "0")
    assert not network_allowed(SandboxOptions())
    assert network_allowed(SandboxOptions(network=True))


async def test_extra_writable_folders_are_an_explicit_choice(
    repo: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.tools.sandbox import ENV_WRITABLE

    monkeypatch.setenv(ENV_WRITABLE, str(outside))
    await run_command(f"echo logged >> {outside}/deploy.log", repo)
    assert (outside / "deploy.log").read_text() == "logged\n"
