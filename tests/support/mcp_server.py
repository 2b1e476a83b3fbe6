"""A small MCP server on stdio for tests: `add`, `append_note` (writes notes.log in its cwd)
and `count` (state in memory: 1, 2, 3... for as long as the process lives).
`--pid-file PATH` writes the process id there, so a test can check the process is gone."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer

server = MCPServer("test-tools")
_count = 0


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


@server.tool()
def count() -> str:
    """Increment this server's counter and return it."""
    global _count
    _count += 1
    return str(_count)


if __name__ == "__main__":
    if "--pid-file" in sys.argv:
        Path(sys.argv[sys.argv.index("--pid-file") + 1]).write_text(str(os.getpid()))
    server.run("stdio")
