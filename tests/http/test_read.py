"""The read endpoints: shapes and filters exactly as the specification's "API Endpoints" section."""

from __future__ import annotations

import pytest

from mova_core.timeutil import parse_time

from .conftest import ACTIVE_ID, GO_ID, GROUP_IDS, STALE_ID, sample_docs

DOCS = sample_docs()
SPEC_ENTRY_KEYS = {"id", "run_id", "status", "created_at", "envelope", "error_details", "metadata"}


def _type(doc: dict) -> str:
    return doc.get("metadata", {}).get("workflow_type") or doc["envelope"]["intent"]["name"]


def _ids(body: dict) -> list[str]:
    return [e["id"] for e in body["entries"]]


def test_list_shape_is_the_specs(client):
    r = client.get("/v1/dlq")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"entries", "count", "total", "filter"}
    assert body["count"] == len(body["entries"]) == body["total"] == len(DOCS)
    assert body["filter"] == {}
    for entry in body["entries"]:
        assert SPEC_ENTRY_KEYS <= set(entry)
    created = [parse_time(e["created_at"]) for e in body["entries"]]
    assert created == sorted(created, reverse=True)  # newest first


def test_list_entries_are_the_files_in_full(client):
    by_id = {d["id"]: d for d in DOCS}
    for entry in client.get("/v1/dlq").json()["entries"]:
        original = by_id[entry["id"]]
        # Nothing invented or lost: the Go entry's nanoseconds and offsets, unknown fields, nulls.
        assert entry == original, entry["id"]


@pytest.mark.parametrize(
    ("query", "expect"),
    [
        ({"status": "active"}, lambda d: d.get("status", "active") == "active"),
        ({"status": "archived"}, lambda d: d["status"] == "archived"),
        ({"workflow_type": "data-processing"}, lambda d: _type(d) == "data-processing"),
        ({"workflow_type": "invoice-sync"}, lambda d: _type(d) == "invoice-sync"),
        ({"user_id": "bob"}, lambda d: d["metadata"].get("user_id") == "bob"),
        ({"status": "active", "workflow_type": "data-processing", "user_id": "alice"},
         lambda d: d["status"] == "active" and _type(d) == "data-processing" and d["metadata"].get("user_id") == "alice"),
        ({"since": "2026-11-18T00:00:00Z"},
         lambda d: parse_time(d["created_at"]) >= parse_time("2026-11-18T00:00:00Z")),
        ({"until": "2026-11-13T00:00:00Z"},
         lambda d: parse_time(d["created_at"]) <= parse_time("2026-11-13T00:00:00Z")),
        # An offset, and nanoseconds, in the filter itself.
        ({"since": "2026-11-17T14:21:33.481920517+02:00", "until": "2026-11-19T00:00:00.000000001+01:00"},
         lambda d: parse_time("2026-11-17T12:21:33.481920Z") <= parse_time(d["created_at"])
         <= parse_time("2026-11-18T23:00:00Z")),
        ({"workflow_type": "no-such-type"}, lambda d: False),
    ],
)
def test_list_filters(client, query, expect):
    body = client.get("/v1/dlq", params=query).json()
    wanted = {d["id"] for d in DOCS if expect(d)}
    assert set(_ids(body)) == wanted
    assert body["count"] == len(wanted)
    for key, value in query.items():
        if key in ("since", "until"):
            assert parse_time(body["filter"][key]) == parse_time(value)
        else:
            assert body["filter"][key] == value


def test_go_entry_is_found_by_its_offset_time(client):
    body = client.get("/v1/dlq", params={"since": "2026-11-17T12:00:00Z", "until": "2026-11-17T13:00:00Z"}).json()
    assert _ids(body) == [GO_ID]


def test_limit_keeps_the_newest_and_is_echoed(client):
    full = _ids(client.get("/v1/dlq", params={"status": "active"}).json())
    body = client.get("/v1/dlq", params={"status": "active", "limit": 3}).json()
    assert _ids(body) == full[:3]
    assert body["count"] == 3 and body["total"] == len(full) == 11  # returned, and how many match
    assert body["filter"] == {"status": "active", "limit": 3}
    assert client.get("/v1/dlq", params={"limit": 0}).json()["count"] == 0


