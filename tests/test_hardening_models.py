"""A model call that times out leaves no "coroutine ... was never awaited" behind."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings

import pytest

from engine.errors import ModelError
from engine.models import ModelClient, ModelSettings, get_litellm
from tests.support import openai_server as server_support
from tests.support.openai_server import OpenAIServer, reply_sleep

openai_server = server_support.openai_server  # the loopback server fixture


async def test_timed_out_model_call_leaves_no_unawaited_coroutine(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_LLM_API_KEY", "sk-test")
    lm = get_litellm()
    import litellm.main

    real = litellm.main.completion
    prepared = threading.Event()
    returned = threading.Event()

    def slow_prepare(*args, **kwargs):
        # litellm builds the request in a worker thread; a cold start makes that slow.
        # Our timeout firing during it used to orphan the coroutine the thread returns.
        prepared.wait(timeout=30)
        try:
            return real(*args, **kwargs)
        finally:
            returned.set()

    monkeypatch.setattr(litellm.main, "completion", slow_prepare)
    openai_server.set_default(reply_sleep(10))
    settings = ModelSettings(
        model="openai/test-model",
        api_base=openai_server.api_base,
        api_key_env="TEST_LLM_API_KEY",
        timeout_s=0.5,
        max_retries=0,
    )
    threading.Timer(1.5, prepared.set).start()  # longer than timeout_s
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kind = None
        try:
            await ModelClient(settings).complete([{"role": "user", "content": "hi"}])
        except ModelError as e:  # not pytest.raises: its traceback would keep the frames alive
            kind = e.kind
        await asyncio.to_thread(returned.wait, 30)
        for _ in range(5):  # let the loop hand the thread's result over (or drop it)
            await asyncio.sleep(0.01)
        gc.collect()
    assert kind == "timeout"
    never_awaited = [w for w in caught if "never awaited" in str(w.message)]
    assert never_awaited == []
    assert lm is not None
