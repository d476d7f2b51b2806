"""Templates: roots, nested paths, types kept for whole-string templates, clear unknown references."""

from __future__ import annotations

import pytest

from mova_core.engine.templates import TemplateError, check_references, render
from mova_core.model.references import has_template, references

SCOPE = {
    "variables": {"api_url": "https://api.example.com", "timeout": 60, "flags": {"dry": True}, "ids": [10, 20]},
    "secrets": {"api_key": "k-123456"},
    "payload": {"customer": {"id": "c_9", "tags": ["a", "b"]}},
    "results": {"fetch": {"status": 200, "body": {"items": [{"id": "it_1"}, {"id": "it_2"}]}}},
}


@pytest.mark.parametrize(
    "template, value",
    [
        ("{{ variables.api_url }}", "https://api.example.com"),
        ("{{variables.timeout}}", 60),
        ("  {{ variables.flags }} ", {"dry": True}),
        ("{{ secrets.api_key }}", "k-123456"),
        ("{{ payload.customer.id }}", "c_9"),
        ("{{ payload.customer.tags.1 }}", "b"),
        ("{{ results.fetch.status }}", 200),
        ("{{ results.fetch.body.items[1].id }}", "it_2"),
        ("{{ results.fetch.body.items.0.id }}", "it_1"),
        ("{{ variables.ids.-1 }}", 20),
    ],
)
def test_whole_string_templates_keep_the_type(template, value):
    assert render(template, SCOPE) == value


def test_templates_inside_text_become_text():
    assert render("{{ variables.api_url }}/data?t={{ variables.timeout }}", SCOPE) == "https://api.example.com/data?t=60"
    assert render("flags={{ variables.flags }} ok={{ variables.flags.dry }}", SCOPE) == 'flags={"dry": true} ok=true'


def test_render_walks_nested_structures_and_leaves_others_alone():
    params = {"url": "{{ variables.api_url }}", "headers": {"X-Key": "{{ secrets.api_key }}"},
              "list": ["{{ variables.timeout }}", 3, None], "plain": "no templates", "n": 1.5}
    assert render(params, SCOPE) == {
        "url": "https://api.example.com", "headers": {"X-Key": "k-123456"},
        "list": [60, 3, None], "plain": "no templates", "n": 1.5,
    }
    assert params["url"] == "{{ variables.api_url }}"  # the original is not modified


@pytest.mark.parametrize(
    "template, message",
    [
        ("{{ variables.missing }}", "unknown reference {{ variables.missing }}: variables has no 'missing' (known: api_url, flags, ids, timeout)"),
        ("{{ secrets.token }}", "give it as an override secret (or, in production, MOVA_SECRET_TOKEN)"),
        ("{{ results.later.status }}", "results are only available from actions that ran before this one"),
        ("{{ payload.customer.id.x }}", "payload.customer.id is a str, not an object"),
        ("{{ variables.ids.5 }}", "variables.ids is a list of 2 items"),
        ("{{ variables.ids.--1 }}", "variables.ids is a list of 2 items"),
        ("{{ env.HOME }}", "unknown template root 'env'"),
        ("{{ variables..x }}", "malformed template"),
    ],
)
def test_unknown_references_are_clear(template, message):
    with pytest.raises(TemplateError) as info:
        render(template, SCOPE)
    assert message in str(info.value)


def test_secret_names_match_case_insensitively():
    assert render("{{ secrets.API_KEY }}", SCOPE) == "k-123456"


def test_static_helpers():
    params = {"a": "{{ variables.x }} and {{ payload.y }}", "b": ["{{ foo.bar }}"]}
    assert references(params) == ["variables.x", "payload.y", "foo.bar"]
    assert has_template("x {{ y }}") and not has_template("x { y }") and not has_template(3)
    assert check_references(params, "actions[0].params") == [
        "actions[0].params: unknown template root 'foo' in {{ foo.bar }}; use one of variables, secrets, payload, results"
    ]


def _nested(levels: int):
    value: object = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def test_deep_params_with_a_deep_value_inside_are_refused_not_left_unstorable():
    # Each is within the limit; rendered together they would nest 300 levels, which no record could hold.
    scope = {**SCOPE, "variables": {"deep": _nested(150)}}
    params = _nested(149)
    leaf = params
    for _ in range(148):
        leaf = leaf["a"]
    leaf["a"] = "{{ variables.deep }}"
    with pytest.raises(TemplateError, match="the rendered params: nested too deeply"):
        render(params, scope)
    assert render({"body": "{{ variables.deep }}"}, scope)["body"] == _nested(150)
