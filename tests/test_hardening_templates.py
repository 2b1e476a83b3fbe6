"""Flow templates render with limits: a hostile template fails with a clear error, never hangs."""

from __future__ import annotations

import pytest

from engine.flow import templates
from engine.flow.templates import RenderLimitError


# The timeout only turns a hang (no limits) into a failure.
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "iterations",
        ),
        (
            "{% for x in range(100000) recursive %}{% if loop.depth < 3 %}"
            "{{ loop(range(100000)) }}{% endif %}{% endfor %}",
            "iterations",
        ),
        ("{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}", "rendered more than"),
        ("{{ 'x' * 1000000000 }}", "would build a value"),
        ("{{ 10 ** 1000000000 }}", "would build a value"),
    ],
)
def test_hostile_templates_stop_at_a_limit(source: str, message: str) -> None:
    with pytest.raises(RenderLimitError, match=message):
        templates.render(source, {})


def test_ordinary_templates_still_render() -> None:
    src = (
        "{% for t in plan %}{{ loop.index }}. {{ t.title }}{% if not loop.last %}, {% endif %}"
        "{% endfor %} | {{ 2 ** 10 }} {{ '-' * 3 }} {{ range(3) | list | join(',') }};"
        "{% for x in [[1, [2]], [3]] recursive %}{{ x if x is number else loop(x) }}{% endfor %}"
    )
    out = templates.render(src, {"plan": [{"title": "a"}, {"title": "b"}]})
    assert out == "1. a, 2. b | 1024 --- 0,1,2;123"


def test_a_template_over_the_limit_fails_the_step_with_a_clear_message(tmp_path) -> None:
    from engine.flow.spec import FlowRuntimeError, load_flow

    flow = tmp_path / "f.yaml"
    flow.write_text(
        "name: f\ndescription: d\nnodes:\n  - id: p\n    kind: run\n    command: "
        '"{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}"\n'
    )
    spec = load_flow(flow)
    with pytest.raises(FlowRuntimeError, match="template failed: .*iterations"):
        spec.render(spec.nodes["p"].command, {})
