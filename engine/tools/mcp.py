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
a journaled effect, replayed — not repeated — after a crash. A server starts over stdio
on its first use in an execution (listing or call), and that one session serves every
later listing and call, so a stateful server keeps its state across calls; the executor
closes it (stdin closed, then the process tree killed after a grace period) when the
execution ends — completed, paused at a gate, stopped, or crashed. A run that resumes
later starts the server afresh (replayed calls are not sent again).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
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
    """The servers a run may use: one live session per server, opened on first use.

    Call :meth:`aclose` when the execution ends; it stops every server started.
    """

    repo_root: Path
    servers: dict[str, McpServer]
    _listed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _live: dict[str, _LiveSession] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def for_repo(cls, repo_root: Path) -> McpTools:
        return cls(Path(repo_root), configured_servers(repo_root))

    def _server(self, name: str) -> McpServer:
        if name not in self.servers:
            known = ", ".join(sorted(self.servers)) or "none configured"
            raise UsageError(f"MCP server {name!r} is not configured (servers: {known})")
        return self.servers[name]

    async def _session(self, name: str) -> Any:
        """The server's live session, started once (concurrent callers wait for it)."""
        server = self._server(name)
        async with self._lock:
            live = self._live.get(name)
            if live is None or not live.alive:
                live = _LiveSession(server, self.repo_root)
                await live.start()
                self._live[name] = live
            return live.session

    async def tools_of(self, server: str) -> list[dict[str, Any]]:
        """OpenAI tool schemas of a server's tools, named ``mcp__server__tool``."""
        if server not in self._listed:
            try:
                session = await self._session(server)
                listed = await asyncio.wait_for(session.list_tools(), _TIMEOUT_S)
            except (OSError, TimeoutError) as e:
                what = self._server(server).command
                raise UsageError(f"MCP server {server!r} ({what}): {e}") from None
            self._listed[server] = [
                {
                    "type": "function",
                    "function": {
                        "name": f"{MCP_PREFIX}{server}__{t.name}",
                        "description": t.description or f"{t.name} ({server} MCP)",
                        "parameters": _field(t, "input_schema", "inputSchema")
                        or {"type": "object", "properties": {}},
                    },
                }
                for t in listed.tools
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
        try:
            session = await self._session(server)
            result = await asyncio.wait_for(session.call_tool(tool, args or {}), _TIMEOUT_S)
        except UsageError:
            raise
        except Exception as e:  # the server's failure is the tool's result, not the run's
            # A dead session is started afresh by the next call (its state is gone).
            await self._drop(server)
            return {"ok": False, "content": f"MCP server {server!r} failed: {_describe(e)}"}
        return {"ok": not _field(result, "is_error", "isError"), "content": _text(result)}

    async def _drop(self, name: str) -> None:
        live = self._live.pop(name, None)
        if live is not None:
            await live.close()

    async def aclose(self) -> None:
        """Stop every server this object started (idempotent)."""
        for name in list(self._live):
            await self._drop(name)


def _describe(e: BaseException) -> str:
    """One line for an error, task-group wrappers unwrapped to what actually failed."""
    while isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:
        e = e.exceptions[0]
    return str(e) or type(e).__name__


class _LiveSession:
    """One stdio session owned by its own task.

    The transport's contexts (anyio task groups) must be entered and left by one task;
    the owner task does both, so any task may use the session and close it.
    """

    def __init__(self, server: McpServer, cwd: Path) -> None:
        self.server, self.cwd = server, cwd
        self.session: Any = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._own(ready), name=f"mcp-{self.server.name}")
        try:
            self.session = await ready
        except BaseException:
            await self.close()
            raise

    async def _own(self, ready: asyncio.Future[Any]) -> None:
        from mcp import ClientSession, StdioServerParameters
        from mcp.client.stdio import get_default_environment, stdio_client

        env = get_default_environment()
        env.update({k: os.environ[k] for k in self.server.env if k in os.environ})
        params = StdioServerParameters(
            command=self.server.command, args=list(self.server.args), env=env, cwd=str(self.cwd)
        )
        # The server's stderr goes to a scratch file, never the terminal (the TUI owns it);
        # its last lines explain a server that fails to start.
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
            try:
                async with (
                    stdio_client(params, errlog=errlog) as (read, write),
                    ClientSession(read, write) as s,
                ):
                    await asyncio.wait_for(s.initialize(), _TIMEOUT_S)
                    ready.set_result(s)
                    await self._stop.wait()
            except BaseException as e:  # start failures go to the starter; later ones end it
                if not ready.done():
                    ready.set_exception(OSError(self._failure(e, errlog)))
                if not isinstance(e, Exception):
                    raise

    def _failure(self, e: BaseException, errlog: Any) -> str:
        """What went wrong, with the server's last stderr lines (secret values masked)."""
        from engine.tools.secrets import scrub_text, secret_values

        errlog.seek(0)
        tail = [line.rstrip() for line in errlog.read().splitlines() if line.strip()][-3:]
        said = f" — it said: {' | '.join(tail)}" if tail else ""
        return scrub_text(f"{_describe(e)}{said}", secret_values(extra=self.server.env))

    async def close(self) -> None:
        """Close stdin, let the server exit (the transport kills it after a grace period)."""
        self._stop.set()
        if self._task is not None:
            # Shielded: a second cancellation must not leave the server running.
            await asyncio.shield(asyncio.gather(self._task, return_exceptions=True))


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
