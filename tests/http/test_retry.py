"""`POST /v1/dlq/{id}/retry`: the specification's response, 202 in the background, the 409s, and secrets
that never come back in an answer nor land in any file."""

from __future__ import annotations

import json
import time

import pytest

from .conftest import (
    ACTIVE_ID,
    ADMIN_TOKEN,
    ARCHIVED_ID,
    RESOLVED_ID,
    STALE_ID,
    files_containing,
)

GROUP_ENTRY = "dlq_8b14e6d2-0c7f-4a93-9e51-2d6b8f03a7c4"  # fetches {{ variables.api_url }}/data with secrets.api_key
SPEC_KEYS = {"message", "dlq_id", "retry_run_id", "sandbox_mode", "execution_result"}
RESULT_KEYS = {"run_id", "status", "start_time", "end_time"}


def _body(upstream, secret=None, **fields):
    return {"overrides": {"variables": {"api_url": upstream.url},
                          "secrets": {"api_key": secret or upstream.secret}}, **fields}


def _status(client, entry_id):
    return client.get(f"/v1/dlq/{entry_id}").json()["status"]


def test_sandbox_retry_answers_the_specs_response(client, upstream, sample_dlq, audit):
    r = client.post(f"/v1/dlq/{GROUP_ENTRY[:12]}/retry", json=_body(upstream, sandbox_mode=True))
    assert r.status_code == 200, r.text
    body = r.json()
    assert SPEC_KEYS <= set(body)
    assert body["message"] == "DLQ entry retry initiated"
    assert body["dlq_id"] == GROUP_ENTRY and body["sandbox_mode"] is True
    assert body["retry_run_id"].startswith("retry_run_")
    result = body["execution_result"]
    assert RESULT_KEYS <= set(result)
    assert result["run_id"] == body["retry_run_id"] and result["status"] == "completed"
    assert upstream.seen_authorization == [f"Bearer {upstream.secret}"]  # the override secret was used
    entry = client.get(f"/v1/dlq/{GROUP_ENTRY}").json()
    assert entry["status"] == "active"  # a sandbox retry never resolves
    [record] = entry["retry_history"]
    assert record["override_secrets"] == ["api_key"] and record["override_variables"] == ["api_url"]
    assert record["actor"] == "anonymous"
    assert [(a["op"], a["actor"]) for a in audit()] == [("retry_claim", "anonymous"), ("retry_finish", "anonymous")]
    assert upstream.secret not in r.text
    assert files_containing(sample_dlq.parent, upstream.secret) == []


def test_empty_body_is_a_sandbox_retry(client, sample_dlq):
    r = client.post(f"/v1/dlq/{ACTIVE_ID}/retry")  # without its secret it cannot pass
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sandbox_mode"] is True and body["execution_result"]["status"] == "failed"
    entry = client.get(f"/v1/dlq/{ACTIVE_ID}").json()
    assert entry["status"] == "active" and entry["retry_history"][-1]["sandbox_mode"] is True


