"""MCP servers as agent tools, against a real MCP server on stdio started by the engine:
configured in user config (project config only once trusted), listed by a flow node,
gated like commands (approval, "always allow" rules, autonomy), journaled once."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

from engine.cli import main
from engine.models.settings import user_config_path
from engine.tools.mcp import McpServer, McpTools
from tests.support.gitutil import init_repo

SERVER = Path(__file__).parent / "support" / "mcp_server.py"
FLOW = """\
name: mcp
description: one MCP call
nodes:
  - id: work
    kind: agent
    tools: [mcp__{server}, finish]
    prompt: "Take a note"
    next: end
"""


def _server_toml(name: str) -> str:
    return f"[mcp.servers.{name}]\ncommand = {json.dumps(sys.executable)}\nargs = [{json.dumps(str(SERVER))}]\n"


def _setup(tmp_path: Path, server: str) -> tuple[Path, list[str]]:
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    flow = tmp_path / "mcp.yaml"
    flow.write_text(FLOW.format(server=server))
    script = tmp_path / "s.yaml"
    calls = [
        {"name": f"mcp__{server}__append_note", "arguments": {"text": "hello"}},
        {"name": "finish", "arguments": {"summary": "noted"}},
    ]
    script.write_text(
        yaml.safe_dump({"responses": [{"node": "work", "tool_calls": [c]} for c in calls]})
    )
    return repo, ["-C", str(repo), "--model", f"scripted:{script}", "run", str(flow), "note"]


async def test_listing_gives_openai_schemas(tmp_path):
    tools = McpTools(tmp_path, {"t": McpServer("t", sys.executable, (str(SERVER),))})
    try:
        schemas = await tools.schemas(["mcp__t__add"])
        (fn,) = [s["function"] for s in schemas]
        assert fn["name"] == "mcp__t__add" and set(fn["parameters"]["properties"]) == {"a", "b"}
        assert (await tools.call("mcp__t__add", {"a": 2, "b": 3})) == {"ok": True, "content": "5"}
    finally:
        await tools.aclose()


def test_user_server_call_is_gated_then_journaled_once(tmp_path, capsys):
    cfg = user_config_path()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(_server_toml("tools"))
    repo, argv = _setup(tmp_path, "tools")
    assert main([*argv, "--autonomy", "auto-edit", "--output-format", "json"]) == 3
    res = json.loads(capsys.readouterr().out)
    assert res["gate"]["kind"] == "command"
    assert "MCP tool mcp__tools__append_note" in res["gate"]["prompt"]
    assert not (repo / "notes.log").exists()  # nothing ran before the approval
    assert main(
        ["-C", str(repo), "resume", "--last", "--approve", "--always", "project", "--json"]
    ) in (0, 3)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    calls = [e for e in lines if e["type"] == "tool_call"]
    assert calls[0]["name"] == "mcp__tools__append_note" and calls[0]["ok"]
    assert (repo / "notes.log").read_text() == "hello\n"  # called once
    assert main(["-C", str(repo), "show", res["run_id"], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {"prefix": "mcp__tools__append_note", "scope": "project"} in shown["approval_rules"]
    # the rule lets the next run call it without asking, even under --approval never
    main([*argv, "--autonomy", "auto-edit", "--approval", "never"])  # stops at the final review
    assert "command gate" not in capsys.readouterr().err
    assert (repo / "notes.log").read_text() == "hello\nhello\n"


def test_project_servers_load_only_when_trusted(tmp_path, capsys):
    repo, argv = _setup(tmp_path, "proj")
    (repo / ".llmflows").mkdir(exist_ok=True)
    (repo / ".llmflows" / "config.toml").write_text(_server_toml("proj"))
    assert main([*argv, "--autonomy", "full"]) != 0
    assert not (repo / "notes.log").exists()
    capsys.readouterr()
    assert main(["-C", str(repo), "trust", "--yes"]) == 0
    assert main([*argv, "--autonomy", "full"]) == 0
    assert (repo / "notes.log").read_text() == "hello\n"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_one_session_keeps_server_state_until_closed(tmp_path):
    pid_file = tmp_path / "pid"
    server = McpServer("c", sys.executable, (str(SERVER), "--pid-file", str(pid_file)))
    tools = McpTools(tmp_path, {"c": server})
    await tools.schemas(["mcp__c__count"])
    assert await tools.call("mcp__c__count", {}) == {"ok": True, "content": "1"}
    assert await tools.call("mcp__c__count", {}) == {"ok": True, "content": "2"}
    pid = int(pid_file.read_text())
    assert not _gone(pid)  # listing and both calls used one process
    await tools.aclose()
    assert _gone(pid)


COUNT_FLOW = """\
name: count
description: two calls to a stateful MCP server
nodes:
  - id: work
    kind: agent
    tools: [mcp__c__count, finish]
    prompt: "Count twice"
    next: end
