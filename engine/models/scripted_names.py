"""The ``scripted:PATH`` model string, apart from the script format (:mod:`.scripted`),
so resolving a model's settings on the start screen's path loads no more than this."""

from __future__ import annotations

#: Prefix of the user-facing model string: ``scripted:PATH``.
SCRIPTED_PREFIX = "scripted:"


def is_scripted(model: str) -> bool:
    """True for ``scripted:PATH`` model strings."""
    return model.startswith(SCRIPTED_PREFIX)


def scripted_path(model: str) -> str:
    """The PATH of a ``scripted:PATH`` model string."""
    return model[len(SCRIPTED_PREFIX) :]
