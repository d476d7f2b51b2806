"""Status changes, archive and delete: lifecycle rules as HTTP statuses, audited with the caller."""

from __future__ import annotations

import json

import pytest

from .conftest import ACTIVE_ID, ARCHIVED_ID, RESOLVED_ID, STALE_ID


def _on_disk(dlq, entry_id) -> dict:
    return json.loads((dlq / f"{entry_id}.json").read_text())


def test_put_status_changes_the_file_and_answers_the_entry(client, sample_dlq, audit):
    r = client.put(f"/v1/dlq/{ACTIVE_ID[:12]}/status", json={"status": "resolved"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == ACTIVE_ID and r.json()["status"] == "resolved"
    assert _on_disk(sample_dlq, ACTIVE_ID)["status"] == "resolved"
    [rec] = audit()
    assert {k: rec[k] for k in ("op", "entry_id", "old_status", "new_status", "actor")} == {
        "op": "set_status", "entry_id": ACTIVE_ID, "old_status": "active", "new_status": "resolved",
        "actor": "anonymous"}
    assert client.get("/v1/dlq/stats").json()["by_status"]["resolved"] == 3


def test_put_same_status_is_a_noop_and_not_audited(client, audit):
    r = client.put(f"/v1/dlq/{ACTIVE_ID}/status", json={"status": "active"})
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert audit() == []


@pytest.mark.parametrize(
    ("entry_id", "status"),
    [(ACTIVE_ID, "retrying"), (ARCHIVED_ID, "resolved"), (RESOLVED_ID, "retrying")],
)
def test_forbidden_transitions_are_409(client, sample_dlq, entry_id, status):
    before = _on_disk(sample_dlq, entry_id)
    r = client.put(f"/v1/dlq/{entry_id}/status", json={"status": status})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "invalid_transition" and body["to_status"] == status and body["dlq_id"] == entry_id
    assert _on_disk(sample_dlq, entry_id) == before


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b'{"status": "bogus"}', {"content-type": "application/json"}),
        (b'{"status": 3}', {"content-type": "application/json"}),
        (b'{}', {"content-type": "application/json"}),
        (b'{"status": "archived", "extra": 1}', {"content-type": "application/json"}),
        (b'{"status": "archived", "force": true}', {"content-type": "application/json"}),
        (b'{"status": "archived"', {"content-type": "application/json"}),
        (b'["archived"]', {"content-type": "application/json"}),
        (b'', {"content-type": "application/json"}),
        (b'{"status": "archived"}', {"content-type": "text/plain"}),
        (b'{"status": "archived"}', {}),
        (b'\xff\xfe\x00', {"content-type": "application/json"}),
    ],
)
def test_put_status_bad_bodies_are_400(client, sample_dlq, audit, content, headers):
    r = client.put(f"/v1/dlq/{ACTIVE_ID}/status", content=content, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("invalid request")
    assert _on_disk(sample_dlq, ACTIVE_ID)["status"] == "active"
    assert audit() == []


def test_form_encoded_json_gets_a_hint(client):
    # What `curl -d '{"status": "archived"}'` sends without -H 'Content-Type: application/json'.
    r = client.put(f"/v1/dlq/{ACTIVE_ID}/status", content=b'{"status": "archived"}',
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "Content-Type: application/json" in r.json()["error"]


def test_put_status_of_unknown_entry_is_404(client):
    r = client.put("/v1/dlq/dlq_00000000/status", json={"status": "archived"})
    assert r.status_code == 404


def test_archive(client, sample_dlq, audit):
    r = client.post(f"/v1/dlq/{ACTIVE_ID}/archive")
    assert r.status_code == 200 and r.json()["status"] == "archived"
    assert _on_disk(sample_dlq, ACTIVE_ID)["status"] == "archived"
    # Idempotent: archiving again answers the entry and writes no second audit record.
    assert client.post(f"/v1/dlq/{ACTIVE_ID}/archive").status_code == 200
    assert [(r["op"], r["actor"]) for r in audit()] == [("archive", "anonymous")]


def test_archive_ignores_a_body(client):
    r = client.post(f"/v1/dlq/{ACTIVE_ID}/archive", json={"anything": True})
    assert r.status_code == 200


def test_archive_a_stale_retrying_entry_is_allowed(client):
    # The sample's lease expired long before the frozen clock: its retry process died.
    r = client.post(f"/v1/dlq/{STALE_ID}/archive")
    assert r.status_code == 200 and r.json()["status"] == "archived"


def test_a_live_lease_is_broken_only_with_break_lease(client, sample_dlq, audit):
    doc = _on_disk(sample_dlq, STALE_ID)
    doc["metadata"]["lease"]["expires_at"] = "2026-12-31T00:00:00Z"  # live at the frozen clock
    (sample_dlq / f"{STALE_ID}.json").write_text(json.dumps(doc))
    for r in (client.post(f"/v1/dlq/{STALE_ID}/archive"), client.delete(f"/v1/dlq/{STALE_ID}"),
              client.put(f"/v1/dlq/{STALE_ID}/status", json={"status": "active"})):
        body = r.json()
        assert r.status_code == 409 and body["code"] == "lease_held", r.text
        assert body["lease_expires_at"] == "2026-12-31T00:00:00Z" and body["retry_run_id"] == doc["metadata"]["lease"]["retry_run_id"]
        # The answer names the parameter that exists, in the form the endpoints take it.
        assert "?break_lease=true" in body["error"] and "holds it until 2026-12-31" in body["error"]
    assert _on_disk(sample_dlq, STALE_ID)["status"] == "retrying"
    r = client.post(f"/v1/dlq/{STALE_ID}/archive?force=true")  # the old name is refused, naming the new one
    assert r.status_code == 400 and "break_lease" in r.json()["error"]
    r = client.put(f"/v1/dlq/{STALE_ID}/status?break_lease=true", json={"status": "active"})
    assert r.status_code == 200 and r.json()["status"] == "active" and r.json()["metadata"].get("lease") is None
    assert [a.get("break_lease") for a in audit() if a["op"] == "set_status"] == [True]


def test_delete(client, sample_dlq, audit):
    r = client.delete(f"/v1/dlq/{RESOLVED_ID[:12]}")
    assert r.status_code == 200
    assert r.json() == {"message": "DLQ entry deleted", "dlq_id": RESOLVED_ID}
    assert not (sample_dlq / f"{RESOLVED_ID}.json").exists()
    assert client.get(f"/v1/dlq/{RESOLVED_ID}").status_code == 404
    assert client.delete(f"/v1/dlq/{RESOLVED_ID}").status_code == 404
    [rec] = audit()
    assert (rec["op"], rec["entry_id"], rec["old_status"], rec["actor"]) == ("delete", RESOLVED_ID, "resolved",
                                                                             "anonymous")


def test_delete_ambiguous_prefix_deletes_nothing(client, sample_dlq):
    before = sorted(p.name for p in sample_dlq.glob("*.json"))
    r = client.delete("/v1/dlq/dlq_")
    assert r.status_code == 409 and r.json()["code"] == "ambiguous_id"
    assert sorted(p.name for p in sample_dlq.glob("*.json")) == before


def test_body_over_the_limit_is_413_before_parsing(make_client, sample_dlq):
    client = make_client(app_options={"max_body_bytes": 1000})
    big = {"status": "archived", "pad": "x" * 2000}
    r = client.put(f"/v1/dlq/{ACTIVE_ID}/status", json=big)
    assert r.status_code == 413
    assert r.json()["code"] == "content_too_large" and r.json()["limit"] == 1000
    assert _on_disk(sample_dlq, ACTIVE_ID)["status"] == "active"


def test_streamed_body_over_the_limit_is_413(make_client):
    client = make_client(app_options={"max_body_bytes": 1000})

    def chunks():  # no Content-Length: the limit counts what arrives
        for _ in range(10):
            yield b"x" * 200

    r = client.post(f"/v1/dlq/{ACTIVE_ID}/archive", content=chunks())
    assert r.status_code == 413


def test_default_limit_is_one_mebibyte(client):
    r = client.post(f"/v1/dlq/{ACTIVE_ID}/retry", content=b"{" + b" " * (1024 * 1024) + b"}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = client.put(f"/v1/dlq/{ACTIVE_ID}/status", content=b'{"status": "archived"}' + b" " * (1024 * 1000),
                   headers={"content-type": "application/json"})
    assert r.status_code == 200


def test_if_match_makes_a_change_only_on_the_version_read(client, sample_dlq, audit):
    read = client.get(f"/v1/dlq/{ACTIVE_ID}")
    tag = read.headers["etag"]
    assert tag.startswith('"') and client.get(f"/v1/dlq/{ACTIVE_ID[:12]}").headers["etag"] == tag  # stable
    # Someone else changes the entry meanwhile: the first writer's change is refused, nothing changed.
    assert client.post(f"/v1/dlq/{ACTIVE_ID}/archive").status_code == 200
    before = (sample_dlq / f"{ACTIVE_ID}.json").read_bytes()
    for r in (client.put(f"/v1/dlq/{ACTIVE_ID}/status", json={"status": "resolved"}, headers={"If-Match": tag}),
              client.delete(f"/v1/dlq/{ACTIVE_ID}", headers={"If-Match": tag})):
        body = r.json()
        assert r.status_code == 412 and body["code"] == "precondition_failed", r.text
        assert body["etag"] != tag and "nothing was changed" in body["error"]
    assert (sample_dlq / f"{ACTIVE_ID}.json").read_bytes() == before
    # With the current tag (a list or * too) it is made, and the answer carries the new tag.
    current = client.get(f"/v1/dlq/{ACTIVE_ID}").headers["etag"]
    r = client.put(f"/v1/dlq/{ACTIVE_ID}/status", json={"status": "active"}, headers={"If-Match": f'"x", {current}'})
    assert r.status_code == 200 and r.json()["status"] == "active" and r.headers["etag"] not in (tag, current)
    assert r.headers["etag"] == client.get(f"/v1/dlq/{ACTIVE_ID}").headers["etag"]
    assert client.delete(f"/v1/dlq/{ACTIVE_ID}", headers={"If-Match": "*"}).status_code == 200
    assert [a["op"] for a in audit()][-3:] == ["archive", "set_status", "delete"]  # no record of a refused change


def test_if_match_is_documented_with_its_412(client):
    document = client.get("/openapi.json").json()
    for path, method in (("/v1/dlq/{dlq_id}/status", "put"), ("/v1/dlq/{dlq_id}/archive", "post"),
                         ("/v1/dlq/{dlq_id}", "delete")):
        operation = document["paths"][path][method]
        assert "412" in operation["responses"]
        assert any(p["name"] == "If-Match" and p["in"] == "header" for p in operation["parameters"])
