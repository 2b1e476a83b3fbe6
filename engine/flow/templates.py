"""Jinja2 for flows: one sandboxed environment, static checks and rendering.

Undefined policy (the "lenient at run time, strict at load time" split):

* At run time a missing value renders as empty text, chains (``tests.failed``
  when there is no ``tests`` yet), iterates as empty, is ``0`` for ``| int``
  and compares False (``tests.failed > 0`` is False before any test ran).
  Optional context (``task``, ``tests``, ``feedback`` ...) therefore never
  crashes a prompt.
* At load time every top-level name a template or expression reads must be a
  known context name (or a node's output key), and every ``settings.X`` must be
  declared in the flow's ``settings``. So ``{{ gaol }}`` is a validation error,
  not an empty string in a prompt.

Rendering has limits, so a template can fail but never hang or eat the
memory: every ``for`` loop (recursive ones included) draws from one
iteration budget per render (the sandbox caps each ``range`` at 100,000), ``*`` / ``**`` may not build huge values,
and the rendered text is capped (:class:`RenderLimitError`).
"""

from __future__ import annotations

import contextvars
import functools
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import ChainableUndefined, meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import TemplateError, TemplateSyntaxError
from jinja2.parser import Parser
from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedEnvironment, SecurityError

#: Loop iterations (all loops and ranges of one render together).
MAX_ITERATIONS = 1_000_000
#: Characters a template may render, and the size of a value ``*`` may build.
MAX_RENDER_CHARS = 2_000_000
_GUARD_FILTER = "llmflows_iteration_guard"

# Names the executor puts in every template / `when` context (docs/flows.md).
CONTEXT_NAMES = frozenset(
    {
        "goal",
        "flow",
        "settings",
        "plan",
        "task",
        "tests",
        "outputs",
        "feedback",
        "user_edits",
        "instruction",
        "iteration",
        "files",
        "repo_map",
        "focus",
        "instructions",
        "state",
    }
)
_DICT_METHODS = frozenset({"items", "keys", "values", "get"})


class _Blank(ChainableUndefined):
    """Undefined that renders empty, chains, is 0 as a number and compares False."""

    __slots__ = ()

    def _false(self, *_: Any) -> bool:
        return False

    def _self(self, *_: Any) -> _Blank:
        return self

    __lt__ = __le__ = __gt__ = __ge__ = _false  # type: ignore[assignment]
    __add__ = __radd__ = __sub__ = __rsub__ = _self  # type: ignore[assignment]
    __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _self  # type: ignore[assignment]
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _self  # type: ignore[assignment]
    __pow__ = __rpow__ = __neg__ = __pos__ = _self  # type: ignore[assignment]

    def __int__(self) -> int:  # type: ignore[override]  # jinja2 types it as raising
        return 0

    def __float__(self) -> float:  # type: ignore[override]
        return 0.0


class RenderLimitError(SecurityError):
    """A template went over a render limit (iterations, rendered size, value size)."""


class _Budget:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_ITERATIONS


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "llmflows_template_budget", default=None
)