"""


def _count_setup(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    pid_file = tmp_path / "pid"
    cfg = user_config_path()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        f"[mcp.servers.c]\ncommand = {json.dumps(sys.executable)}\n"
        f"args = {json.dumps([str(SERVER), '--pid-file', str(pid_file)])}\n"
    )
    repo = init_repo(tmp_path / "repo", {"README.md": "hi\n"})
    flow = tmp_path / "count.yaml"
    flow.write_text(COUNT_FLOW)
    calls = [{"name": "mcp__c__count", "arguments": {}}] * 2
    calls.append({"name": "finish", "arguments": {"summary": "counted"}})
    script = tmp_path / "s.yaml"
    script.write_text(
        yaml.safe_dump({"responses": [{"node": "work", "tool_calls": [c]} for c in calls]})
    )
    argv = ["-C", str(repo), "--model", f"scripted:{script}", "run", str(flow), "count"]
    return repo, pid_file, argv


def test_a_run_keeps_one_server_for_all_its_calls_and_stops_it_at_the_end(tmp_path, capsys):
    _, pid_file, argv = _count_setup(tmp_path)
    assert main([*argv, "--autonomy", "full", "--json"]) == 0
    events = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    counts = [e["summary"] for e in events if e["type"] == "tool_call" and "count" in e["name"]]
    assert counts == ["1", "2"]  # the second call saw the first one's state
    assert _gone(int(pid_file.read_text()))  # no server outlives the run


def test_a_run_paused_at_a_gate_leaves_no_server_running(tmp_path, capsys):
    repo, pid_file, argv = _count_setup(tmp_path)
    assert main([*argv, "--autonomy", "auto-edit", "--output-format", "json"]) == 3
    assert json.loads(capsys.readouterr().out)["gate"]["kind"] == "command"
    assert _gone(int(pid_file.read_text()))  # started for the listing, stopped at the pause
    code = main(["-C", str(repo), "resume", "--last", "--approve", "--always", "project", "--json"])
    assert code in (0, 3)
    events = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    counts = [e["summary"] for e in events if e["type"] == "tool_call" and "count" in e["name"]]
    assert counts == ["1", "2"]  # a fresh server after the pause, then one session for both
    assert _gone(int(pid_file.read_text()))


def test_an_execution_that_crashes_stops_its_servers(tmp_path):
    import asyncio

    import pytest

    from engine.run.executor import Executor
    from engine.run.operations import create_run
    from engine.run.session import Session

    repo, pid_file, argv = _count_setup(tmp_path)
    with Session.open(str(repo)) as session:
        run_id = create_run(session, argv[-2], "count", model=argv[3])
        executor = Executor(session, run_id)

        async def crashing() -> None:
            assert await executor.mcp_tools().call("mcp__c__count", {}) == {
                "ok": True,
                "content": "1",
            }
            raise RuntimeError("engine bug")

        executor._execute = crashing  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="engine bug"):
            asyncio.run(executor.execute())
    assert _gone(int(pid_file.read_text()))


async def test_a_server_that_cannot_start_says_why(tmp_path, monkeypatch):
    import pytest

    from engine.errors import UsageError

    monkeypatch.setenv("DOCS_TOKEN", "s3cr3t-value-123")
    crash = "import os, sys; sys.stderr.write('bad token ' + os.environ['DOCS_TOKEN']); sys.exit(3)"
    bad = McpServer("bad", sys.executable, ("-c", crash), env=("DOCS_TOKEN",))
    tools = McpTools(tmp_path, {"bad": bad})
    with pytest.raises(UsageError) as e:
        await tools.schemas(["mcp__bad"])
    assert "MCP server 'bad'" in str(e.value) and "bad token [secret $DOCS_TOKEN]" in str(e.value)
    assert "s3cr3t" not in str(e.value)
    await tools.aclose()
