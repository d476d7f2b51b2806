"""`GET /metrics`: the specification's four metrics in the Prometheus text format, checked with its parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from mova_core.timeutil import parse_time

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

    # Oracle: the sample files themselves.
    docs = sample_docs()
    by_status: dict[str, int] = {}
    records = [rec for d in docs for rec in d.get("retry_history") or []]
    for d in docs:
        by_status[d["status"]] = by_status.get(d["status"], 0) + 1

    entries = families["dlq_entries_total"]
    assert entries.type == "gauge"
    assert {dict(k)["status"]: v for k, v in _samples(entries).items()} == by_status
    assert _samples(entries)[(("status", "active"),)] == 11

    attempts = families["dlq_retry_attempts_total"]
    assert attempts.type == "counter"
    assert sum(_samples(attempts, "dlq_retry_attempts_total").values()) == len(records)

    finished = [rec for rec in records if rec["outcome"] in ("completed", "failed", "timeout", "cancelled")]
    completed = [rec for rec in finished if rec["outcome"] == "completed"]
    [rate] = families["dlq_resolution_rate"].samples
    assert rate.value == len(completed) / len(finished)

    histogram = families["workflow_retry_duration_seconds"]
    assert histogram.type == "histogram"
    durations = [(parse_time(rec["end_time"]) - parse_time(rec["start_time"])).total_seconds() for rec in finished]
    [count] = [s.value for s in histogram.samples if s.name.endswith("_count")]
    [total] = [s.value for s in histogram.samples if s.name.endswith("_sum")]
    assert count == len(durations)
    assert abs(total - sum(durations)) < 1e-3
    buckets = {s.labels["le"]: s.value for s in histogram.samples if s.name.endswith("_bucket")}
    assert buckets["+Inf"] == len(durations)
    for le, value in buckets.items():
        if le != "+Inf":
            assert value == sum(1 for d in durations if d <= float(le)), le


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