def test_limit_2_says_how_many_match(client):
    body = client.get("/v1/dlq?limit=2").json()
    assert (body["count"], body["total"], len(body["entries"])) == (2, len(DOCS), 2)


@pytest.mark.parametrize(("query", "since", "until"), [
    ("since=7d", "2026-11-21T12:00:00Z", None),  # ages count back from the server's clock (frozen here)
    ("since=36h&until=2h", "2026-11-27T00:00:00Z", "2026-11-28T10:00:00Z"),
    ("since=2026-11-19&until=2026-11-24", "2026-11-19T00:00:00Z", "2026-11-24T00:00:00Z"),
])
def test_since_and_until_take_the_cli_forms(client, query, since, until):
    """`7d`, `2h` and plain dates, as `mova dlq list --since` takes them (the same parser)."""
    body = client.get(f"/v1/dlq?{query}").json()
    low, high = parse_time(since), parse_time(until) if until else None
    wanted = {d["id"] for d in DOCS
              if parse_time(d["created_at"]) >= low and (high is None or parse_time(d["created_at"]) < high)}
    assert wanted and set(_ids(body)) == wanted
    assert parse_time(body["filter"]["since"]) == low
    groups = client.get(f"/v1/dlq/groups?{query}").json()
    assert sum(g["count"] for g in groups["groups"]) == len(wanted)


def test_a_bad_time_names_every_accepted_form(client):
    body = client.get("/v1/dlq?since=yesterday").json()
    assert body["error"] == ("since: not a time: 'yesterday' (use RFC 3339 such as 2024-01-19T10:30:45Z, a date "
                             "such as 2024-01-19, or an age such as 2h or 7d)")


def test_unencoded_plus_in_offset_is_understood(client):
    # curl "...?since=2026-11-17T14:00:00+02:00" sends the '+' raw, which decodes as a space.
    r = client.get("/v1/dlq?since=2026-11-27T09:00:00+02:00")
    assert r.status_code == 200
    assert _ids(r.json()) == ["dlq_a71c4e88-5d2b-4f9a-b037-6c8e1f2d90ab"]


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus", "status=", "limit=-1", "limit=abc", "limit=1e3", "limit=100000000000000000000000",
        "since=yesterday", "since=2024-13-45", "until=2024-13-45T10:00:00Z", "since=2024-01-19T10:30:45",
        "until=%00", "since=99999999999w",
    ],
)
def test_list_bad_filters_are_400(client, query):
    r = client.get(f"/v1/dlq?{query}")
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] and body["code"] in ("invalid_request", "invalid_input")


def test_stats_is_the_specs_object(client):
    r = client.get("/v1/dlq/stats")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"total_entries", "by_status", "by_workflow_type", "oldest_entry", "newest_entry"}
    assert body["total_entries"] == len(DOCS)
    assert body["by_status"] == {"active": 11, "retrying": 1, "resolved": 2, "archived": 2}
    assert body["by_workflow_type"] == {"data-processing": 10, "notification": 3, "reporting": 2, "invoice-sync": 1}
    times = sorted(DOCS, key=lambda d: parse_time(d["created_at"]))
    assert body["oldest_entry"] == times[0]["created_at"]
    assert body["newest_entry"] == times[-1]["created_at"]


def test_groups(client):
    r = client.get("/v1/dlq/groups")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"groups", "count", "filter"}
    assert body["count"] == len(body["groups"]) == len(DOCS) - len(GROUP_IDS) + 1
    top = body["groups"][0]
    assert top["count"] == 5 and top["action_type"] == "http_fetch"
    assert top["example_id"] in GROUP_IDS
    assert top["by_status"] == {"active": 5}
    assert sum(g["count"] for g in body["groups"]) == len(DOCS)


