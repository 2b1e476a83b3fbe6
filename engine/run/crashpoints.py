"""Named crash points for durability tests.

When ``LLMFLOWS_CRASH_AT`` names a point (optionally ``name:N`` for the
N-th time it is reached), the process SIGKILLs itself there. Nothing is
done unless the variable is set, so production runs pay one dict lookup.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get("LLMFLOWS_CRASH_AT")
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
