"""`model.secret_needs`: which secrets an envelope uses and where a sandbox or production run gets each."""

from __future__ import annotations

from mova_core.model.entry import Envelope
from mova_core.model.references import secret_names
from mova_core.model.secret_needs import (
    SecretSource,
    env_variable,
    environment_secret_names,
    secret_needs,
)


def envelope(**extra) -> Envelope:
    return Envelope.model_validate({
        "intent": {"name": "w"},
        "actions": [
            {"id": "a", "type": "http_fetch", "params": {"url": "{{ variables.u }}?k={{ secrets.api_key }}",
                                                          "headers": {"X": "{{secrets.Token}}"}}},
            {"name": "b", "type": "http_fetch", "config": {"headers": {"A": "Bearer {{ secrets.API_KEY }}"}}},
            {"id": "off", "type": "print", "enabled": False, "params": {"message": "{{ secrets.unused }}"}},
        ],
        **extra,
    })


def test_secret_names_are_found_once_in_order_in_any_case():
    assert secret_names({"x": ["{{ secrets.b }}", "{{ secrets.a.field }} {{ secrets.B }}"], "y": "{{ variables.c }}"}) \
        == ["b", "a"]


def test_a_sandbox_run_gets_only_overrides():
    needs = secret_needs(envelope(secrets={"token": "inline"}), sandbox_mode=True, override_names=["TOKEN"],
                         environment_names=["api_key"])
    assert [(n.name, n.actions, n.source) for n in needs] == [
        ("api_key", ("a", "b"), None),
        ("Token", ("a",), SecretSource.override),
    ]  # the disabled action's secret is not needed
    assert [n.provided for n in needs] == [False, True]


def test_a_production_run_takes_overrides_then_environment_then_unredacted_inline_secrets():
    env = environment_secret_names({"MOVA_SECRET_API_KEY": "v", "MOVA_SECRET_": "x", "OTHER": "y"})
    assert env == ["api_key"]
    needs = secret_needs(envelope(secrets={"token": "[REDACTED]"}), sandbox_mode=False, environment_names=env)
    assert [(n.name, n.source) for n in needs] == [("api_key", SecretSource.environment), ("Token", None)]
    needs = secret_needs(envelope(secrets={"TOKEN": "inline"}), sandbox_mode=False, override_names=["api_key"],
                         environment_names=env)
    assert [n.source for n in needs] == [SecretSource.override, SecretSource.envelope]


def test_the_production_variable_name():
    assert env_variable("api_key") == "MOVA_SECRET_API_KEY"
    assert secret_needs(envelope(), sandbox_mode=True)[0].env_name == "MOVA_SECRET_API_KEY"
