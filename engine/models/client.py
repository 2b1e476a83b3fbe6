"""ModelClient: one streamed chat completion through litellm, with retries and fallbacks.

``complete()`` streams (``stream_options.include_usage``), calls ``on_delta``
for every text delta, assembles text and OpenAI-format tool calls with
``litellm.stream_chunk_builder``, and returns a :class:`ModelResponse` with
usage, latency and cost (``litellm.completion_cost``). Transient failures
(429, 5xx, timeouts, dropped connections, malformed bodies) are retried with
exponential backoff; then the fallback models are tried; then
:class:`~engine.errors.ModelError` is raised with a ``kind``.

Secrets: the API key is read from the environment at call time, passed to
litellm, and never stored on the response, the settings or any error message.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from engine.errors import ModelError, ModelUnreachableError
from engine.models import pricing
from engine.models import scripted as scripted_fmt
from engine.models.loader import get_litellm, litellm_loaded
from engine.models.scripted_names import is_scripted, scripted_path
from engine.models.settings import ModelSettings, merged_request_options


@dataclass
class ToolCallRequest:
    """A tool call the model asked for. ``raw_arguments`` is the JSON text as sent."""

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ToolCallRequest:
        return cls(
            id=d["id"],
            name=d["name"],
            arguments=dict(d.get("arguments") or {}),
            raw_arguments=d.get("raw_arguments") or json.dumps(d.get("arguments") or {}),
        )


@dataclass
class ModelResponse:
    """One completed model call, as journaled (``to_dict``) and replayed (``from_dict``).

    ``cost_known`` is False when litellm has no price for the model (cost is 0.0).
    ``script_index`` is the scripted entry that answered; ``script_consumed``
    lists every entry this call used (injected-error entries included) — the run's
    scripted model factory (:mod:`engine.models.scripted_replay`) rebuilds its
    script cursor from these.
    """

    text: str
    tool_calls: list[ToolCallRequest]
    finish_reason: str
    model: str
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    cost_usd: float
    latency_s: float
    script_index: int | None = None
    cost_known: bool = True
    script_consumed: list[int] = field(default_factory=list)
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tool_calls"] = [tc.to_dict() for tc in self.tool_calls]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelResponse:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["tool_calls"] = [ToolCallRequest.from_dict(t) for t in d.get("tool_calls") or []]
        kw["script_consumed"] = list(d.get("script_consumed") or [])
        return cls(**kw)

    def assistant_message(self) -> dict[str, Any]:
        """This answer as an OpenAI-format assistant message (to append to the conversation)."""
        msg: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            msg["tool_calls"] = [
                {
                    "id": tc.id,
                    "type": "function",
                    "function": {"name": tc.name, "arguments": tc.raw_arguments},
                }
                for tc in self.tool_calls
            ]
        return msg


# Extra time the stream may take to open beyond twice the HTTP timeout (see _attempt).
_OPEN_BACKSTOP_S = 10.0
# A stream is cut once its text passes this many characters per requested token
# (real tokens average about 4 characters; 8 leaves room for any tokenizer).
_RUNAWAY_CHARS_PER_TOKEN = 8
# How providers word a prompt that is too long (litellm maps most to
# ContextWindowExceededError; OpenAI-compatible local servers often do not).
_CONTEXT_WORDS = re.compile(
    r"context[ _]length|context window|maximum context|too many tokens|prompt is too long", re.I
)
# Kinds after which trying a fallback model makes no sense.
_NO_FALLBACK = {"config", "script_exhausted"}
# A key-looking token, redacted from any error text as a second line of defence.
_KEY_PATTERNS = [
    re.compile(r"\b(sk|pk|rk|gsk|xai|key)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[^\s'\"]+"),
    re.compile(r"(?i)(api[_-]?key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
]
#: Key sent to an ``api_base`` server when no ``api_key_env`` is configured: local
#: servers need *some* key for the OpenAI client, and a provider's real key must
#: not be sent to an arbitrary endpoint.
NO_KEY = "sk-no-key-required"


class _CallbackError(Exception):
    """Wraps an exception raised by ``on_delta`` so it propagates unchanged."""

    def __init__(self, original: BaseException) -> None:
        self.original = original


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Remove secret values and key-looking tokens from a message."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "[redacted]")
    text = _KEY_PATTERNS[0].sub("[redacted]", text)
    text = _KEY_PATTERNS[1].sub(r"\1[redacted]", text)
    text = _KEY_PATTERNS[2].sub(r"\1[redacted]", text)
    return text


def _provider_prefix(model: str) -> str | None:
    return model.split("/", 1)[0] if "/" in model else None


def litellm_model_name(model: str, api_base: str | None) -> str:
    """The litellm model string for a user-facing model string."""
    if is_scripted(model):
        return scripted_fmt.SCRIPTED_LITELLM_MODEL
    if api_base and "/" not in model:
        # A bare name on an OpenAI-compatible server (vLLM, llama.cpp, LM Studio).
        return f"openai/{model}"
    return model


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(chain) < 12:
        e = todo.pop(0)
        if e is None or any(e is c for c in chain):
            continue
        chain.append(e)
        todo += [getattr(e, "original_exception", None), e.__cause__, e.__context__]
    return chain


def _retry_after(exc: BaseException) -> float | None:
    for headers in (
        getattr(exc, "litellm_response_headers", None),
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "headers", None),
    ):
        if not headers:
            continue
        try:
            value = headers.get("retry-after")
        except Exception:  # noqa: BLE001 - odd header containers
            continue
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            return None  # an HTTP date: fall back to our own backoff
    return None


_HOST_RE = re.compile(
    r"Cannot connect to host (\S+?) ssl:|Connect call failed \('([^']+)', (\d+)\)"
)


def _refused_target(chain: list[BaseException], api_base: str | None) -> str | None:
    """Where a refused connection went (the api_base, else the host from the error), or
    None when the chain is not a refused connection."""
    if not any(isinstance(e, ConnectionRefusedError) for e in chain):
        return None
    if api_base:
        return api_base
    for e in chain:
        m = _HOST_RE.search(str(e))
        if m:
            return m.group(1) or f"{m.group(2)}:{m.group(3)}"
    return "the model server"


def classify_error(
    exc: BaseException, model: str, secrets: tuple[str, ...] = (), api_base: str | None = None
) -> ModelError:
    """Turn a litellm / HTTP / JSON exception into a ModelError with kind and retryable.

    A refused connection is :class:`ModelUnreachableError`: one line naming the URL (no
    transport reprs), not retried.
    """
    chain = _exception_chain(exc)
    target = _refused_target(chain, api_base)
    if target is not None:
        return ModelUnreachableError(
            redact(
                f"{model}: cannot connect to {target} (connection refused): is the server "
                "running? The run is stopped; continue it once the server is up",
                secrets,
            )
        )
    # litellm wraps errors raised mid-stream in MidStreamFallbackError; look inside.
    inner = next((e for e in chain if type(e).__name__ != "MidStreamFallbackError"), exc)
    status = getattr(inner, "status_code", None)
    names = {type(e).__name__ for e in chain}
    detail = str(getattr(inner, "message", None) or inner) or type(inner).__name__
    retry_after: float | None = None
    timeout_names = {"Timeout", "APITimeoutError", "ReadTimeout", "ConnectTimeout"}
    if isinstance(inner, TimeoutError) or names & timeout_names or status == 408:
        kind, retryable, what = "timeout", True, "timed out"
    elif status == 429:
        kind, retryable, what = "rate_limit", True, "rate limited (429)"
        retry_after = _retry_after(inner) or _retry_after(exc)
    elif any(isinstance(e, json.JSONDecodeError) for e in chain):
        kind, retryable, what = "bad_response", True, "the server sent malformed JSON"
    elif "ContextWindowExceededError" in names or (
        status in (400, 413, 422) and _CONTEXT_WORDS.search(detail)
    ):
        kind, retryable, what = "context_window", False, "the prompt exceeds the context window"
    elif status in (401, 403):
        kind, retryable, what = "auth", False, f"authentication failed ({status})"
    elif status in (400, 404, 413, 422):
        kind, retryable, what = "bad_request", False, f"request rejected ({status})"
    elif (isinstance(status, int) and status >= 500) or names & {
        "APIConnectionError",
        "RemoteProtocolError",
        "ConnectError",
        "ClientPayloadError",
        "ServerDisconnectedError",
        "ClientConnectionError",
        "ConnectionResetError",
        "TransferEncodingError",
    }:
        kind, retryable = "server", True
        what = f"server error ({status})" if status else "connection error"
    else:
        kind, retryable, what = "bad_response", False, f"unexpected {type(inner).__name__}"
    detail = " ".join(detail.split())
    if len(detail) > 400:
        detail = detail[:400] + "…"
    err = ModelError(redact(f"{model}: {what}: {detail}", secrets), kind=kind, retryable=retryable)
    err.retry_after = retry_after  # type: ignore[attr-defined]
    return err


class ModelClient:
    """Calls one configured model (plus fallbacks) through litellm. See module docstring."""

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings

    # -- helpers ------------------------------------------------------------
    def _endpoint(self, model: str) -> tuple[str | None, str | None, tuple[str, ...]]:
        """(api_base, api_key, secrets) for ``model``; the key is read from env now."""
        s = self.settings
        if is_scripted(model):
            return None, None, ()
        # api_base/api_key_env belong to the primary model's provider: a fallback on
        # another provider uses that provider's own endpoint and key.
        same = _provider_prefix(litellm_model_name(model, s.api_base)) == _provider_prefix(
            litellm_model_name(s.model, s.api_base)
        )
        api_base = s.api_base if same else None
        key: str | None = None
        if s.api_key_env and same:
            key = os.environ.get(s.api_key_env) or None
            if key is None:
                raise ModelError(
                    f"{model}: the environment variable {s.api_key_env} (api_key_env) is not set",
                    kind="config",
                )
        elif api_base:
            key = NO_KEY
        secrets = tuple(x for x in (key,) if x and x != NO_KEY)
        if s.api_key_env:
            v = os.environ.get(s.api_key_env)
            secrets += (v,) if v else ()
        return api_base, key, secrets

    def _register_prices(self, lm: Any) -> None:
        for name, price in (self.settings.custom_prices or {}).items():
            pricing.register_prices(lm, litellm_model_name(name, self.settings.api_base), price)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        s = self.settings
        delay = min(s.retry_max_s, s.retry_base_s * (2**attempt))
        delay *= 0.5 + random.random() / 2  # jitter: many runs must not retry in lockstep
        if retry_after is not None:
            delay = max(delay, min(retry_after, s.retry_max_s))
        return delay

    # -- public API ---------------------------------------------------------
    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        on_delta: Callable[[str], None] | None = None,
        metadata: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
    ) -> ModelResponse:
        """Stream one completion; retry transient errors; try fallbacks; raise ModelError.

        ``options``: request fields for this call (validated names, see
        ``settings.REQUEST_OPTION_TYPES``) on top of the model's ``request`` table.

        ``metadata``: ``node`` (the calling flow node) and ``scripted_consumed``
        (script entry indices already used by this run) — only scripted models
        use it; it is never sent to a real provider.
        """
        if not self.settings.model:
            raise ModelError("no model configured", kind="config")
        if not litellm_loaded():
            # The first import takes seconds: keep it off the event loop.
            await asyncio.to_thread(get_litellm)
        lm = get_litellm()
        self._register_prices(lm)
        failures: list[tuple[str, ModelError]] = []
        for model in [self.settings.model, *self.settings.fallbacks]:
            try:
                return await self._complete_with_retries(
                    lm, model, messages, tools, on_delta, {**(metadata or {}), "options": options}
                )
            except ModelError as e:
                failures.append((model, e))
                if e.kind in _NO_FALLBACK:
                    break
        if len(failures) == 1:
            raise failures[0][1]
        last = failures[-1][1]
        summary = "; ".join(str(e) for _, e in failures)
        raise ModelError(
            f"all models failed ({len(failures)} tried): {summary}",
            kind=last.kind,
            retryable=last.retryable,
        )

    async def _complete_with_retries(
        self,
        lm: Any,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        on_delta: Callable[[str], None] | None,
        metadata: dict[str, Any],
    ) -> ModelResponse:
        s = self.settings
        # A scripted call's record travels in its metadata (the handler fills it in).
        call = scripted_fmt.CallRecord() if is_scripted(model) else None
        attempt = 0
        while True:
            try:
                resp = await self._attempt(lm, model, messages, tools, on_delta, metadata, call)
                resp.attempts = attempt + 1
                return resp
            except ModelError as e:
                if not e.retryable or attempt >= s.max_retries:
                    if attempt:
                        e.args = (f"{e.args[0]} (after {attempt + 1} attempts)",)
                    raise
                await asyncio.sleep(self._backoff(attempt, getattr(e, "retry_after", None)))
                attempt += 1

    async def _attempt(
        self,
        lm: Any,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        on_delta: Callable[[str], None] | None,
        metadata: dict[str, Any],
        call: scripted_fmt.CallRecord | None,
    ) -> ModelResponse:
        s = self.settings
        lmodel = litellm_model_name(model, s.api_base)
        api_base, api_key, secrets = self._endpoint(model)
        kwargs: dict[str, Any] = {
            "model": lmodel,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": s.timeout_s,
            "max_retries": 0,  # our backoff, not the SDK's hidden one
        }
        if tools:
            kwargs["tools"] = tools
            # litellm checks tools for its MCP gateway by importing the optional `mcp`
            # package (not a dependency: every call with tools would fail). We never
            # use MCP tools, so skip that check.
            kwargs["_skip_mcp_handler"] = True
        if s.temperature is not None:
            kwargs["temperature"] = s.temperature
        if s.max_output_tokens is not None:
            kwargs["max_tokens"] = s.max_output_tokens
        kwargs.update(merged_request_options(s, metadata.get("options")))
        if api_base:
            kwargs["api_base"] = api_base
        if api_key:
            kwargs["api_key"] = api_key
        if call is not None:
            kwargs["metadata"] = {
                "scripted_path": scripted_path(model),
                "scripted_call": call,
                "node": metadata.get("node"),
                "task": metadata.get("task"),
                "attempt": metadata.get("attempt"),
                # Entries used before this call, and by this call's earlier tries.
                "scripted_consumed": [
                    *[int(i) for i in metadata.get("scripted_consumed") or []],
                    *call.consumed,
                ],
            }
        start = time.monotonic()
        chunks: list[Any] = []
        finished = False
        # A model that loops and a server that ignores max_tokens would stream until
        # the server's own limit: stop reading well past the cap we asked for.
        cap = kwargs.get("max_tokens")
        streamed_chars = 0
        char_limit = _RUNAWAY_CHARS_PER_TOKEN * int(cap) if cap else None
        try:
            # Opening the stream is bounded by the HTTP client's own timeout (kwargs).
            # Cancelling it from here could land while litellm prepares the request
            # in a worker thread, orphaning the coroutine that thread returns
            # ("coroutine ... was never awaited"); the outer bound is only a backstop.
            async with asyncio.timeout(2 * s.timeout_s + _OPEN_BACKSTOP_S):
                stream = await lm.acompletion(**kwargs)
            async with asyncio.timeout(s.timeout_s) as deadline:
                # An idle timeout: each chunk buys another timeout_s, so long answers
                # that keep streaming are fine but a stalled stream is not.
                async for chunk in stream:
                    deadline.reschedule(asyncio.get_running_loop().time() + s.timeout_s)
                    chunks.append(chunk)
                    for choice in getattr(chunk, "choices", None) or []:
                        if getattr(choice, "finish_reason", None):
                            finished = True
                        delta = getattr(choice, "delta", None)
                        text = getattr(delta, "content", None) if delta is not None else None
                        streamed_chars += len(text or "")
                        if char_limit is not None and streamed_chars > char_limit:
                            raise ModelError(
                                f"{model}: the answer ran past max_output_tokens ({cap}) "
                                "without finishing (the server ignored the cap)",
                                "truncated",
                                False,
                            )
                        if text and on_delta is not None:
                            try:
                                on_delta(text)
                            except Exception as cb_exc:  # noqa: BLE001
                                raise _CallbackError(cb_exc) from cb_exc
            if not chunks:
                raise ModelError(f"{model}: empty response stream", "bad_response", True)
            if not finished:
                raise ModelError(
                    f"{model}: the response stream ended before the model finished",
                    "bad_response",
                    True,
                )
            built = lm.stream_chunk_builder(chunks, messages=messages)
            if built is None or not getattr(built, "choices", None):
                raise ModelError(f"{model}: could not assemble the response", "bad_response", True)
        except _CallbackError as ce:
            raise ce.original from None
        except ModelError:
            self._raise_scripted_failure(call)
            raise
        except Exception as exc:  # noqa: BLE001 - every provider failure becomes a ModelError
            self._raise_scripted_failure(call)
            raise classify_error(exc, model, secrets, self.settings.api_base) from None
        latency = time.monotonic() - start
        choice = built.choices[0]
        message = choice.message
        tool_calls = self._parse_tool_calls(model, getattr(message, "tool_calls", None) or [])
        usage = getattr(built, "usage", None)
        tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
        details = getattr(usage, "prompt_tokens_details", None)
        tokens_cached = int(getattr(details, "cached_tokens", 0) or 0) if details else 0
        cost, known = pricing.response_cost(lm, built, lmodel)
        consumed = list(call.consumed) if call is not None else []
        return ModelResponse(
            text=getattr(message, "content", None) or "",
            tool_calls=tool_calls,
            finish_reason=str(choice.finish_reason or "stop"),
            model=model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            tokens_cached=tokens_cached,
            cost_usd=cost,
            latency_s=latency,
            script_index=consumed[-1] if consumed else None,
            cost_known=known,
            script_consumed=consumed,
        )

    @staticmethod
    def _raise_scripted_failure(call: scripted_fmt.CallRecord | None) -> None:
        """A scripted handler failure (exhausted, bad file) beats litellm's wrapping of it."""
        failure = call.failure if call is not None else None
        if failure is not None:
            kind, message = failure
            raise ModelError(message, kind=kind, retryable=False)

    @staticmethod
    def _parse_tool_calls(model: str, raw_calls: list[Any]) -> list[ToolCallRequest]:
        out: list[ToolCallRequest] = []
        for i, tc in enumerate(raw_calls):
            fn = getattr(tc, "function", None)
            name = getattr(fn, "name", None) or ""
            raw = getattr(fn, "arguments", None) or ""
            try:
                args = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError as e:
                # Almost always an answer cut off mid-arguments: the caller retries it
                # with a larger output cap rather than taking it.
                raise ModelError(
                    f"{model}: tool call {name or i!r} has malformed JSON arguments "
                    f"({e.msg} at char {e.pos}): {raw[:200]!r}",
                    kind="truncated",
                    retryable=False,
                ) from None
            if not isinstance(args, dict):
                raise ModelError(
                    f"{model}: tool call {name!r} arguments must be a JSON object, got {raw[:200]!r}",
                    kind="bad_response",
                    retryable=False,
                )
            out.append(
                ToolCallRequest(
                    id=getattr(tc, "id", None) or f"call_{i}",
                    name=name,
                    arguments=args,
                    raw_arguments=raw,
                )
            )
        return out

    def estimate_cost(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        max_output_tokens: int = 1024,
    ) -> float:
        """Upper-bound USD cost of the next call (pre-call budget check); 0.0 if unpriced.

        Counts the prompt with ``litellm.token_counter`` and prices it, plus
        ``max_output_tokens`` of output, with litellm's price for the primary model.
        """
        lm = get_litellm()
        self._register_prices(lm)
        lmodel = litellm_model_name(self.settings.model, self.settings.api_base)
        try:
            prompt_tokens = lm.token_counter(model=lmodel, messages=messages, tools=tools or None)
        except Exception:  # noqa: BLE001 - a tokenizer problem must not stop the run
            prompt_tokens = sum(len(json.dumps(m)) for m in messages) // 4
        cost, _known = pricing.tokens_cost(lm, lmodel, int(prompt_tokens), int(max_output_tokens))
        return cost
