"""Agent tools: confined file access, a command policy, commands and tests.

Public tool names (flows and scripts refer to them): ``read_file``,
``list_files``, ``search``, ``write_file``, ``edit_file``, ``run_command``,
``submit_plan``, ``finish``. The executor goes through :func:`call_tool`;
the functions below are also usable directly.
"""

from .base import ToolResult
from .commands import CommandResult, is_secret_var, run_command, scrubbed_env
from .dispatch import ToolContext, call_tool, finish, submit_plan
from .files import edit_file, list_files, read_file, repo_files, search, write_file
from .policy import DEFAULT_ALLOW, DEFAULT_DENY, CommandPolicy, PolicyDecision
from .schemas import TOOL_NAMES, tool_schemas
from .testrunner import TestReport, is_pytest_command, parse_junit, run_tests
from .workspace import Workspace

__all__ = [
    "DEFAULT_ALLOW",
    "DEFAULT_DENY",
    "TOOL_NAMES",
    "CommandPolicy",
    "CommandResult",
    "PolicyDecision",
    "TestReport",
    "ToolContext",
    "ToolResult",
    "Workspace",
    "call_tool",
    "edit_file",
    "finish",
    "is_pytest_command",
    "is_secret_var",
    "list_files",
    "parse_junit",
    "read_file",
    "repo_files",
    "run_command",
    "run_tests",
    "scrubbed_env",
    "search",
    "submit_plan",
    "tool_schemas",
    "write_file",
]
