"""The faces over a PostgreSQL store: the HTTP shim, `mova run` dead-lettering into it, alerts."""

from __future__ import annotations

import json

from tests.pg.fixtures import seed_sample
from tests.pg.processes import host, run_mova
from tests.support import SAMPLE_DLQ

ENTRY = "dlq_a71c4e88-5d2b-4f9a-b037-6c8e1f2d90ab"


def test_the_http_shim_serves_and_changes_the_shared_store(pg_target, serve, tmp_path):
    seed_sample(pg_target)
    server = serve(tmp_path / "no-such-dir", env=pg_target.env())
    with server.client() as http:
        page = http.get("/v1/dlq", params={"status": "active", "limit": 50}).json()
        assert page["count"] == 11 and {e["status"] for e in page["entries"]} == {"active"}
        assert http.get("/v1/dlq/stats").json()["total_entries"] == 16
        assert http.get(f"/v1/dlq/{ENTRY[:12]}").json()["id"] == ENTRY
        changed = http.put(f"/v1/dlq/{ENTRY}/status", json={"status": "archived"})
        assert changed.status_code == 200, changed.text
    assert "does not exist" not in server.log.read_text()
    shown = run_mova(pg_target, host(tmp_path, "b"), "dlq", "show", ENTRY, "--format", "json")
    assert json.loads(shown.stdout)["status"] == "archived"


def test_mova_run_dead_letters_into_the_shared_store(pg_target, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    a, b = host(tmp_path, "a"), host(tmp_path, "b")
    workflow = SAMPLE_DLQ.parent / "workflows" / "flaky-local.json"
    r = run_mova(pg_target, a, "run", str(workflow), "--var", f"base_url={closed}", "--format", "json",
                 MOVA_RETRY_DEFAULT_DELAY="0")
    assert r.returncode == 1, r.stderr
    entry_id = json.loads(r.stdout)["dlq_id"]
    listed = json.loads(run_mova(pg_target, b, "dlq", "list", "--format", "json").stdout)
    assert [(e["id"], e["envelope"]["intent"]["name"]) for e in listed] == [(entry_id, "flaky-local")]
    assert not (a / "state" / "deadletter").exists()


def test_alerts_read_the_shared_store(pg_target, tmp_path):
    seed_sample(pg_target)
    home = host(tmp_path, "a")
    calm = run_mova(pg_target, home, "dlq", "alerts", "--max-active", "100")
    assert calm.returncode == 0, calm.stderr
    breached = run_mova(pg_target, home, "dlq", "alerts", "--max-active", "5", "--format", "json")
    assert breached.returncode == 1, breached.stderr
    assert "11" in breached.stdout
