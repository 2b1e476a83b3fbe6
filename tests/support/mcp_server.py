"""A small MCP server on stdio for tests: `add` and `append_note` (writes notes.log in its cwd)."""

from __future__ import annotations

from pathlib import Path

from mcp.server.mcpserver import MCPServer

server = MCPServer("test-tools")


@server.tool()
def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@server.tool()
def append_note(text: str) -> str:
    """Append a line to notes.log in the working directory."""
    with Path("notes.log").open("a", encoding="utf-8") as f:
        f.write(text + "\n")
    return f"noted: {text}"


if __name__ == "__main__":
    server.run("stdio")
