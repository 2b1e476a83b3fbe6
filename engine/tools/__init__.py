"""Agent tools: confined file access, a command policy, commands and tests.

Public tool names (flows and scripts refer to them): ``read_file``,
``list_files``, ``search``, ``write_file``, ``edit_file``, ``run_command``,
``submit_plan``, ``finish``. The executor goes through :func:`call_tool`;
the functions below are also usable directly.
"""

from typing import TYPE_CHECKING

from engine.lazy import lazy_exports

if TYPE_CHECKING:
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

# Imported on first use (PEP 562): listing flows or printing --help needs the tool
# names, not the sandbox, policy parser and test runner behind them.
_EXPORTS = {
    "ToolResult": "engine.tools.base",
    "CommandResult": "engine.tools.commands",
    "is_secret_var": "engine.tools.commands",
    "run_command": "engine.tools.commands",
    "scrubbed_env": "engine.tools.commands",
    "ToolContext": "engine.tools.dispatch",
    "call_tool": "engine.tools.dispatch",
    "finish": "engine.tools.dispatch",
    "submit_plan": "engine.tools.dispatch",
    "edit_file": "engine.tools.files",
    "list_files": "engine.tools.files",
    "read_file": "engine.tools.files",
    "repo_files": "engine.tools.files",
    "search": "engine.tools.files",
    "write_file": "engine.tools.files",
    "DEFAULT_ALLOW": "engine.tools.policy",
    "DEFAULT_DENY": "engine.tools.policy",
    "CommandPolicy": "engine.tools.policy",
    "PolicyDecision": "engine.tools.policy",
    "TOOL_NAMES": "engine.tools.schemas",
    "tool_schemas": "engine.tools.schemas",
    "TestHealth": "engine.tools.testrunner",
    "TestReport": "engine.tools.testrunner",
    "is_pytest_command": "engine.tools.testrunner",
    "parse_junit": "engine.tools.testrunner",
    "run_tests": "engine.tools.testrunner",
    "Workspace": "engine.tools.workspace",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


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
