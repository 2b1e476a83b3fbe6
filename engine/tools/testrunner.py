"""Running a project's tests and reading the results.

For pytest (``pytest``, ``py.test``, ``python -m pytest``, any path to those)
``run_tests`` appends ``--junitxml=<temp file>`` and parses the report, so
counts and failing test ids are exact. Any other command is judged by its
exit code alone (``parsed=False``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.tools.commands import DEFAULT_OUTPUT_CAP, DEFAULT_TIMEOUT_S, OnLine, run_command
from engine.tools.sandbox import SandboxOptions

_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


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
        return asdict(self)


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
    """Counts, failing ids and durations from a pytest junit XML report."""
    root = ET.fromstring(xml_text)
    report = TestReport(parsed=True)
    base = Path(cwd)
    for case in root.iter("testcase"):
        nodeid = _nodeid(case.get("classname", ""), case.get("name", ""), case.get("file"), base)
        with contextlib.suppress(ValueError):
            report.durations[nodeid] = float(case.get("time", "0") or 0)
        failure = case.find("failure") is not None
        error = case.find("error") is not None
        if failure:
            report.failed += 1
        if error:
            report.errors += 1
        if failure or error:
            if nodeid not in report.failing:
                report.failing.append(nodeid)
        elif case.find("skipped") is not None:
            report.skipped += 1
        else:
            report.passed += 1
    return report


async def run_tests(
    cmd: str,
    cwd: str | os.PathLike[str],
    *,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    on_line: OnLine | None = None,
    env: Mapping[str, str] | None = None,
    output_cap: int = DEFAULT_OUTPUT_CAP,
) -> TestReport:
    """Run a test command, stream its output, and report the results.

    pytest commands get ``--junitxml`` added (report in a temp file outside the
    repository, removed afterwards); other commands are judged by exit code.
    """
    junit: str | None = None
    report_dir: str | None = None
    run_cmd = cmd
    if is_pytest_command(cmd):
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
        if junit is not None and os.path.exists(junit):
            try:
                report = parse_junit(Path(junit).read_bytes(), cwd)
            except (ET.ParseError, OSError):
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
    return report


def _is_junit_notice(line: str, junit: str) -> bool:
    return "generated xml file" in line and junit in line
