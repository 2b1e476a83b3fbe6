"""Running a project's tests and reading the results.

For pytest (``pytest``, ``py.test``, ``python -m pytest``, any path to those)
``run_tests`` appends ``--junitxml=<temp file>`` and parses the report, so
counts and failing test ids are exact. Any other runner's JUnit XML is read
when the caller names the file it writes (``junit_path``); otherwise the
command is judged by its exit code alone (``parsed=False``).

Every report also says whether the test command was *healthy*
(:class:`TestHealth`): a command that could not start (exit 126/127), that
collected no tests, or whose collection errored tells nothing about the code,
so callers must not read it as "tests failed".
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from junitparser import Error, Failure, JUnitXml, Skipped, TestSuite

from engine.tools.commands import DEFAULT_OUTPUT_CAP, DEFAULT_TIMEOUT_S, OnLine, run_command
from engine.tools.sandbox import SandboxOptions

_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# pytest's documented exit codes for "no tests were collected" and "usage error".
_PYTEST_NO_TESTS = 5
_PYTEST_USAGE = 4
# POSIX shells: 126 = found but not executable, 127 = command not found.
_CANNOT_RUN = (126, 127)
_NO_INTERPRETER = re.compile(
    r"No module named (?:pytest|py\.test)\b|: command not found$|^(?:/bin/)?sh: \d+: \S+: not found$",
    re.M,
)


class TestHealth(StrEnum):
    """Whether a test command's result says anything about the code under test."""

    __test__ = False

    OK = "ok"
    CANNOT_RUN = "cannot_run"  # 126/127, missing interpreter or runner
    NO_TESTS = "no_tests"  # ran, but collected nothing
    COLLECTION_ERROR = "collection_error"  # a test file could not even be imported


@dataclass
class TestReport:
    """Outcome of a test command.

    ``failing`` holds pytest node ids (``tests/test_x.py::test_y``) of tests
    that failed or errored. When ``parsed`` is False the counts only reflect
    the exit code: ``passed=1`` for exit 0, else ``failed=1``.
    """

    __test__ = False  # not a pytest test class

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failing: list[str] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    exit_code: int = 0
    output: str = ""
    duration_s: float = 0.0
    parsed: bool = False
    timed_out: bool = False
    truncated: bool = False
    command: str = ""
    health: TestHealth = TestHealth.OK
    #: Test files whose collection errored (pytest ids of the files).
    collection_errors: list[str] = field(default_factory=list)

    def problem(self) -> str:
        """A one-line explanation when ``health`` is not OK, naming the command."""
        cmd = self.command or "the test command"
        if self.health == TestHealth.CANNOT_RUN:
            return (
                f"the test command could not run (exit {self.exit_code}): {cmd} — "
                "set the right one with --set test_command=... or in .llmflows/config.toml "
                "([tests] command)"
            )
        if self.health == TestHealth.NO_TESTS:
            return (
                f"the test command collected no tests: {cmd} — point it at the project's "
                "tests (--set test_command=... or [tests] command in .llmflows/config.toml)"
            )
        if self.health == TestHealth.COLLECTION_ERROR:
            files = ", ".join(self.collection_errors) or "a test file"
            return (
                f"collecting the tests failed in {files} before any test ran: {cmd} — "
                "fix the import error (or the test command), then approve to run it again"
            )
        return ""

    @property
    def ok(self) -> bool:
        """True when the command succeeded and nothing failed."""
        return self.exit_code == 0 and not self.timed_out and self.failed == 0 and self.errors == 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped

    def summary(self) -> str:
        """One line like ``3 passed, 1 failed, 1 skipped in 0.42s``."""
        if not self.parsed:
            state = "timed out" if self.timed_out else f"exit code {self.exit_code}"
            return f"{'passed' if self.ok else 'failed'} ({state}) in {self.duration_s:.2f}s"
        bits = [
            f"{n} {label}"
            for n, label in (
                (self.passed, "passed"),
                (self.failed, "failed"),
                (self.errors, "errors" if self.errors != 1 else "error"),
                (self.skipped, "skipped"),
            )
            if n
        ] or ["no tests ran"]
        if self.timed_out:
            bits.append("timed out")
        return f"{', '.join(bits)} in {self.duration_s:.2f}s"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["health"] = str(self.health)
        return d