def _guard(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _BUDGET.get() or _Budget()
    for item in iterable:
        budget.left -= 1
        if budget.left < 0:
            raise RenderLimitError(
                f"template loops ran more than {MAX_ITERATIONS:,} iterations; "
                "loop over less (nested range() multiplies)"
            )
        yield item


class _GuardedCodeGenerator(CodeGenerator):
    """Compiles every ``{% for x in EXPR %}`` as ``for x in EXPR | guard``."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        # Before the base class collects the filters the template uses.
        for loop in node.find_all(nodes.For):
            if not (isinstance(loop.iter, nodes.Filter) and loop.iter.name == _GUARD_FILTER):
                loop.iter = nodes.Filter(
                    loop.iter, _GUARD_FILTER, [], [], None, None, lineno=loop.lineno
                )
        super().visit_Template(node, frame)


def _too_big(op: str, left: Any, right: Any) -> bool:
    if op == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, str | bytes | list | tuple) and isinstance(n, int):
                return len(seq) * n > MAX_RENDER_CHARS
        return False
    # a ** b: only integer powers explode (floats overflow with an error)
    return (
        isinstance(left, int)
        and isinstance(right, int)
        and abs(left) > 1
        and right * max(abs(left).bit_length(), 1) > 8 * MAX_RENDER_CHARS
    )


class _LimitedEnvironment(SandboxedEnvironment):
    """The sandbox plus render limits (see the module docstring)."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if _too_big(op, left, right):
            raise RenderLimitError(f"{op!r} would build a value over {MAX_RENDER_CHARS:,} items")
        return operator.mul(left, right) if op == "*" else operator.pow(left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if isinstance(__obj, LoopContext) and args:
            # loop(items) in a recursive for: the new items draw from the same budget
            args = (_guard(args[0]), *args[1:])
        return super().call(__context, __obj, *args, **kwargs)


ENV = _LimitedEnvironment(
    undefined=_Blank,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
ENV.filters[_GUARD_FILTER] = _guard
# lipsum(n) builds n paragraphs in one call: nothing a flow needs.
del ENV.globals["lipsum"]
JINJA_GLOBALS = frozenset(ENV.globals)


@dataclass(frozen=True)
class Problem:
    """A problem inside a template/expression; ``lineno`` is 1-based within its text."""

    lineno: int
    message: str
    token: str | None = None  # text to look for on that line, for a precise column


def _suggest(word: str, candidates: set[str] | frozenset[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _name_problems(
    tree: nodes.Node,
    undeclared: set[str],
    known: set[str] | frozenset[str],
    settings_keys: set[str],
) -> list[Problem]:
    problems: list[Problem] = []
    allowed = set(known) | JINJA_GLOBALS
    seen: set[str] = set()
    for name in tree.find_all(nodes.Name):
        if name.ctx != "load" or name.name not in undeclared or name.name in allowed:
            continue
        if name.name in seen:
            continue
        seen.add(name.name)
        problems.append(
            Problem(
                name.lineno or 1,
                f"unknown name {name.name!r}{_suggest(name.name, allowed - JINJA_GLOBALS)}",
                name.name,
            )
        )
    if "settings" in undeclared:
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            assert isinstance(node, nodes.Getattr | nodes.Getitem)  # narrows find_all's type
            target = node.node
            if not (isinstance(target, nodes.Name) and target.name == "settings"):
                continue
            if isinstance(node, nodes.Getattr):
                key = node.attr
                if key in _DICT_METHODS:
                    continue
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                key = node.arg.value
            else:
                continue
            if key not in settings_keys:
                problems.append(
                    Problem(
                        node.lineno or 1,
                        f"settings.{key} is not declared in the flow's settings"
                        f"{_suggest(key, settings_keys)}",
                        key,
                    )
                )
    return problems


def check_template(
    source: str, known: set[str] | frozenset[str], settings_keys: set[str]
) -> list[Problem]:
    """Syntax, unknown filters/tests, unknown top-level names, undeclared settings."""
    try:
        tree = ENV.parse(source)
        ENV.compile(tree)  # catches unknown filters/tests (TemplateAssertionError)
        undeclared = meta.find_undeclared_variables(tree)
    except TemplateSyntaxError as e:
        return [Problem(e.lineno or 1, f"template syntax error: {e.message}")]
    except TemplateError as e:
        return [Problem(1, f"template error: {e}")]
    except RecursionError:
        return [Problem(1, "template is nested too deeply")]
    problems: list[Problem] = []
    for bad in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        problems.append(
            Problem(
                bad.lineno or 1,
                "include/import/extends is not supported: flow templates are self-contained",
            )
        )
    return problems + _name_problems(tree, undeclared, known, settings_keys)


def check_expression(
    source: str, known: set[str] | frozenset[str], settings_keys: set[str]
) -> list[Problem]:
    """Check a `when`/`foreach` expression (syntax, names, settings keys)."""
    if not source.strip():
        return [Problem(1, "empty expression")]
    try:
        parser = Parser(ENV, source, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            tok = parser.stream.current
            return [Problem(tok.lineno, f"unexpected {tok.value!r} after the expression")]
        ENV.compile_expression(source)
    except TemplateSyntaxError as e:
        return [Problem(e.lineno or 1, f"expression syntax error: {e.message}")]
    except TemplateError as e:
        return [Problem(1, f"expression error: {e}")]
    except RecursionError:
        return [Problem(1, "expression is nested too deeply")]
    undeclared = {n.name for n in expr.find_all(nodes.Name) if n.ctx == "load"}
    return _name_problems(expr, undeclared, known, settings_keys)


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> Any:
    return ENV.from_string(source)


@functools.lru_cache(maxsize=256)
def _compiled_expr(source: str) -> Any:
    return ENV.compile_expression(source, undefined_to_none=False)


def render(source: str, context: dict[str, Any]) -> str:
    """Render template text with ``context`` (raises jinja2 errors, RenderLimitError)."""
    token = _BUDGET.set(_Budget())
    try:
        parts: list[str] = []
        size = 0
        for piece in _compiled(source).generate(context):
            size += len(piece)
            if size > MAX_RENDER_CHARS:
                raise RenderLimitError(
                    f"the template rendered more than {MAX_RENDER_CHARS:,} characters"
                )
            parts.append(piece)
        return "".join(parts)
    finally:
        _BUDGET.reset(token)


def evaluate(expr: str, context: dict[str, Any]) -> Any:
    """Evaluate an expression; undefined values come back as the blank Undefined."""
    token = _BUDGET.set(_Budget())
    try:
        return _compiled_expr(expr)(**context)
    finally:
        _BUDGET.reset(token)


def is_undefined(value: Any) -> bool:
    return isinstance(value, ChainableUndefined)
