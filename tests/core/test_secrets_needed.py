"""Which secrets an envelope references and what provides them: names only, the engine's order and case rule."""

from __future__ import annotations

import json

from mova_core.engine.context import RunContext, secrets_from_env
from mova_core.model.entry import DeadLetterEntry, Envelope
from mova_core.model.secrets_needed import env_name, missing, referenced_secrets, secrets_needed
from mova_core.settings import Settings
from tests.support import SAMPLE_DLQ


def envelope(**extra) -> Envelope:
    return Envelope.model_validate({
        "intent": {"name": "t"},
        "actions": [
            {"id": "a", "type": "http_fetch", "params": {
                "url": "{{ variables.base }}/x", "headers": {"Authorization": "Bearer {{ secrets.api_key }}"}}},
            {"name": "b", "type": "http_fetch", "config": {"headers": ["{{secrets.Files_Token}}", "{{ secrets.api_key }}"]}},
            {"id": "off", "type": "print", "enabled": False, "params": {"message": "{{ secrets.never_used }}"}},
            {"id": "c", "type": "print", "params": {"message": "{{ secrets.nested.part }} {{ payload.secrets }}"}},
        ],
        **extra,
    })


def test_referenced_secrets_in_order_once_from_enabled_actions_of_both_dialects():
    assert referenced_secrets(envelope()) == ["api_key", "Files_Token", "nested"]


def test_sources_by_mode_and_case_never_reading_a_value():
    class NamesOnly(dict):
        def __getitem__(self, key):  # pragma: no cover - the point is that it is never called
            raise AssertionError("a secret's value was read")

    environ = NamesOnly({"MOVA_SECRET_FILES_TOKEN": "x", "MOVA_SECRET_": "x", "PATH": "/bin"})
    env = envelope(secrets={"nested": "inline-value", "api_key": "[REDACTED]"})
    needs = {n.name: n for n in secrets_needed(env, overrides=["API_KEY"], environ=environ)}
    assert needs["api_key"].source(True) == needs["api_key"].source(False) == "override"
    assert needs["Files_Token"].source(True) is None
    assert needs["Files_Token"].source(False) == "MOVA_SECRET_FILES_TOKEN" == env_name("files_token")
    assert needs["nested"].source(True) is None and needs["nested"].source(False) == "envelope"
    assert missing(needs.values(), sandbox_mode=True) == ["Files_Token", "nested"]
    assert missing(needs.values(), sandbox_mode=False) == []
    # A redacted inline value provides nothing.
    assert not secrets_needed(envelope(secrets={"api_key": "[REDACTED]"}))[0].provided(False)


def test_agrees_with_the_production_context_the_engine_builds():
    environ = {"MOVA_SECRET_FILES_TOKEN": "t0ken-value"}
    env = envelope(secrets={"nested": "inline-value"})
    context = RunContext.production(Settings(), inline_secrets=env.secrets, override_secrets={"api_key": "k3y-value"},
                                    env_secrets=secrets_from_env(environ))
    known = {k.lower() for k in context.secrets}
    for need in secrets_needed(env, overrides=["api_key"], environ=environ):
        assert need.provided(sandbox_mode=False) == (need.name.lower() in known)
    sandbox = RunContext.sandbox(Settings(), override_secrets={"api_key": "k3y-value"})
    for need in secrets_needed(env, overrides=["api_key"], environ=environ):
        assert need.provided(sandbox_mode=True) == (need.name.lower() in {k.lower() for k in sandbox.secrets})


def test_a_sample_entry_needs_its_api_key():
    entry = DeadLetterEntry.model_validate(
        json.loads((SAMPLE_DLQ / "dlq_2c8e74f1-d05a-4b9e-8f32-a7b1c4e609d5.json").read_text()))
    assert referenced_secrets(entry.envelope) == ["api_key", "files_token"]