def is_pytest_command(cmd: str) -> bool:
    """True for a single simple command that runs pytest."""
    if any(op in cmd for op in (";", "&", "|", "`", "$(", "\n", ">", "<")):
        return False  # we could not tell where to add --junitxml
    try:
        argv = shlex.split(cmd)
    except ValueError:
        return False
    while argv and (_ASSIGN.match(argv[0]) or argv[0] in ("env", "uv", "run", "poetry")):
        argv = argv[1:]
    if not argv:
        return False
    prog = os.path.basename(argv[0])
    if prog in ("pytest", "py.test") or re.fullmatch(r"pytest-?[\d.]*", prog):
        return True
    if re.fullmatch(r"python[\d.]*", prog):
        for i, a in enumerate(argv[1:-1], 1):
            if a == "-m":
                return argv[i + 1] in ("pytest", "py.test")
            if not a.startswith("-"):
                return False
    return False


def _nodeid(classname: str, name: str, file_attr: str | None, cwd: Path) -> str:
    """pytest node id from a junit testcase (``classname`` is dotted module[.Class])."""
    if not classname:
        # Collection errors: name is the dotted module path.
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            cand = "/".join(parts[:i]) + ".py"
            if (cwd / cand).exists():
                return cand
        return name.replace(".", "/") + ".py" if "/" not in name else name
    parts = classname.split(".")
    if file_attr:
        mod_parts = Path(file_attr).with_suffix("").as_posix().split("/")
        if parts[: len(mod_parts)] == mod_parts:
            return "::".join([Path(file_attr).as_posix(), *parts[len(mod_parts) :], name])
    for i in range(len(parts), 0, -1):
        cand = "/".join(parts[:i]) + ".py"
        if (cwd / cand).exists():
            return "::".join([cand, *parts[i:], name])
    # File not found (other rootdir): a trailing capitalized part is a class.
    if len(parts) > 1 and parts[-1][:1].isupper():
        return "::".join(["/".join(parts[:-1]) + ".py", parts[-1], name])
    return "::".join(["/".join(parts) + ".py", name])


def parse_junit(xml_text: str | bytes, cwd: str | os.PathLike[str] = ".") -> TestReport:
    """Counts, failing ids and durations from a JUnit XML report (pytest's or any runner's)."""
    text = xml_text if isinstance(xml_text, bytes) else xml_text.encode()
    xml = JUnitXml.fromstring(text)
    suites = [xml] if isinstance(xml, TestSuite) else list(xml)
    report = TestReport(parsed=True)
    base = Path(cwd)
    for suite in suites:
        for case in suite:
            classname = case.classname or ""
            nodeid = _nodeid(classname, case.name or "", case._elem.get("file"), base)
            with contextlib.suppress(TypeError, ValueError):
                report.durations[nodeid] = float(case.time or 0)
            results = case.result
            failure = any(isinstance(r, Failure) for r in results)
            error = any(isinstance(r, Error) for r in results)
            if failure:
                report.failed += 1
            if error:
                report.errors += 1
                if not classname and nodeid not in report.collection_errors:
                    report.collection_errors.append(nodeid)
            if failure or error:
                if nodeid not in report.failing:
                    report.failing.append(nodeid)
            elif any(isinstance(r, Skipped) for r in results):
                report.skipped += 1
            else:
                report.passed += 1
    return report


