"""The HTTP shim under load: concurrent clients against a real `mova serve` process, mixing reads,
status changes and retries. No 5xx and no transport error; no lost update (each client's own
entries end in the status its last successful change answered, every retry the shim answered 200 is
counted once in the entry and in the audit log); p50 and p99 latency reported."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest

from mova_core.store.audit import AuditLog
from tests.support import ROOT

from .support import (
    assert_sound,
    check_directory,
    child_env,
    closed_port_url,
    percentile,
    scaled,
    write_entries,
)

pytestmark = pytest.mark.reliability


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(dlq: Path, log: Path) -> tuple[str, subprocess.Popen]:
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from mova_tui.cli.main import run; run()", "serve", "--port", str(port),
             "--log-level", "warning"],
            cwd=ROOT, env=child_env(dlq), stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return url, proc
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"mova serve did not start: {log.read_text()}"
        time.sleep(0.05)


def test_shim_under_concurrent_load(tmp_path, figures, scale):
    dlq = tmp_path / "state" / "deadletter"
    clients = scaled(16, scale, 2)
    duration = 4.0 * scale
    url_down = closed_port_url()
    readable = write_entries(dlq, 20, url_down)
    retried = write_entries(dlq, 4, url_down)
    owned = {c: write_entries(dlq, 2, url_down) for c in range(clients)}
    base, server = _serve(dlq, tmp_path / "serve.log")

    latencies: list[float] = []
    codes: Counter = Counter()
    errors: list[str] = []
    last_status: dict[str, str] = {}  # owned entry -> the status its client's last successful change answered
    retries_ok: Counter = Counter()
    lock = threading.Lock()
    start_line = threading.Barrier(clients)

    def client(n: int) -> None:
        rng = random.Random(1000 + n)
        mine = owned[n]
        with httpx.Client(base_url=base, timeout=30) as http:
            start_line.wait()
            stop = time.monotonic() + duration
            while time.monotonic() < stop:
                roll = rng.random()
                entry = None
                if roll < 0.45:
                    method, path, body = "GET", rng.choice([
                        "/v1/dlq?limit=20", "/v1/dlq/stats", f"/v1/dlq/{rng.choice(readable)}",
                        f"/v1/dlq/{rng.choice(readable)[:12]}", "/v1/dlq/groups", "/metrics", "/v1/dlq?status=retrying"]), None
                elif roll < 0.8:
                    entry = rng.choice(mine)
                    if rng.random() < 0.3:
                        method, path, body = "POST", f"/v1/dlq/{entry}/archive", None
                    else:
                        method, path, body = "PUT", f"/v1/dlq/{entry}/status", {
                            "status": rng.choice(["active", "archived", "resolved", "active", "retrying"])}
                else:
                    entry = rng.choice(retried)
                    method, path, body = "POST", f"/v1/dlq/{entry}/retry", {"sandbox_mode": True}
                t0 = time.perf_counter()
                try:
                    answer = http.request(method, path, json=body)
                except httpx.TransportError as exc:
                    with lock:
                        errors.append(f"{method} {path}: {type(exc).__name__}: {exc}")
                    continue
                took = time.perf_counter() - t0
                with lock:
                    latencies.append(took)
                    codes[answer.status_code] += 1
                    if answer.status_code >= 500 or answer.status_code not in (200, 409):
                        errors.append(f"{method} {path} {body}: {answer.status_code} {answer.text[:200]}")
                    elif answer.status_code == 200 and path.endswith("/retry"):
                        retries_ok[entry] += 1
                    elif answer.status_code == 200 and entry is not None:
                        last_status[entry] = answer.json()["status"]

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=duration + 120)
        assert not any(t.is_alive() for t in threads), "a client did not finish"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    import json

    lost = []
    for entry, status in last_status.items():
        on_disk = json.loads((dlq / f"{entry}.json").read_text())["status"]
        if on_disk != status:
            lost.append(f"{entry}: {on_disk} on disk, the last change answered {status}")
    audit = AuditLog(dlq / ".mova" / "audit.jsonl").read().records
    claims = Counter(r["entry_id"] for r in audit if r["op"] == "retry_claim")
    finishes = Counter(r["entry_id"] for r in audit if r["op"] == "retry_finish")
    for entry in retried:
        doc = json.loads((dlq / f"{entry}.json").read_text())
        counted = (doc["metadata"]["retry_count"], len(doc.get("retry_history") or []), claims[entry], finishes[entry])
        if doc["status"] != "active" or set(counted) != {retries_ok[entry]}:
            lost.append(f"{entry}: {doc['status']}, (retry_count, history, claims, finishes) = {counted}, "
                        f"{retries_ok[entry]} answered 200")
    by_entry = defaultdict(list)
    for rec in audit:
        by_entry[rec["entry_id"]].append(rec)
    for entry, records in by_entry.items():  # each entry's records replay as a chain
        for prev, rec in zip(records, records[1:]):
            if rec["old_status"] != prev["new_status"]:
                lost.append(f"{entry}: audit record {rec} does not follow {prev}")

    served = sum(codes.values())
    figures.add("shim_clients", clients)
    figures.add("shim_requests", served)
    figures.add("shim_errors", len(errors))
    figures.add("shim_lost_updates", len(lost))
    figures.set("shim_p50_ms", round(percentile(latencies, 50) * 1000, 1))
    figures.set("shim_p99_ms", round(percentile(latencies, 99) * 1000, 1))
    log = (tmp_path / "serve.log").read_text()
    assert errors == [], "\n".join(errors[:20]) + f"\n(server log:)\n{log[-2000:]}"
    assert lost == [], "\n".join(lost[:20])
    assert "Traceback" not in log, log[-3000:]
    assert served >= clients * 5, f"only {served} requests served"
    assert sum(retries_ok.values()) > 0 and len(last_status) > 0
    assert_sound(check_directory(dlq))
