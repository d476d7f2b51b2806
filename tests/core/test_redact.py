"""Redaction: by sensitive name, by known secret value, templates kept."""

from __future__ import annotations

import pytest

from mova_core.redact import REDACTED, Redactor, is_sensitive_name, redact


@pytest.mark.parametrize(
    "name",
    ["Authorization", "proxy-authorization", "X-Api-Key", "api_key", "apikey", "access_token", "refresh-token",
     "password", "db_passwd", "client_secret", "Cookie", "Set-Cookie", "credentials", "private_key", "x-auth-token",
     "auth", "AWS_ACCESS_KEY_ID", "session_id", "signature"],
)
def test_sensitive_names(name):
    assert is_sensitive_name(name)


@pytest.mark.parametrize("name", ["author", "url", "method", "Content-Type", "message", "override_secrets", "status"])
def test_ordinary_names(name):
    assert not is_sensitive_name(name)


def test_sensitive_keys_are_redacted_anywhere():
    doc = {
        "headers": {"Authorization": "Bearer abc.def", "Accept": "application/json"},
        "params": {"password": "hunter22", "user": "ada", "nested": [{"api_key": 12345}]},
        "secrets": {"api_key": "k", "webhook_token": "t"},
    }
    assert redact(doc) == {
        "headers": {"Authorization": REDACTED, "Accept": "application/json"},
        "params": {"password": REDACTED, "user": "ada", "nested": [{"api_key": REDACTED}]},
        "secrets": {"api_key": REDACTED, "webhook_token": REDACTED},  # keys kept, values gone
    }


def test_templates_are_kept_but_literal_credentials_beside_them_are_not():
    doc = {"Authorization": "Bearer {{ secrets.token }}", "X-Api-Key": "{{ secrets.key }}",
           "Cookie": "sid=abc123; {{ variables.x }}"}
    assert redact(doc) == {"Authorization": "Bearer {{ secrets.token }}", "X-Api-Key": "{{ secrets.key }}",
                           "Cookie": REDACTED}


def test_known_secret_values_are_redacted_wherever_they_appear():
    r = Redactor(["s3cr3t-value", "another-secret-value"])
    doc = {"error": "GET https://x/?key=s3cr3t-value failed", "body": {"echo": "another-secret-value!"},
           "list": ["ok", "s3cr3t-value"]}
    assert r(doc) == {"error": f"GET https://x/?key={REDACTED} failed", "body": {"echo": f"{REDACTED}!"},
                      "list": ["ok", REDACTED]}
    assert r.text("prefix s3cr3t-value suffix") == f"prefix {REDACTED} suffix"


def test_longer_secret_wins_and_short_values_are_left_to_name_rules():
    r = Redactor(["abcd", "abcdefgh", "xy"])
    assert r.text("abcdefgh abcd xy") == f"{REDACTED} {REDACTED} xy"


def test_numeric_secret_values_and_non_string_leaves():
    r = Redactor([987654])
    assert r({"pin_like": 987654, "n": 5, "flag": True, "none": None}) == {
        "pin_like": REDACTED, "n": 5, "flag": True, "none": None}


def test_the_input_is_not_modified():
    doc = {"password": "p4ssw0rd"}
    redact(doc)
    assert doc == {"password": "p4ssw0rd"}
