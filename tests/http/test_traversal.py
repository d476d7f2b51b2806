"""Ids in the path never reach outside the dead-letter directory: 400 or 404, nothing read or touched."""

from __future__ import annotations

import json
import os

import pytest

MARKER = "OUTSIDE-THE-DEAD-LETTER-DIRECTORY"

ATTEMPTS = [
    "..", "%2E%2E", "%2e%2e", "..%2Fsecret", "%2E%2E%2Fsecret", "..%2F..%2Fsecret", "..%2f..%2fstate%2fsecret",
    "%2Fetc%2Fpasswd", "..%5Csecret", "secret%00", "%00", "..%00", "dlq_1d6f08b3%00..%2Fsecret",
    "..%252Fsecret", "%252E%252E%252Fsecret", ".mova", ".mova%2Findex.sqlite", "%2Emova", "dlq_..",
    "dlq_1d6f08b3%0A", "%20", "~", "~root", "secret", "..secret", "state%2Fsecret", "a" * 300,
    "%C0%AE%C0%AE%2Fsecret", "%E2%80%AE..",
]
OPERATIONS = [
    ("GET", "/v1/dlq/{}", None),
    ("DELETE", "/v1/dlq/{}?break_lease=true", None),
    ("PUT", "/v1/dlq/{}/status", {"status": "archived"}),
    ("POST", "/v1/dlq/{}/archive?break_lease=true", None),
]


@pytest.fixture
def outside(tmp_path, sample_dlq):
    """Entry-shaped files beside and above the dead-letter directory, named as a traversal would."""
    doc = json.loads(next(sample_dlq.glob("dlq_1d6f*.json")).read_text())
    paths = []
    for where in (sample_dlq.parent / "secret.json", tmp_path / "secret.json", sample_dlq.parent / ".json",
                  sample_dlq.parent / "state" / "secret.json"):
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(json.dumps(doc | {"id": where.stem, "marker": MARKER}))
        os.utime(where, (1_000_000_000, 1_000_000_000))
        paths.append(where)
    return paths


def _outside_listing(tmp_path, sample_dlq) -> dict[str, tuple[int, int]]:
    """Every file under tmp_path except the dead-letter directory's own contents."""
    out = {}
    for root, _dirs, files in os.walk(tmp_path):
        if root == str(sample_dlq) or root.startswith(str(sample_dlq) + os.sep):
            continue
        for name in files:
            st = os.stat(os.path.join(root, name))
            out[os.path.join(root, name)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.mark.parametrize(("method", "template", "body"), OPERATIONS)
def test_traversal_attempts_touch_nothing_outside(client, tmp_path, sample_dlq, outside, method, template, body):
    before_outside = _outside_listing(tmp_path, sample_dlq)
    before_entries = sorted(p.name for p in sample_dlq.glob("*.json"))
    for attempt in ATTEMPTS:
        r = client.request(method, template.format(attempt), json=body)
        assert r.status_code in (400, 404), (attempt, r.status_code, r.text)
        assert MARKER not in r.text, attempt
        assert r.json()["error"]
    assert _outside_listing(tmp_path, sample_dlq) == before_outside
    assert sorted(p.name for p in sample_dlq.glob("*.json")) == before_entries
    for path in outside:
        assert MARKER in path.read_text()


def test_encoded_dots_are_refused_as_invalid_ids(client):
    for attempt in ("%2E%2E", "dlq_..", "%00", "dlq_1d6f08b3%0A", "a" * 300):
        r = client.get(f"/v1/dlq/{attempt}")
        assert r.status_code == 400 and r.json()["code"] == "invalid_id", attempt


def test_a_file_named_like_an_id_outside_is_not_found(client, outside):
    r = client.get("/v1/dlq/secret")
    assert r.status_code == 404 and MARKER not in r.text
