from __future__ import annotations

import pytest

from service.evals.graders.templates import TemplateError, references, render, resolve

CONTEXT = {
    "item": {"question": "2+2?", "meta": {"lang": "en"}, "tags": ["a", "b"], "n": 4},
    "sample": {
        "output_text": "4",
        "output_json": {"email": "x@y.z"},
        "output_tools": [{"function": {"name": "add", "arguments": '{"a":2}'}}],
    },
}


def test_renders_with_and_without_inner_spaces() -> None:
    assert render("Q: {{item.question}} A: {{ sample.output_text }}", CONTEXT) == "Q: 2+2? A: 4"


def test_nested_keys_and_indexes() -> None:
    assert render("{{item.meta.lang}}/{{item.tags[1]}}", CONTEXT) == "en/b"
    assert render("{{sample.output_tools[0].function.name}}", CONTEXT) == "add"
    assert render("{{sample.output_json.email}}", CONTEXT) == "x@y.z"


def test_non_strings_render_as_compact_json() -> None:
    assert render("{{item.meta}} {{item.n}}", CONTEXT) == '{"lang":"en"} 4'


def test_a_lone_reference_resolves_to_the_value_itself() -> None:
    assert resolve("{{ item.meta }}", CONTEXT) == {"lang": "en"}
    assert resolve("x {{item.meta}}", CONTEXT) == 'x {"lang":"en"}'


def test_a_path_that_names_nothing_raises() -> None:
    with pytest.raises(TemplateError, match=r"item\.missing"):
        render("{{item.missing}}", CONTEXT)
    with pytest.raises(TemplateError):
        render("{{item.tags[5]}}", CONTEXT)


def test_only_item_and_sample_namespaces() -> None:
    with pytest.raises(TemplateError, match="may only use item and sample"):
        references("{{ other.x }}")
    with pytest.raises(TemplateError, match="not a template path"):
        references("{{ item.x + 1 }}")
    assert [r.steps for r in references("{{item.a[0].b}}")] == [("a", 0, "b")]
