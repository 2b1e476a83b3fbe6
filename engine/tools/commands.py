"""Running shell commands for the agent: streamed, capped, time-limited, no secrets.

``run_command`` starts the command through the shell in its own process
group (session), merges stdout and stderr, hands every line to ``on_line`` as
it arrives, keeps the head and tail of long output, and on timeout or
cancellation kills the whole process group. When the command finishes, any
background processes it left in its group are killed too, so an agent cannot
leave servers or sleepers behind. Inside the sandbox (a PID namespace) that
holds even for processes that left the group (``setsid``).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import inspect
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from engine.tools.policy import DEFAULT_ALLOW, DEFAULT_DENY, CommandPolicy, PolicyDecision
from engine.tools.sandbox import SandboxOptions, sandbox_status, wrap
from engine.tools.secrets import is_secret_var

__all__ = [
    "DEFAULT_ALLOW",
    "DEFAULT_DENY",
    "CommandPolicy",
    "CommandResult",
    "PolicyDecision",
    "SandboxOptions",
    "is_secret_var",
    "run_command",
    "scrubbed_env",
]

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_OUTPUT_CAP = 30_000
_READ_CHUNK = 65536
_DRAIN_AFTER_EXIT_S = 0.5

OnLine = Callable[[str], Any]


def scrubbed_env(
    base: Mapping[str, str] | None = None, extra: Iterable[str] = ()
) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) without API keys, tokens or secrets.

    ``extra`` names more variables to drop (the configured ``api_key_env``).

    Also sets ``PYTHONUNBUFFERED=1`` (so output streams line by line) and
    disables git's credential prompts and pagers (nothing may wait on a TTY).
    """
    src = os.environ if base is None else base
    extra = tuple(extra)
    env = {k: v for k, v in src.items() if not is_secret_var(k, v, extra)}
    env["PYTHONUNBUFFERED"] = "1"
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_PAGER"] = "cat"
    env["PAGER"] = "cat"
    return env


@dataclass
class CommandResult:
    """How a command ended. ``output`` is stdout+stderr, head and tail kept when capped."""

    exit_code: int
    output: str
    truncated: bool = False
    timed_out: bool = False
    duration_s: float = 0.0
    command: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: How the note between the kept head and tail of capped output begins.
TRUNCATION_NOTE = "[... output truncated:"


