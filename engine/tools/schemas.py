"""OpenAI "tools" JSON schemas for the agent tools (what the model is told)."""

from __future__ import annotations

import copy
from typing import Any

from engine.errors import UsageError

TOOL_NAMES: list[str] = [
    "read_file",
    "list_files",
    "search",
    "write_file",
    "edit_file",
    "run_command",
    "submit_plan",
    "finish",
]

_PATH = {
    "type": "string",
    "description": "Path relative to the repository root, e.g. 'src/app.py'.",
}

_SPECS: dict[str, dict[str, Any]] = {
    "read_file": {
        "description": (
            "Read a text file from the repository and return its contents. Large files are "
            "truncated (the output says so); binary files are refused. Give start_line and "
            "end_line to read only those lines (e.g. the lines an '[... N lines omitted — "
            "read_file PATH A-B]' marker stands for)."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "path": _PATH,
                "start_line": {"type": "integer", "description": "First line (1-based)."},
                "end_line": {"type": "integer", "description": "Last line (inclusive)."},
            },
            "required": ["path"],
        },
    },
    "list_files": {
        "description": (
            "List repository files (tracked and untracked, .gitignore respected) matching a "
            "glob pattern. '*' also matches '/', so '*.py' finds Python files in every folder; "
            "'src/**' or 'src' lists everything under src/."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "pattern": {
                    "type": "string",
                    "description": "Glob pattern relative to the repository root; '*' for all files.",
                }
            },
            "required": ["pattern"],
        },
    },
    "search": {
        "description": (
            "Search text files for a Python regular expression. Returns matching lines as "
            "'file:line: text', capped; narrow the pattern or path if there are too many."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "description": "Python regular expression."},
                "path": {
                    "type": "string",
                    "description": "Optional file or folder to search in (default: whole repository).",
                },
            },
            "required": ["pattern"],
        },
    },
    "write_file": {
        "description": (
            "Create a file or replace its whole content. Parent folders are created. Prefer "
            "edit_file for changing part of an existing file."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "path": _PATH,
                "content": {"type": "string", "description": "The complete new file content."},
            },
            "required": ["path", "content"],
        },
    },
    "edit_file": {
        "description": (
            "Replace one exact piece of text in a file. 'old' must match the file exactly "
            "(whitespace and indentation included) and occur exactly once; include a few "
            "surrounding lines to make it unique. On failure the error shows the closest text."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "path": _PATH,
                "old": {"type": "string", "description": "Exact existing text to replace."},
                "new": {"type": "string", "description": "Replacement text."},
            },
            "required": ["path", "old", "new"],
        },
    },
    "run_command": {
        "description": (
            "Run a shell command in the repository root and return its combined output and exit "
            "code. Commands have a time limit and output is capped. Read-only and test commands "
            "run directly; others may need a human's approval; destructive ones (git push, "
            "git reset --hard, sudo, ...) are refused. Use the file tools to edit files."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "command": {
                    "type": "string",
                    "description": "Shell command line, e.g. 'pytest -q'.",
                }
            },
            "required": ["command"],
        },
    },
    "submit_plan": {
        "description": (
            "Submit the plan: an ordered list of small, independently checkable tasks. Call it "
            "once when the plan is complete."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "tasks": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "title": {"type": "string", "description": "Short imperative title."},
                            "description": {
                                "type": "string",
                                "description": "What to do and how to tell it is done.",
                            },
                            "files": {
                                "type": "array",
                                "items": {"type": "string"},
                                "description": "Repository paths the task will likely touch.",
                            },
                        },
                        "required": ["title"],
                    },
                }
            },
            "required": ["tasks"],
        },
    },
    "finish": {
        "description": (
            "Declare the task finished. Give a short summary of what was changed and how it was "
            "verified. Call it only when the work is done."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "summary": {"type": "string", "description": "What was done, and its state."}
            },
            "required": ["summary"],
        },
    },
}


def tool_schemas(names: list[str] | None = None) -> list[dict[str, Any]]:
    """OpenAI ``tools`` entries for ``names`` (all tools when None), in the given order.

    Raises UsageError for an unknown name (a flow naming a tool that does not exist).
    """
    wanted = TOOL_NAMES if names is None else list(names)
    unknown = [n for n in wanted if n not in _SPECS]
    if unknown:
        raise UsageError(
            f"unknown tool(s): {', '.join(unknown)}; available tools: {', '.join(TOOL_NAMES)}"
        )
    return [
        {"type": "function", "function": {"name": n, **copy.deepcopy(_SPECS[n])}} for n in wanted
    ]


def tool_parameters(name: str) -> dict[str, Any]:
    """The JSON schema of one tool's arguments."""
    return _SPECS[name]["parameters"]
