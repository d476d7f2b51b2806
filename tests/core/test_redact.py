"""Redaction: by sensitive name, by known secret value in every encoded form, nested secrets by
their leaves, templates kept."""

from __future__ import annotations

import pytest

from mova_core.model.redact import REDACTED, Redactor, is_sensitive_name, redact
from tests.secret_forms import HOSTILE_SECRETS, encoded_forms


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


@pytest.mark.parametrize("secret", HOSTILE_SECRETS)
def test_every_encoded_form_of_a_secret_is_redacted(secret):
    r = Redactor([secret])
    for form in encoded_forms(secret):
        assert r.text(f"<{form}>") == f"<{REDACTED}>", form
        assert r({"url": f"http://h/?k={form}&n=1"}) == {"url": f"http://h/?k={REDACTED}&n=1"}, form


def test_encoded_forms_mixed_in_one_text_and_other_text_left_alone():
    r = Redactor(["pä ss{wörd}|x"])
    text = "GET /p%C3%A4%20ss%7Bw%C3%B6rd%7D|x?q=p%c3%a4+ss%7bw%c3%b6rd%7d%7cx body {\"k\": \"p\\u00e4 ss{w\\u00f6rd}|x\"}"
    assert r.text(text) == f"GET /{REDACTED}?q={REDACTED} body {{\"k\": \"{REDACTED}\"}}"
    assert r.text("pä ss{wörd} p%C3%A4 100% + \\u00e4") == "pä ss{wörd} p%C3%A4 100% + \\u00e4"


def test_a_literal_percent_in_a_secret_is_matched_as_written_and_encoded():
    r = Redactor(["ab%25cd", "100%pure"])
    assert r.text("ab%25cd ab%2525cd 100%pure 100%25pure") == " ".join([REDACTED] * 4)


def test_nested_secret_values_are_redacted_by_their_leaves():
    r = Redactor([{"nested": {"deep": ["n3sted-secret", 987654, True, None, "ab"]}}, ["list-secret-1"]])
    doc = {"echo": "got n3sted-secret and list-secret-1", "n": 987654, "flag": True, "short": "ab",
           "body": '{"nested": {"deep": ["n3sted-secret"]}}'}
    assert r(doc) == {"echo": f"got {REDACTED} and {REDACTED}", "n": REDACTED, "flag": True, "short": "ab",
                      "body": f'{{"nested": {{"deep": ["{REDACTED}"]}}}}'}


def test_boolean_secrets_redact_nothing():
    r = Redactor([True, False])
    assert r.text("True False true") == "True False true"


def test_a_secret_nested_deeper_than_the_stack_is_still_flattened():
    secret: object = "very-deep-secret"
    for _ in range(5000):
        secret = [secret]
    assert Redactor([secret]).text("a very-deep-secret") == f"a {REDACTED}"


def test_clip_redacts_before_it_cuts():
    r = Redactor(["pä ss{wörd}|x"])
    text = "x" * 10 + "p%C3%A4%20ss%7Bw%C3%B6rd%7D%7Cx" + "y" * 10
    for limit in range(10, 40):
        clipped = r.clip(text, limit)
        assert len(clipped) <= limit and "%C3%A4" not in clipped and "p%C3" not in clipped


def test_hostile_secrets_cannot_make_the_pattern_backtrack_for_long():
    import time

    r = Redactor(["\\" * 12 + "x", "\\\n" * 8 + "y", "%" * 20 + "z", "\"" * 10 + "w"])
    started = time.perf_counter()
    for text in ("\\" * 20_000, "\\\\n" * 5_000, "%25" * 10_000, "%" * 20_000, "\\\"" * 10_000):
        r.text(text)
    assert time.perf_counter() - started < 2


# -- the fast walk against the plain one ------------------------------------------------------------

from collections import OrderedDict  # noqa: E402
from collections.abc import Mapping  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st

from mova_core.model.redact import _keeps_template_only  # noqa: E402


class _Reference(Redactor):
    """The straightforward recursive walk the redactor had before its JSON fast path (kept as the oracle)."""

    def __call__(self, value):
        return self._ref(value, False)

    def _ref(self, value, sensitive):
        if isinstance(value, Mapping):
            return {k: self._ref(v, sensitive or is_sensitive_name(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._ref(v, sensitive) for v in value]
        if sensitive:
            if value is None or isinstance(value, bool) or value == "" or value == REDACTED:
                return value
            if _keeps_template_only(value):
                return value
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and self._values:
            return REDACTED if str(value) in self._values else value
        return value


class _Str(str):
    pass


SECRETS = ["s3cr3t-value", "987654", "abcd", "1.5e-07"]
_keys = st.sampled_from(["url", "Authorization", "api_key", "token", "note", "secrets", "override_secrets",
                         "message", "X-Auth", "auth", "user", "", "password_hash"]) | st.text(max_size=8)
_texts = st.sampled_from(["", REDACTED, "Bearer {{ secrets.token }}", "{{ secrets.k }}", "sid=1; {{ x }}",
                          "GET /?key=s3cr3t-value", "abcd", "987654", "plain"]) | st.text(max_size=12)
_leaves = (st.none() | st.booleans() | st.integers() | st.sampled_from([987654, 1.5e-07, 2.5, -0.0])
           | st.floats(allow_nan=False) | _texts | _texts.map(_Str))
_docs = st.recursive(
    _leaves,
    lambda inner: (st.lists(inner, max_size=4) | st.lists(inner, max_size=3).map(tuple)
                   | st.dictionaries(_keys | st.integers(), inner, max_size=4)
                   | st.dictionaries(_keys, inner, max_size=3).map(OrderedDict)),
    max_leaves=30,
)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(doc=_docs, known=st.sampled_from([[], SECRETS]))
def test_the_fast_walk_redacts_exactly_like_the_plain_one(doc, known):
    expected = _Reference(known)(doc)
    got = Redactor(known)(doc)
    assert got == expected and repr(got) == repr(expected)
    assert redact({"password": doc}, known) == _Reference(known)({"password": doc})
