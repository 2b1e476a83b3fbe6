"""A tiny OpenAI-compatible chat-completions server on loopback, for tests.

It lets tests drive litellm's *real* HTTP client (model ``openai/NAME`` with
``api_base`` pointing here) through streaming, tool calls and failures
without any network. Behaviours are queued per request::

    openai_server.enqueue(reply_status(429, retry_after="0"), reply_text("hi"))

Each POST /v1/chat/completions takes the next queued behaviour (per-model
queue first, then the shared queue, then the defaults). Every request body
is recorded in ``server.requests`` so tests can assert what the model saw.

The server binds 127.0.0.1 on a random free port and is shut down by the
``openai_server`` fixture's teardown.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# -- behaviours ---------------------------------------------------------------


def reply_text(
    text: str = "ok",
    *,
    chunks: list[str] | None = None,
    usage: dict[str, int] | None = None,
    finish_reason: str = "stop",
) -> dict[str, Any]:
    """A normal text answer; streamed as ``chunks`` (default: word pieces)."""
    return {
        "kind": "text",
        "text": text,
        "chunks": chunks,
        "usage": usage,
        "finish_reason": finish_reason,
    }


def reply_tool_calls(
    tool_calls: list[dict[str, Any]],
    *,
    text: str = "",
    usage: dict[str, int] | None = None,
    finish_reason: str = "tool_calls",
) -> dict[str, Any]:
    """Tool calls: ``[{"id", "name", "arguments": str|dict}]``; args streamed in pieces."""
    return {
        "kind": "tool_calls",
        "text": text,
        "tool_calls": tool_calls,
        "usage": usage,
        "finish_reason": finish_reason,
    }


# -- how real (small) models misbehave ---------------------------------------------


def reply_prose_without_tools(text: str = "I would look at the code and fix the bug.") -> dict:
    """An agent turn answered in prose: no tool call at all."""
    return reply_text(text)


def reply_length(text: str = "The sum of the total of the total of the total of") -> dict:
    """An answer cut by the output cap: ``finish_reason: length``."""
    return reply_text(text, finish_reason="length")


def reply_truncated_tool_json(name: str = "finish") -> dict:
    """A tool call whose JSON arguments stop mid-string, as when the cap cuts it."""
    return reply_tool_calls(
        [{"name": name, "arguments": '{"summary": "The sum of the total of the tot'}],
        finish_reason="length",
    )


def reply_placeholder_json() -> dict:
    """The prompt's example object copied back instead of an answer."""
    return reply_text('{"cause": "one or two sentences", "files": [], "fix": "how to fix it"}')


def reply_endless(piece: str = "the total of ") -> dict[str, Any]:
    """Stream the same words forever (until the client hangs up), never finishing."""
    return {"kind": "endless", "text": piece}


def reply_status(
    status: int,
    *,
    retry_after: str | None = None,
    message: str = "injected error",
    echo_auth: bool = False,
) -> dict[str, Any]:
    """An HTTP error status (429, 500, 503, 401...) with an OpenAI-style error body.

    ``echo_auth`` puts the request's Authorization header into the error message,
    like a careless server would, to prove the client redacts it.
    """
    return {
        "kind": "status",
        "status": status,
        "retry_after": retry_after,
        "message": message,
        "echo_auth": echo_auth,
    }


