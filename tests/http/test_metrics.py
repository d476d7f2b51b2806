"""`GET /metrics`: the specification's four metrics in the Prometheus text format, checked with its parser."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mova_core.timeutil import parse_time
from tests.support import FROZEN_NOW

from .conftest import ACTIVE_ID, READ_TOKEN, sample_docs


def _families(text: str) -> dict:
    """Families by the metric name the specification uses (the parser drops a counter's `_total`)."""
    out = {}
    for family in text_string_to_metric_families(text):
        name = family.name + "_total" if family.type == "counter" else family.name
        out[name] = family
    return out


def _samples(family, name=None) -> dict:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples if name is None or s.name == name}


def test_metrics_parse_and_match_the_sample(client):
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    families = _families(r.text)
    assert {"dlq_entries_total", "dlq_retry_attempts_total", "dlq_resolution_rate",
            "workflow_retry_duration_seconds"} <= set(families)
    for family in families.values():
        assert family.documentation, family.name  # HELP text for each

    # Oracle: the sample files themselves.
    docs = sample_docs()
    by_status: dict[str, int] = {}
    by_type: dict[str, int] = {}
    for d in docs:
        by_status[d["status"]] = by_status.get(d["status"], 0) + 1
        wtype = (d.get("metadata") or {}).get("workflow_type") or d["envelope"]["intent"].get("name")
        by_type[wtype] = by_type.get(wtype, 0) + 1

    entries = families["dlq_entries_total"]
    assert entries.type == "gauge"
    assert {dict(k)["status"]: v for k, v in _samples(entries).items()} == by_status
    assert _samples(entries)[(("status", "active"),)] == 11
    # Every sample entry is seen arriving once; nothing has been retried since counting began.
    dead = _samples(families["dlq_dead_lettered_total"])
    assert sum(dead.values()) == len(docs)
    assert {dict(k)["workflow_type"]: v for k, v in dead.items()} == by_type
    attempts = families["dlq_retry_attempts_total"]
    assert attempts.type == "counter"
    assert set(_samples(attempts, "dlq_retry_attempts_total").values()) == {0}
    assert families["workflow_retry_duration_seconds"].type == "histogram"
    oldest = min(parse_time(d["created_at"]) for d in docs if d["status"] == "active")
    [age] = families["dlq_oldest_active_entry_age_seconds"].samples
    assert age.value == pytest.approx((FROZEN_NOW - oldest).total_seconds())


def test_a_sandbox_retry_over_http_is_counted_with_its_duration(client, upstream):
    body = {"sandbox_mode": True, "overrides": {"variables": {"api_url": upstream.url},
                                                 "secrets": {"api_key": upstream.secret}}}
    assert client.post("/v1/dlq/dlq_8b14e6d2/retry", json=body).status_code == 200
    families = _families(client.get("/metrics").text)
    attempts = _samples(families["dlq_retry_attempts_total"], "dlq_retry_attempts_total")
    assert attempts[(("mode", "sandbox"), ("outcome", "completed"))] == 1
    assert sum(attempts.values()) == 1
    durations = _samples(families["workflow_retry_duration_seconds"], "workflow_retry_duration_seconds_count")
    assert durations[(("mode", "sandbox"),)] == 1
    assert families["dlq_resolution_rate"].samples[0].value == 1.0


def test_metrics_follow_changes(client):
    client.post(f"/v1/dlq/{ACTIVE_ID}/archive")
    entries = _samples(_families(client.get("/metrics").text)["dlq_entries_total"])
    assert entries[(("status", "active"),)] == 10 and entries[(("status", "archived"),)] == 3


def test_metrics_of_a_missing_directory(make_client, sample_dlq):
    import shutil

    shutil.rmtree(sample_dlq)
    families = _families(make_client().get("/metrics").text)
    assert set(_samples(families["dlq_entries_total"]).values()) == {0}
    assert families["dlq_resolution_rate"].samples[0].value == 0


def test_metrics_need_a_token_when_one_is_set(make_client):
    client = make_client(api_read_token=READ_TOKEN)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {READ_TOKEN}"}).status_code == 200


def _counter_values(text: str) -> dict:
    """Every counter and histogram sample (the series that must never go down)."""
    out = {}
    for family in text_string_to_metric_families(text):
        if family.type in ("counter", "histogram"):
            for s in family.samples:
                if not s.name.endswith("_created"):
                    out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_counters_survive_a_restart_and_two_servers_agree(serve, sample_dlq):
    first = serve(sample_dlq)
    with first.client() as http:
        http.get("/metrics")  # counting begins: every entry present is seen arriving
        assert http.post(f"/v1/dlq/{ACTIVE_ID}/archive").status_code == 200
        assert http.delete(f"/v1/dlq/{ACTIVE_ID}", params={"break_lease": True}).status_code == 200
        before = _counter_values(http.get("/metrics").text)
    assert before[("dlq_removed_total", (("reason", "delete"),))] == 1
    first.process.terminate()
    first.process.wait(timeout=20)
    second, third = serve(sample_dlq), serve(sample_dlq)
    with second.client() as a, third.client() as b:
        after_a = _counter_values(a.get("/metrics").text)
        after_b = _counter_values(b.get("/metrics").text)
    assert after_a == after_b
    assert all(after_a[key] >= value for key, value in before.items())
    assert after_a[("dlq_dead_lettered_total", (("workflow_type", "data-processing"),))] == 10