class OutputCap:
    """Keeps the first and last ``cap/2`` bytes of a stream, in one pass, whatever its shape.

    Bytes, not lines: a 50 MB line without a newline is capped like 50 MB of
    short lines. Memory stays O(cap); each chunk is touched once.
    """

    def __init__(self, cap: int):
        self.half = max(1, cap // 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk[-self.half :]
            excess = len(self.tail) - self.half
            if excess > 0:
                del self.tail[:excess]  # bytearray drops its front in O(1)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        """Head and tail as text (cut at line ends where one is near), with a note between."""
        if not self.truncated:
            return _decode(bytes(self.head + self.tail)).removesuffix("\n")
        head, tail = bytes(self.head), bytes(self.tail)
        nl = head.rfind(b"\n")
        if nl >= len(head) * 3 // 4:
            head = head[: nl + 1]
        nl = tail.find(b"\n")
        if 0 <= nl < len(tail) // 4:
            tail = tail[nl + 1 :]
        omitted = self.total - len(head) - len(tail)
        head_text = codecs.getincrementaldecoder("utf-8")("replace").decode(
            head
        )  # drops a cut char
        tail_text = _decode(tail.lstrip(bytes(range(0x80, 0xC0))))  # starts on a whole char
        note = f"{TRUNCATION_NOTE} {omitted} bytes omitted ...]"
        return f"{head_text.removesuffix(chr(10))}\n{note}\n{tail_text.removesuffix(chr(10))}"


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n")


class _LineSplitter:
    """Splits a byte stream into lines for ``on_line`` without re-scanning what it has seen.

    A line longer than ``max_chars`` is delivered cut, with a note of what was cut,
    so one huge line never builds a huge string.
    """

    def __init__(self, max_chars: int):
        self.max_chars = max(1, max_chars)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.parts: list[str] = []
        self.kept = 0
        self.cut = 0

    def feed(self, chunk: bytes, final: bool = False) -> list[str]:
        text = self.decoder.decode(chunk, final=final)
        lines: list[str] = []
        start = 0
        while (nl := text.find("\n", start)) >= 0:
            self._keep(text[start:nl])
            lines.append(self._take())
            start = nl + 1
        self._keep(text[start:])
        if final and (self.parts or self.cut):
            lines.append(self._take())
        return lines

    def _keep(self, piece: str) -> None:
        room = self.max_chars - self.kept
        if len(piece) > room:
            self.cut += len(piece) - max(room, 0)
            piece = piece[: max(room, 0)]
        if piece:
            self.parts.append(piece)
            self.kept += len(piece)

    def _take(self) -> str:
        line = "".join(self.parts).removesuffix("\r")
        if self.cut:
            line += f" [... {self.cut} characters cut]"
        self.parts, self.kept, self.cut = [], 0, 0
        return line


def _killpg(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def run_command(
    cmd: str,
    cwd: str | os.PathLike[str],
    *,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    output_cap: int = DEFAULT_OUTPUT_CAP,
    on_line: OnLine | None = None,
    env: Mapping[str, str] | None = None,
    sandbox: SandboxOptions | None = SandboxOptions(),  # noqa: B008 (frozen, shared)
    root: str | os.PathLike[str] | None = None,
) -> CommandResult:
    """Run ``cmd`` through the shell in ``cwd``; stream lines to ``on_line``.

    The command runs in the bubblewrap sandbox of the repository ``root``
    (default ``cwd``) when one is available (see :mod:`engine.tools.sandbox`);
    ``sandbox=None`` runs it unsandboxed. ``env`` defaults to
    :func:`scrubbed_env`. ``on_line`` may be a plain
    function or a coroutine function; it receives every line (without the
    newline; a line longer than ``output_cap`` characters arrives cut), even those
    dropped from the capped ``output``. On timeout the
    process group is killed and the result has ``timed_out=True``.
    """
    start = time.monotonic()
    run_env = dict(scrubbed_env() if env is None else env)
    argv = ["/bin/sh", "-c", cmd]
    if sandbox is not None and sandbox_status().available:
        argv = wrap(argv, cwd if root is None else root, cwd, sandbox)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=os.fspath(cwd),
        env=run_env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # own process group: one killpg reaches every child
    )
    pgid = proc.pid
    capped = OutputCap(output_cap)
    splitter = _LineSplitter(output_cap)
    assert proc.stdout is not None
    stdout = proc.stdout

    async def emit(lines: list[str]) -> None:
        if on_line is None:
            return
        for line in lines:
            r = on_line(line)
            if inspect.isawaitable(r):
                await r

    async def pump() -> None:
        while True:
            chunk = await stdout.read(_READ_CHUNK)
            if not chunk:
                break
            capped.add(chunk)
            if on_line is not None:
                await emit(splitter.feed(chunk))
        if on_line is not None:
            await emit(splitter.feed(b"", final=True))

    async def exited(limit: float | None) -> None:
        # Not proc.wait(): on 3.11 it also waits for the pipes to close, which a
        # background grandchild can keep open forever.
        deadline = None if limit is None else time.monotonic() + limit
        while proc.returncode is None:
            if deadline is not None and time.monotonic() > deadline:
                return
            await asyncio.sleep(0.02)

    timed_out = False
    reader = asyncio.ensure_future(pump())
    try:
        try:
            async with asyncio.timeout(timeout_s):
                while not reader.done() and proc.returncode is None:
                    await asyncio.wait({reader}, timeout=0.05)
                if reader.done() and not reader.cancelled() and (exc := reader.exception()):
                    raise exc  # on_line failed: stop (finally kills)
                if not reader.done():
                    # Exited, but background children may hold the pipe open: give
                    # the reader a moment to reach EOF, then stop waiting for them.
                    await asyncio.wait({reader}, timeout=_DRAIN_AFTER_EXIT_S)
                await exited(None)
        except TimeoutError:
            timed_out = True
        _killpg(pgid)
        if reader.done() and not reader.cancelled():
            reader.result()  # re-raise errors from on_line
        await exited(5.0)
        # After the kill, collect what is already buffered, but never hang.
        if not reader.done():
            await asyncio.wait({reader}, timeout=_DRAIN_AFTER_EXIT_S)
    finally:
        # Also on cancellation or an on_line error: no process survives us.
        _killpg(pgid)
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await exited(5.0)
        transport = getattr(proc, "_transport", None)
        if transport is not None:
            transport.close()
    output = capped.text()
    if timed_out:
        note = f"[timed out after {timeout_s:g}s; the command and its child processes were killed]"
        output = f"{output}\n{note}" if output else note
    code = proc.returncode if proc.returncode is not None else -signal.SIGKILL
    return CommandResult(
        exit_code=code,
        output=output,
        truncated=capped.truncated,
        timed_out=timed_out,
        duration_s=round(time.monotonic() - start, 3),
        command=cmd,
    )