def _health(report: TestReport, pytest_run: bool) -> TestHealth:
    if report.timed_out:
        return TestHealth.OK  # a hang is the code's problem as much as anything
    if report.exit_code in _CANNOT_RUN:
        return TestHealth.CANNOT_RUN
    if not report.parsed and report.exit_code != 0 and _NO_INTERPRETER.search(report.output):
        return TestHealth.CANNOT_RUN
    if report.collection_errors:
        return TestHealth.COLLECTION_ERROR
    if pytest_run and report.exit_code == _PYTEST_NO_TESTS:
        return TestHealth.NO_TESTS
    if pytest_run and report.exit_code == _PYTEST_USAGE and not report.total:
        return TestHealth.CANNOT_RUN  # e.g. a test path that does not exist
    if report.parsed and report.total == 0:
        return TestHealth.NO_TESTS
    return TestHealth.OK


async def run_tests(
    cmd: str,
    cwd: str | os.PathLike[str],
    *,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    on_line: OnLine | None = None,
    env: Mapping[str, str] | None = None,
    output_cap: int = DEFAULT_OUTPUT_CAP,
    junit_path: str | None = None,
) -> TestReport:
    """Run a test command, stream its output, and report the results and their health.

    pytest commands get ``--junitxml`` added (report in a temp file outside the
    repository, removed afterwards). Other runners' JUnit XML is read from
    ``junit_path`` (relative to ``cwd``) when given and written by this run;
    otherwise the exit code decides.
    """
    junit: str | None = None
    report_dir: str | None = None
    run_cmd = cmd
    pytest_run = is_pytest_command(cmd)
    if pytest_run:
        # A private folder, bound writable into the sandbox: pytest creates the file.
        report_dir = tempfile.mkdtemp(prefix="llmflows-junit-")
        junit = os.path.join(report_dir, "report.xml")
        # Later options win in pytest, so ours overrides any --junitxml given.
        run_cmd = f"{cmd} --junitxml={shlex.quote(junit)} -o junit_family=xunit1"
    stream = on_line
    if junit is not None and on_line is not None:
        # pytest announces our temp report file; that line is ours, not the user's.
        def stream(line: str, _inner: OnLine = on_line) -> Any:
            if _is_junit_notice(line, junit):
                return None
            return _inner(line)

    foreign: Path | None = None
    foreign_mtime = 0.0
    if junit is None and junit_path:
        foreign = Path(cwd) / junit_path
        with contextlib.suppress(OSError):
            foreign_mtime = foreign.stat().st_mtime
    try:
        res = await run_command(
            run_cmd,
            cwd,
            timeout_s=timeout_s,
            output_cap=output_cap,
            on_line=stream,
            env=env,
            sandbox=SandboxOptions(writable=(report_dir,) if report_dir else ()),
        )
        report: TestReport | None = None
        source = junit
        if foreign is not None and foreign.is_file() and foreign.stat().st_mtime > foreign_mtime:
            source = str(foreign)  # only a report this run wrote, never a stale one
        if source is not None and os.path.exists(source):
            try:
                report = parse_junit(Path(source).read_bytes(), cwd)
            except Exception:  # noqa: BLE001 - junitparser/lxml raise several types
                report = None
    finally:
        if report_dir is not None:
            shutil.rmtree(report_dir, ignore_errors=True)
    if report is None:
        ok = res.exit_code == 0 and not res.timed_out
        report = TestReport(passed=1 if ok else 0, failed=0 if ok else 1, parsed=False)
    report.exit_code = res.exit_code
    report.output = (
        "".join(
            ln for ln in res.output.splitlines(keepends=True) if not _is_junit_notice(ln, junit)
        )
        if junit
        else res.output
    )
    report.duration_s = res.duration_s
    report.timed_out = res.timed_out
    report.truncated = res.truncated
    report.command = cmd
    report.health = _health(report, pytest_run)
    return report


def _is_junit_notice(line: str, junit: str) -> bool:
    return "generated xml file" in line and junit in line
