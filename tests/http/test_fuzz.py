"""Property-based fuzz of the whole API: whatever the method, path, query, headers or body, no 500,
and every error is the JSON error shape."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import ACTIVE_ID, GO_ID, STALE_ID

IDS = st.one_of(
    st.sampled_from([ACTIVE_ID, GO_ID, STALE_ID, "dlq_", "dlq_1", "5c91", "stats", "groups", "..", ".", "~",
                     "dlq_00000000"]),
    st.text(min_size=1, max_size=40),
    st.text(alphabet="./\\%:_-abcdefd0123456789\x00\n", min_size=1, max_size=20),
)
PATHS = st.one_of(
    st.sampled_from(["/v1/dlq", "/v1/dlq/stats", "/v1/dlq/groups", "/healthz", "/metrics", "/", "/v1", "/v1/dlq/"]),
    st.builds(lambda i, suffix: f"/v1/dlq/{quote(i, safe='')}{suffix}", IDS,
              st.sampled_from(["", "/status", "/archive", "/retry", "/", "/x"])),
)
TIMES = st.one_of(st.text(max_size=30), st.sampled_from(
    ["2026-11-17T14:21:33Z", "2026-11-17T14:21:33.123456789+02:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
     "2026-02-30T00:00:00Z", "2026-11-17T24:00:00Z", "2026-11-17T14:21:33+99:99", "2026-11-17"]))
QUERY_VALUES = {
    "status": st.one_of(st.sampled_from(["active", "retrying", "resolved", "archived", "ACTIVE", ""]), st.text(max_size=10)),
    "workflow_type": st.text(max_size=20),
    "user_id": st.text(max_size=20),
    "since": TIMES,
    "until": TIMES,
    "limit": st.one_of(st.integers(-5, 10**30).map(str), st.text(max_size=8)),
    "wait": st.sampled_from(["false", "true", "0", "maybe", ""]),
    "break_lease": st.sampled_from(["false", "1", "yes", "x"]),
    "junk": st.text(max_size=10),
}
QUERIES = st.dictionaries(st.sampled_from(sorted(QUERY_VALUES)), st.just(None), max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: QUERY_VALUES[k] for k in keys}))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
BODY_DICTS = st.fixed_dictionaries({}, optional={
    "status": st.one_of(st.sampled_from(["active", "archived", "resolved", "retrying"]), JSON_VALUES),
    "break_lease": st.one_of(st.booleans(), JSON_VALUES),
    # Retries run workflows: keep them to bodies that fail validation or cannot reach a network.
    "sandbox_mode": st.one_of(st.just("false"), st.integers(), st.none()),
    "overrides": JSON_VALUES,
    "wait": JSON_VALUES,
})
BODIES = st.one_of(
    st.none(),
    st.builds(lambda d: (json.dumps(d).encode(), "application/json"), st.one_of(BODY_DICTS, JSON_VALUES)),
    st.tuples(st.binary(max_size=64), st.sampled_from(["application/json", "text/plain", "", "application/x-www-form-urlencoded"])),
)
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])


@pytest.fixture
def fuzz_client(make_client, monkeypatch):
    # A retry that passes validation would run a workflow; the fuzz is about the HTTP surface, so a
    # valid retry request answers from a stub (the real engine has its own tests, and test_retry.py).
    from mova_core.model.entry import ExecutionResult, RetryResponse
    from mova_core.ops.service import DLQService

    def fake_retry(self, id_or_prefix, *, sandbox_mode=True, overrides=None, wait=True, on_event=None, cancel=None):
        entry = self.get(id_or_prefix)
        return RetryResponse(dlq_id=entry.id, retry_run_id="retry_x_1", sandbox_mode=sandbox_mode,
                             execution_result=ExecutionResult(run_id="retry_x_1", status="failed") if wait else None)

    monkeypatch.setattr(DLQService, "retry", fake_retry)
    return make_client()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=METHODS, path=PATHS, query=QUERIES, body=BODIES)
def test_no_input_gives_a_500(fuzz_client, method, path, query, body):
    content, ctype = body if body is not None else (None, None)
    headers = {"content-type": ctype} if ctype else {}
    r = fuzz_client.request(method, path, params=query, content=content, headers=headers, follow_redirects=False)
    assert r.status_code < 500, (method, path, query, body, r.text)
    if r.status_code >= 400 and method != "HEAD":
        error = r.json()
        assert isinstance(error["error"], str) and error["error"] and isinstance(error["code"], str)


# -- what the fuzz and schemathesis found: methods, repeated and odd query parameters -----------------


@pytest.mark.parametrize("path, allowed", [
    (f"/v1/dlq/{ACTIVE_ID}", "DELETE, GET, OPTIONS"),
    (f"/v1/dlq/{ACTIVE_ID}/retry", "OPTIONS, POST"),
    (f"/v1/dlq/{ACTIVE_ID}/status", "OPTIONS, PUT"),
    ("/v1/dlq/stats", "GET, OPTIONS"),
    ("/v1/dlq", "GET, OPTIONS"),
    ("/healthz", "GET, OPTIONS"),
])
def test_options_and_wrong_methods_name_every_method_of_the_path(client, path, allowed):
    options = client.options(path)
    assert options.status_code == 204 and options.headers["allow"] == allowed and options.content == b""
    wrong = next(m for m in ("PATCH", "PUT", "POST") if m not in allowed)
    answer = client.request(wrong, path)
    assert answer.status_code == 405 and answer.headers["allow"] == allowed
    assert answer.json()["code"] == "method_not_allowed"


def test_options_on_an_unknown_path_is_404(client):
    assert client.options("/v1/nothing").status_code == 404


def test_delete_on_stats_is_a_wrong_method_not_a_missing_entry(client):
    for path in ("/v1/dlq/stats", "/v1/dlq/groups"):
        answer = client.delete(path)
        assert answer.status_code == 405 and answer.headers["allow"] == "GET, OPTIONS", answer.text


@pytest.mark.parametrize("query, message", [
    ("limit=0.0", "query parameter 'limit' must be a whole number written in digits"),
    ("limit=1e3", "must be a whole number"),
    ("limit=", "must be a whole number"),
    ("limit=%D9%A3", "must be a whole number"),  # an Arabic-Indic three: a digit to Python, not to HTTP
    ("limit=1&limit=2", "query parameter 'limit' given more than once"),
    ("status=active&status=archived", "query parameter 'status' given more than once"),
    ("since=2026-01-01T00:00:00Z&since=2027-01-01T00:00:00Z", "'since' given more than once"),
    ("staus=archived", "unknown query parameter 'staus' (this endpoint takes: limit, since, status, until, "),
])
def test_odd_query_parameters_are_refused(client, query, message):
    answer = client.get(f"/v1/dlq?{query}")
    assert answer.status_code == 400 and message in answer.json()["error"], answer.text


def test_repeated_parameters_are_refused_on_changes_too(client, sample_dlq):
    before = (sample_dlq / f"{ACTIVE_ID}.json").read_bytes()
    answer = client.post(f"/v1/dlq/{ACTIVE_ID}/archive?break_lease=false&break_lease=true")
    assert answer.status_code == 400 and "'break_lease' given more than once" in answer.json()["error"]
    assert (sample_dlq / f"{ACTIVE_ID}.json").read_bytes() == before
    assert client.get("/v1/dlq?limit=2").json()["count"] == 2
