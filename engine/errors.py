"""Exception hierarchy shared by the whole engine.

Every error carries the CLI exit code it maps to, so the CLI never has to
guess: 1 failed, 2 usage or configuration error, 4 stopped by a budget.
"""

from __future__ import annotations

from dataclasses import dataclass


class EngineError(Exception):
    """Base class for every error the engine raises on purpose."""

    exit_code: int = 1


class UsageError(EngineError):
    """Bad input from the user: wrong arguments, missing config, bad paths."""

    exit_code = 2


class NotAGitRepoError(UsageError):
    def __init__(self, path: str):
        super().__init__(
            f"{path} is not inside a git repository. "
            "Run `git init` first (llmflows-tui keeps its checkpoints in git objects)."
        )
        self.path = path


class GitCommandError(EngineError):
    """A git command failed; the operation that ran it was aborted."""

    def __init__(self, args: list[str], returncode: int, stderr: str):
        cmd = " ".join(args)
        super().__init__(f"git command failed (exit {returncode}): {cmd}\n{stderr.strip()}")
        self.command = args
        self.returncode = returncode
        self.stderr = stderr


class StoreLockedError(UsageError):
    def __init__(self, path: str, pid: int | None):
        who = f"process {pid}" if pid else "another process"
        super().__init__(
            f"the run store {path} is in use by {who}; "
            "only one llmflows-tui may write to a repository at a time"
        )
        self.path = path
        self.pid = pid


@dataclass(frozen=True)
class FlowIssue:
    """One problem in a flow file, reported as FILE:LINE:COL: message."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class FlowValidationError(UsageError):
    def __init__(self, issues: list[FlowIssue]):
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = issues


class FlowNodeMissingError(UsageError):
    """A run points at a node its flow file no longer has (the file changed since)."""


class ModelError(EngineError):
    """A model call failed after retries (or cannot be retried).

    kind: rate_limit | server | timeout | bad_response | auth | config | script_exhausted
    | context_window (the prompt is larger than the model's window)
    | truncated (the answer hit the output cap, or its tool-call JSON does not parse)
    """

    def __init__(self, message: str, kind: str = "server", retryable: bool = False):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


class ModelUnreachableError(ModelError):
    """The model's server refused the connection (e.g. a local server that is not up).

    Not the step's fault: the run stops (resumable) instead of failing the step.
    """

    def __init__(self, message: str):
        super().__init__(message, kind="connection", retryable=False)


class ModelConfigError(UsageError):
    """No usable model: the message names the options and the offline demo."""


class ToolError(EngineError):
    """A tool call the model made was refused or failed; the text goes back to the model."""


class PathConfinementError(ToolError):
    """A path points outside the repository, into .git/, or through a symlink escape."""


class BudgetExceededError(EngineError):
    exit_code = 4

    def __init__(self, limit: str, message: str):
        super().__init__(message)
        self.limit = limit


class CheckpointNotFoundError(UsageError):
    pass


class RunNotFoundError(UsageError):
    pass


class StoreError(EngineError):
    """The run store refused an operation (see the subclasses)."""


class StoreCorruptError(StoreError):
    """``.llmflows/history.db`` is not a readable SQLite database (garbage, truncated)."""

    exit_code = 2


class RepoMovedError(UsageError):
    """The person moved HEAD, stashed or reset while a run was paused, and the tree differs."""


class JournalMismatchError(UsageError):
    """A journaled effect does not match what the step asks for when it is replayed."""


class StoreReadOnlyError(StoreError):
    """A write was attempted on a store opened with ``write=False``."""


class StoreSchemaError(StoreError):
    """The run store was written by a newer llmflows-tui (unknown schema version)."""


class RecordNotFoundError(StoreError):
    """No row with that id (step, effect, gate, blob) in the run store."""


class EffectAlreadyDoneError(StoreError):
    """An effect key that is already journaled as done was started again.

    Done effects are replayed from the journal, never re-executed.
    """


class GateAlreadyAnsweredError(StoreError):
    """A gate that was already answered was answered again."""


class SnapshotError(EngineError):
    """A snapshot could not be taken or restored (bad ref name, not a snapshot commit)."""
