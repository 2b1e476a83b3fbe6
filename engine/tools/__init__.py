"""Agent tools: confined file access, a command policy, commands and tests.

Public tool names (flows and scripts refer to them): ``read_file``,
``list_files``, ``search``, ``write_file``, ``edit_file``, ``run_command``,
``submit_plan``, ``finish``. The executor goes through :func:`call_tool`;
the functions below are also usable directly.
"""

from engine.tools.base import ToolResult
from engine.tools.commands import CommandResult, is_secret_var, run_command, scrubbed_env
from engine.tools.dispatch import ToolContext, call_tool, finish, submit_plan
from engine.tools.files import edit_file, list_files, read_file, repo_files, search, write_file
from engine.tools.policy import DEFAULT_ALLOW, DEFAULT_DENY, CommandPolicy, PolicyDecision
from engine.tools.schemas import TOOL_NAMES, tool_schemas
from engine.tools.testrunner import (
    TestHealth,
    TestReport,
    is_pytest_command,
    parse_junit,
    run_tests,
)
from engine.tools.workspace import Workspace

__all__ = [
    "DEFAULT_ALLOW",
    "DEFAULT_DENY",
    "TOOL_NAMES",
    "CommandPolicy",
    "CommandResult",
    "PolicyDecision",
    "TestHealth",
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