def test_groups_take_the_list_filters(client):
    body = client.get("/v1/dlq/groups", params={"status": "archived"}).json()
    assert sum(g["count"] for g in body["groups"]) == 2
    assert body["filter"] == {"status": "archived"}
    assert client.get("/v1/dlq/groups", params={"since": "nope"}).status_code == 400


def test_get_by_full_id_and_prefix(client):
    doc = next(d for d in DOCS if d["id"] == ACTIVE_ID)
    assert client.get(f"/v1/dlq/{ACTIVE_ID}").json() == doc
    assert client.get("/v1/dlq/dlq_1d6f08b3").json() == doc
    assert client.get("/v1/dlq/1d6f").json() == doc  # the dlq_ prefix is optional, as in the CLI
    go = client.get("/v1/dlq/5c91d7e4").json()
    assert go["id"] == GO_ID and go["created_at"] == "2026-11-17T14:21:33.481920517+02:00"


def test_get_shows_a_stale_lease_as_stored(client):
    entry = client.get(f"/v1/dlq/{STALE_ID}").json()
    assert entry["status"] == "retrying" and entry["metadata"]["lease"]["owner"] == "pid 4242@ops-2"


def test_get_unknown_is_404(client):
    r = client.get("/v1/dlq/dlq_00000000")
    assert r.status_code == 404
    assert r.json()["code"] == "entry_not_found" and "dlq_00000000" in r.json()["error"]


def test_get_ambiguous_prefix_is_409_with_candidates(client):
    r = client.get("/v1/dlq/dlq_")
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "ambiguous_id"
    assert set(body["candidates"]) == {d["id"] for d in DOCS if d["id"].startswith("dlq_")}


def test_unknown_path_and_method_use_the_error_shape(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.patch(f"/v1/dlq/{ACTIVE_ID}")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    assert "GET" in r.headers["allow"]


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_missing_directory_reads_as_empty(make_client, sample_dlq):
    import shutil

    shutil.rmtree(sample_dlq)
    client = make_client()
    assert client.get("/v1/dlq").json() == {"entries": [], "count": 0, "total": 0, "filter": {}}
    assert client.get("/v1/dlq/stats").json()["total_entries"] == 0
    assert client.get(f"/v1/dlq/{ACTIVE_ID}").status_code == 404


def test_openapi_documents_the_core_models(client):
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    assert set(paths) >= {"/v1/dlq", "/v1/dlq/stats", "/v1/dlq/groups", "/v1/dlq/{dlq_id}",
                          "/v1/dlq/{dlq_id}/retry", "/v1/dlq/{dlq_id}/status", "/v1/dlq/{dlq_id}/archive",
                          "/healthz", "/metrics"}
    assert set(paths["/v1/dlq/{dlq_id}"]) == {"get", "delete"}
    schemas = doc["components"]["schemas"]
    for name in ("DeadLetterEntry", "Stats", "Group", "RetryRequest", "RetryResponse", "ExecutionResult",
                 "StatusChange", "EntryList", "ErrorBody"):
        assert name in schemas
    params = {p["name"] for p in paths["/v1/dlq"]["get"]["parameters"]}
    assert params == {"status", "workflow_type", "user_id", "since", "until", "limit"}
    retry = paths["/v1/dlq/{dlq_id}/retry"]["post"]
    assert {"200", "202", "400", "404", "409", "413"} <= set(retry["responses"])
    # Invalid requests get 400, never FastAPI's validation 422: the document must not promise it. A 422
    # is only an entry whose file is unreadable (CorruptEntry), on the endpoints that read one entry.
    for path, operations in paths.items():
        for op in operations.values():
            described = op["responses"].get("422", {}).get("description", "")
            assert "422" not in op["responses"] or ("{dlq_id}" in path and "unreadable" in described)
    assert set(schemas["RetryRequest"]["properties"]) == {"sandbox_mode", "overrides", "wait"}
    assert set(schemas["RetryOverridesBody"]["properties"]) == {"variables", "secrets"}