def reply_sleep(seconds: float, then: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sleep (past the client's timeout), then answer ``then`` if still connected."""
    return {"kind": "sleep", "seconds": seconds, "then": then or reply_text("late")}


def reply_malformed() -> dict[str, Any]:
    """A 200 whose body (or SSE data line when streaming) is not valid JSON."""
    return {"kind": "malformed"}


def reply_truncated(text: str = "partial answer that never ends") -> dict[str, Any]:
    """Start streaming, then close the connection mid-chunk (no final chunk, no [DONE])."""
    return {"kind": "truncated", "text": text}


# -- server --------------------------------------------------------------------


def _split(text: str) -> list[str]:
    """Split into word-ish pieces keeping whitespace, so deltas concatenate back."""
    pieces: list[str] = []
    cur = ""
    for ch in text:
        cur += ch
        if ch == " ":
            pieces.append(cur)
            cur = ""
    if cur:
        pieces.append(cur)
    return pieces or [""]


def _usage_block(usage: dict[str, int] | None, default_prompt: int, text: str) -> dict[str, Any]:
    u = dict(usage or {})
    prompt = u.get("prompt_tokens", default_prompt)
    completion = u.get("completion_tokens", max(1, len(text.split())))
    block: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if "cached_tokens" in u:
        block["prompt_tokens_details"] = {"cached_tokens": u["cached_tokens"]}
    return block


class OpenAIServer(ThreadingHTTPServer):
    """Threaded loopback server; see the module docstring."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.request_headers: list[dict[str, str]] = []
        self._queues: dict[str | None, deque[dict[str, Any]]] = {None: deque()}
        self._defaults: dict[str | None, dict[str, Any]] = {None: reply_text("ok")}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def api_base(self) -> str:
        """The base URL to give litellm (``api_base``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def enqueue(self, *behaviours: dict[str, Any], model: str | None = None) -> None:
        """Queue behaviours for the next requests (optionally only for ``model``)."""
        with self._lock:
            self._queues.setdefault(model, deque()).extend(behaviours)

    def set_default(self, behaviour: dict[str, Any], model: str | None = None) -> None:
        """What to answer when the queues are empty (optionally per ``model``)."""
        with self._lock:
            self._defaults[model] = behaviour

    def next_behaviour(self, model: str | None) -> dict[str, Any]:
        with self._lock:
            for key in (model, None):
                q = self._queues.get(key)
                if q:
                    return q.popleft()
            return self._defaults.get(model) or self._defaults[None]

    def record(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(body)
            self.request_headers.append(headers)

    def start(self) -> OpenAIServer:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (timeouts, truncation tests) are expected, not errors.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: OpenAIServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass  # keep pytest output clean

    # -- plumbing
    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _sse(self, payload: Any) -> None:
        raw = payload if isinstance(payload, str) else json.dumps(payload)
        self._chunk(f"data: {raw}\n\n".encode())

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _end_stream(self) -> None:
        self._sse("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "bad json", "type": "invalid_request"}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        self.server.record(body, {k.lower(): v for k, v in self.headers.items()})
        behaviour = self.server.next_behaviour(body.get("model"))
        try:
            self._respond(body, behaviour)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test); nothing to do

    def _respond(self, body: dict[str, Any], b: dict[str, Any]) -> None:
        kind = b["kind"]
        stream = bool(body.get("stream"))
        model = body.get("model", "test-model")
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in body["messages"])
        if kind == "sleep":
            # Interruptible, so fixture teardown is not held up by a sleeping handler.
            self.server.stopping.wait(b["seconds"])
            if self.server.stopping.is_set():
                self.close_connection = True
                return
            b = b["then"]
            kind = b["kind"]
        if kind == "status":
            headers = {"retry-after": b["retry_after"]} if b.get("retry_after") is not None else {}
            msg = b["message"]
            if b.get("echo_auth"):
                msg += f" (you sent Authorization: {self.headers.get('Authorization')})"
            err = {"error": {"message": msg, "type": "server_error", "code": b["status"]}}
            self._send_json(b["status"], err, headers)
            return
        if kind == "malformed":
            if stream:
                self._start_stream()
                self._sse('{"id": "x", "choices": [{"delta": {"content": "hal')
                self._end_stream()
            else:
                data = b'{"id": "chatcmpl-x", "choices": [{"message": '
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            return
        base = {"id": "chatcmpl-test", "created": int(time.time()), "model": model}
        if kind == "endless":
            self._start_stream()
            delta = {"content": b["text"]}
            while not self.server.stopping.is_set():
                self._sse(
                    {
                        **base,
                        "object": "chat.completion.chunk",
                        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                    }
                )
            return
        if kind == "truncated":
            self._start_stream()
            for piece in _split(b["text"])[:2]:
                chunk = {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
                self._sse(chunk)
            # Announce a chunk bigger than what follows, then hang up mid-message.
            self.wfile.write(b'400\r\ndata: {"id": "chatcmpl-test", "cho')
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        text = b.get("text") or ""
        tool_calls = [
            {
                "id": tc.get("id") or f"call_{i}",
                "name": tc["name"],
                "arguments": tc["arguments"]
                if isinstance(tc["arguments"], str)
                else json.dumps(tc["arguments"]),
            }
            for i, tc in enumerate(b.get("tool_calls") or [])
        ]
        usage = _usage_block(b.get("usage"), prompt_tokens, text)
        if not stream:
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if tool_calls:
                message["tool_calls"] = [
                    {
                        "id": tc["id"],
                        "type": "function",
                        "function": {"name": tc["name"], "arguments": tc["arguments"]},
                    }
                    for tc in tool_calls
                ]
            payload = {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": b["finish_reason"]}],
                "usage": usage,
            }
            self._send_json(200, payload)
            return
        self._start_stream()

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        self._sse(chunk({"role": "assistant", "content": ""}))
        if text:
            for piece in b.get("chunks") or _split(text):
                self._sse(chunk({"content": piece}))
        for i, tc in enumerate(tool_calls):
            head = {
                "index": i,
                "id": tc["id"],
                "type": "function",
                "function": {"name": tc["name"], "arguments": ""},
            }
            self._sse(chunk({"tool_calls": [head]}))
            args = tc["arguments"]
            step = max(1, len(args) // 3)
            for j in range(0, len(args), step):
                part = {"index": i, "function": {"arguments": args[j : j + step]}}
                self._sse(chunk({"tool_calls": [part]}))
        self._sse(chunk({}, b["finish_reason"]))
        if (body.get("stream_options") or {}).get("include_usage"):
            self._sse({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
        self._end_stream()


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A started loopback server; stopped (and its sleeping handlers released) at teardown."""
    server = OpenAIServer().start()
    try:
        yield server
    finally:
        server.stop()
