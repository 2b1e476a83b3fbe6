"""MCP tools: servers from the user's config (and a trusted project's) as agent tools.

Configured in ``config.toml`` (user: ``$XDG_CONFIG_HOME/llmflows-tui/config.toml``;
project: ``.llmflows/config.toml``, read only when the repository is trusted —
``llmflows-tui trust``)::

    [mcp.servers.docs]
    command = "uvx"
    args = ["my-docs-mcp"]
    env = ["DOCS_TOKEN"]      # names of variables passed through (values never stored)

A flow node lists them in ``tools:`` as ``mcp__docs`` (every tool of the server) or
``mcp__docs__search`` (one tool). Calls go through the same path as
``run_command``: the command policy and autonomy decide (the pseudo-command is the
tool's name, so "always allow" rules and approvals work the same), and each call is
a journaled effect, replayed — not repeated — after a crash. Each listing and call
starts the server over stdio and stops it after (servers are treated as stateless).
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import UsageError

MCP_PREFIX = "mcp__"
_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class McpServer:
    name: str
    command: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # names of environment variables passed through
    source: str = "user"  # user | project


def is_mcp_tool(name: str) -> bool:
    return name.startswith(MCP_PREFIX)


def split_tool(name: str) -> tuple[str, str | None]:
    """``mcp__srv__tool`` → (srv, tool); ``mcp__srv`` → (srv, None)."""
    server, _, tool = name[len(MCP_PREFIX) :].partition("__")
    return server, tool or None


def _servers_in(path: Path, source: str) -> dict[str, McpServer]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: {e}") from None
    table = ((data.get("mcp") or {}).get("servers")) or {}
    out = {}
    for name, spec in table.items():
        where = f"{path}: mcp.servers.{name}"
        if not isinstance(spec, dict) or not isinstance(spec.get("command"), str):
            raise UsageError(f'{where} needs command = "..."')
        args, env = spec.get("args", []), spec.get("env", [])
        if not all(isinstance(a, str) for a in args) or not all(isinstance(e, str) for e in env):
            raise UsageError(f"{where}: args and env must be lists of strings")
        if "__" in name:
            raise UsageError(f"{where}: a server name cannot contain '__'")
        out[name] = McpServer(name, spec["command"], tuple(args), tuple(env), source)
    return out


def configured_servers(repo_root: str | os.PathLike[str]) -> dict[str, McpServer]:
    """User servers, plus the project's when the repository is trusted (project wins)."""
    from engine.models.settings import project_config_path, user_config_path
    from engine.trust import TrustState, check_trust

    servers = _servers_in(user_config_path(), "user")
    if check_trust(repo_root).state == TrustState.TRUSTED:
        servers.update(_servers_in(project_config_path(repo_root), "project"))
    return servers


@dataclass
class McpTools:
    """The servers a run may use, and their tool listings (fetched once per process)."""

    repo_root: Path
    servers: dict[str, McpServer]
    _listed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def for_repo(cls, repo_root: Path) -> McpTools:
        return cls(Path(repo_root), configured_servers(repo_root))

    def _server(self, name: str) -> McpServer:
        if name not in self.servers:
            known = ", ".join(sorted(self.servers)) or "none configured"
            raise UsageError(f"MCP server {name!r} is not configured (servers: {known})")
        return self.servers[name]

    async def tools_of(self, server: str) -> list[dict[str, Any]]:
        """OpenAI tool schemas of a server's tools, named ``mcp__server__tool``."""
        if server not in self._listed:
            listing = await _session_call(self._server(server), self.repo_root, None, None)
            self._listed[server] = [
                {
                    "type": "function",
                    "function": {
                        "name": f"{MCP_PREFIX}{server}__{t['name']}",
                        "description": t.get("description") or f"{t['name']} ({server} MCP)",
                        "parameters": t.get("schema") or {"type": "object", "properties": {}},
                    },
                }
                for t in listing
            ]
        return self._listed[server]

    async def schemas(self, names: list[str]) -> list[dict[str, Any]]:
        """Expand ``mcp__srv`` / ``mcp__srv__tool`` names from a node's tool list."""
        out = []
        for name in names:
            server, tool = split_tool(name)
            tools = await self.tools_of(server)
            picked = [t for t in tools if tool is None or t["function"]["name"] == name]
            if not picked:
                raise UsageError(f"MCP server {server!r} has no tool {tool!r}")
            out += picked
        return out

    async def call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """Call ``mcp__srv__tool``; ``{"ok", "content"}`` like the built-in tools."""
        server, tool = split_tool(name)
        if tool is None:
            return {"ok": False, "content": f"{name} names a server, not a tool"}
        return await _session_call(self._server(server), self.repo_root, tool, args)


async def _session_call(server: McpServer, cwd: Path, tool: str | None, args: Any) -> Any:
    """One stdio session: list the tools (``tool`` None) or call one."""
    import asyncio

    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import get_default_environment, stdio_client

    env = get_default_environment()
    env.update({k: os.environ[k] for k in server.env if k in os.environ})
    params = StdioServerParameters(
        command=server.command, args=list(server.args), env=env, cwd=str(cwd)
    )
    try:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await asyncio.wait_for(s.initialize(), _TIMEOUT_S)
            if tool is None:
                listed = await asyncio.wait_for(s.list_tools(), _TIMEOUT_S)
                return [
                    {
                        "name": t.name,
                        "description": t.description,
                        "schema": _field(t, "input_schema", "inputSchema"),
                    }
                    for t in listed.tools
                ]
            result = await asyncio.wait_for(s.call_tool(tool, args or {}), _TIMEOUT_S)
    except (OSError, TimeoutError) as e:
        if tool is None:
            raise UsageError(f"MCP server {server.name!r} ({server.command}): {e}") from None
        return {"ok": False, "content": f"MCP server {server.name!r} failed: {e}"}
    return {"ok": not _field(result, "is_error", "isError"), "content": _text(result)}


def _field(obj: Any, new: str, old: str) -> Any:
    """mcp 2.x names fields in snake_case, 1.x in camelCase."""
    return getattr(obj, new, None) if hasattr(obj, new) else getattr(obj, old, None)


def _text(result: Any) -> str:
    parts = []
    for c in getattr(result, "content", None) or []:
        text = getattr(c, "text", None)
        parts.append(text if text is not None else f"[{getattr(c, 'type', 'content')}]")
    structured = _field(result, "structured_content", "structuredContent")
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False))
    return "\n".join(parts)