def test_production_retry_resolves_and_is_audited_as_admin(make_client, upstream, audit):
    client = make_client(api_token=ADMIN_TOKEN)
    r = client.post(f"/v1/dlq/{GROUP_ENTRY}/retry", json=_body(upstream, sandbox_mode=False),
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.json()["sandbox_mode"] is False and r.json()["execution_result"]["status"] == "completed"
    assert _status_with(client, GROUP_ENTRY) == "resolved"
    assert {a["actor"] for a in audit()} == {"admin"}


def _status_with(client, entry_id):
    return client.get(f"/v1/dlq/{entry_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()["status"]


def test_secret_echoed_by_the_upstream_is_redacted(client, upstream, sample_dlq):
    wrong = "wrong-secret-value-7777"
    r = client.post(f"/v1/dlq/{GROUP_ENTRY}/retry", json=_body(upstream, secret=wrong))
    assert r.status_code == 200
    assert r.json()["execution_result"]["status"] == "failed"
    assert upstream.seen_authorization == [f"Bearer {wrong}"]
    assert wrong not in r.text
    assert wrong not in client.get(f"/v1/dlq/{GROUP_ENTRY}").text
    assert files_containing(sample_dlq.parent, wrong) == []


def test_wait_false_answers_202_and_finishes_in_the_background(client, upstream, sample_dlq):
    r = client.post(f"/v1/dlq/{GROUP_ENTRY}/retry?wait=false", json=_body(upstream))
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == SPEC_KEYS - {"execution_result"}
    assert body["dlq_id"] == GROUP_ENTRY and body["sandbox_mode"] is True
    _wait_until_released(client, GROUP_ENTRY)
    entry = client.get(f"/v1/dlq/{GROUP_ENTRY}").json()
    assert entry["retry_history"][-1]["outcome"] == "completed"
    assert files_containing(sample_dlq.parent, upstream.secret) == []


def test_wait_false_in_the_body(client, upstream):
    r = client.post(f"/v1/dlq/{GROUP_ENTRY}/retry", json=_body(upstream, wait=False))
    assert r.status_code == 202 and "execution_result" not in r.json()
    _wait_until_released(client, GROUP_ENTRY)


def _wait_until_released(client, entry_id, timeout=20.0):
    deadline = time.monotonic() + timeout
    while _status(client, entry_id) == "retrying":
        assert time.monotonic() < deadline, "background retry did not finish"
        time.sleep(0.05)


def test_live_retry_is_409(client, sample_dlq):
    doc = json.loads((sample_dlq / f"{STALE_ID}.json").read_text())
    doc["metadata"]["lease"]["expires_at"] = "2026-12-31T00:00:00Z"  # live at the frozen clock
    (sample_dlq / f"{STALE_ID}.json").write_text(json.dumps(doc))
    r = client.post(f"/v1/dlq/{STALE_ID}/retry")
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "already_retrying" and body["lease_owner"] == "pid 4242@ops-2"


def test_resolved_entry_is_409(client):
    r = client.post(f"/v1/dlq/{RESOLVED_ID}/retry")
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"


def test_entry_whose_envelope_cannot_pass_is_400(client):
    # The sample's archived entry has a parse_json action without its source: refused before any claim.
    r = client.post(f"/v1/dlq/{ARCHIVED_ID}/retry")
    assert r.status_code == 400 and r.json()["code"] == "policy_error"


def test_unknown_and_ambiguous(client):
    assert client.post("/v1/dlq/dlq_00000000/retry").status_code == 404
    assert client.post("/v1/dlq/dlq_/retry").status_code == 409


SECRET = "do-not-echo-this-secret-31337"


@pytest.mark.parametrize(
    "body",
    [
        {"sandbox_mode": "false"},
        {"sandbox_mode": 0},
        {"sandbox_mode": None},
        {"wait": "no"},
        {"sandbox": False},
        {"overrides": {"variables": {}, "secret": {"api_key": SECRET}}},
        {"overrides": {"secrets": [SECRET]}},
        {"overrides": {"secrets": SECRET}},
        {"overrides": {"variables": [SECRET]}},
        {"overrides": SECRET},
        [SECRET],
        SECRET,
    ],
)
def test_bad_retry_bodies_are_400_and_echo_nothing(client, sample_dlq, audit, body):
    before = (sample_dlq / f"{ACTIVE_ID}.json").read_bytes()
    r = client.post(f"/v1/dlq/{ACTIVE_ID}/retry", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_request"
    assert SECRET not in r.text
    assert (sample_dlq / f"{ACTIVE_ID}.json").read_bytes() == before
    assert audit() == []


def test_malformed_json_with_a_secret_is_not_echoed(client):
    raw = b'{"overrides": {"secrets": {"api_key": "' + SECRET.encode() + b'"}'
    r = client.post(f"/v1/dlq/{ACTIVE_ID}/retry", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and SECRET not in r.text


def test_invalid_envelope_is_refused_before_the_claim(client, sample_dlq):
    doc = json.loads((sample_dlq / f"{ACTIVE_ID}.json").read_text())
    doc["envelope"]["actions"][0]["type"] = "no_such_action"
    (sample_dlq / f"{ACTIVE_ID}.json").write_text(json.dumps(doc))
    r = client.post(f"/v1/dlq/{ACTIVE_ID}/retry")
    assert r.status_code == 400 and r.json()["code"] == "policy_error"
    assert _status(client, ACTIVE_ID) == "active"
