"""Routing of the console entry point between the TUI and the headless CLI."""

import pytest

from tui.entry import find_verb, wants_tui


@pytest.mark.parametrize(
    "argv, tui",
    [
        ([], True),
        (["-C", "/some/dir"], True),
        (["--model", "openai/gpt-4o", "-C", "x"], True),
        (["--autonomy", "full", "--flow", "bugfix"], True),
        (["demo"], True),
        (["demo", "--dir", "/tmp/x"], True),
        (["--dir", "/tmp/x", "demo"], True),
        (["demo", "--headless"], False),
        (["-C", "repo", "runs"], False),
        (["run", "bugfix", "goal"], False),
        (["--help"], False),
        (["-C", "demo", "show", "r1"], False),
    ],
)
def test_routing(argv, tui):
    assert wants_tui(argv) is tui


def test_find_verb_skips_option_values():
    assert find_verb(["-C", "run", "runs"]) == "runs"
    assert find_verb(["--model", "demo"]) is None
