"""The metrics' counters over PostgreSQL: the file store's numbers for the same history, folded in
the database once per record whichever host folds, and a record that commits late still counted."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mova_core.model.entry import RetryRecord
from mova_core.model.errors import StoreError
from mova_core.model.status import EntryStatus
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.store.files import FileStore
from mova_core.store.pg.store import PgStore
from mova_core.store.validate import validate_entry
from mova_core.timeutil import format_time
from tests.core.engine_fixtures import FakeClock
from tests.deploy.test_deploy import promtool  # noqa: F401  (fixture: promtool's path)
from tests.pg.fixtures import need_pg, seed_from, seed_sample
from tests.pg.processes import MOVA, host, host_env
from tests.support import FROZEN_NOW, ROOT, SAMPLE_DLQ

A = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"
B = "dlq_3f9a2c71-8e4b-4d05-b6a2-91c7e0d45f18"
C = "dlq_8b14e6d2-0c7f-4a93-9e51-2d6b8f03a7c4"
D = "dlq_a71c4e88-5d2b-4f9a-b037-6c8e1f2d90ab"
E = "dlq_c25d7a09-f3e8-4b6c-a1d4-7e90b2c6f835"
SPEC_GAUGE_LINT = 'dlq_entries_total non-counter metrics should not have "_total" suffix'
NEW = "dlq_00000000-0000-4000-8000-00000000abcd"


@pytest.fixture(params=["file", "postgres"])
def service(request, sample_dlq):
    """The sample entries in a store of each kind, the service over it at a clock the test moves."""
    if request.param == "file":
        store = FileStore(sample_dlq)
    else:
        need_pg()
        target = request.getfixturevalue("pg_target")
        store = PgStore(target.url, target.schema)
        seed_from(store, SAMPLE_DLQ)
    clock = FakeClock(FROZEN_NOW)
    svc = DLQService(Settings(dlq_path=sample_dlq), store, clock=clock.now, actor="tester@test")
    yield svc, clock
    svc.close()


def finish(svc: DLQService, entry_id: str, run_id: str, outcome: str, *, sandbox: bool, resolve: bool = False):
    record = RetryRecord(retry_run_id=run_id, sandbox_mode=sandbox, start_time=format_time(svc.clock()),
                         end_time=format_time(svc.clock()), outcome=outcome, actor="tester@test")
    svc.finish_retry(entry_id, run_id, EntryStatus.resolved if resolve else EntryStatus.active, record)


def new_entry(workflow_type: str = "brand-new"):
    doc = json.loads((SAMPLE_DLQ / f"{A}.json").read_text())
    doc["id"] = NEW
    doc["metadata"]["workflow_type"] = workflow_type
    return validate_entry(f"{NEW}.json", doc)


def history(svc: DLQService, clock: FakeClock) -> list:
    """Claims, finishes (ok, failed), abandoned by takeover and archive, resolve, delete, create,
    a delete and re-create of the same id, purge; folded part-way too. Returns the leases left."""
    svc.metrics()
    svc.claim(A, "run_a", True)
    clock.advance(2)
    finish(svc, A, "run_a", "failed", sandbox=True)
    svc.claim(B, "run_b", False)
    clock.advance(7)
    finish(svc, B, "run_b", "completed", sandbox=False, resolve=True)
    svc.claim(A, "run_c", True)
    clock.advance(svc.settings.lease_seconds + 1)
    svc.claim(A, "run_d", False)  # takes the stale lease over: run_c abandoned
    svc.metrics()
    svc.archive(A, break_lease=True)  # run_d abandoned
    svc.set_status(C, "resolved")
    svc.delete(D)
    svc.store.create(new_entry())
    svc.metrics()
    svc.delete(NEW)
    svc.store.create(new_entry())  # the same id again: not a second arrival
    svc.claim(E, "run_e", True)  # left open
    clock.advance(400 * 86400)
    assert svc.purge(30).removed
    return sorted((r.entry_id, r.mode, r.started_ts, r.expires_ts) for r in svc.metrics().retries)


def test_the_same_history_gives_the_file_stores_numbers(service, sample_dlq, tmp_path):
    svc, clock = service
    leases = history(svc, clock)
    values = svc.metrics().counters
    # The oracle: the file store's counters for the same history, in a copy of the sample of its own.
    oracle_dir = tmp_path / "oracle" / "deadletter"
    oracle_dir.parent.mkdir()
    shutil.copytree(SAMPLE_DLQ, oracle_dir, ignore=shutil.ignore_patterns(".mova"))
    oracle_clock = FakeClock(FROZEN_NOW)
    with DLQService(Settings(dlq_path=oracle_dir), clock=oracle_clock.now, actor="tester@test") as oracle:
        assert history(oracle, oracle_clock) == leases
        expected = oracle.metrics().counters
    assert values == expected
    v = values.values
    assert sum(v["dlq_dead_lettered_total"].values()) == 17
    assert v["dlq_dead_lettered_total"][(("workflow_type", "brand-new"),)] == 1
    attempts = v["dlq_retry_attempts_total"]
    assert attempts[(("mode", "sandbox"), ("outcome", "abandoned"))] == 1
    assert attempts[(("mode", "production"), ("outcome", "abandoned"))] == 1
    assert attempts[(("mode", "sandbox"), ("outcome", "failed"))] == 1
    assert v["workflow_retry_duration_seconds_sum"][(("mode", "production"),)] == pytest.approx(7)
    assert v["dlq_resolutions_total"] == {(("how", "manual"),): 1, (("how", "retry"),): 1}
    assert v["dlq_removed_total"][(("reason", "delete"),)] == 2
    assert v["dlq_removed_total"][(("reason", "purge"),)] >= 1
    assert values.recent_failures == [A]
    assert [(entry, mode) for entry, mode, _, _ in leases] == [(E, "sandbox")]


def test_an_import_counts_each_entry_it_creates_as_one_arrival(pg_target, tmp_path):
    """A batch write of many rows (one INSERT) is counted row by row, as the file store counts it;
    importing again adds nothing."""
    def imported_twice(svc: DLQService) -> dict:
        svc.metrics()
        svc.import_dir(SAMPLE_DLQ)
        svc.import_dir(SAMPLE_DLQ)
        return svc.metrics().counters.get("dlq_dead_lettered_total")

    (tmp_path / "deadletter").mkdir()
    with DLQService(Settings(dlq_path=tmp_path / "deadletter"), actor="tester@test") as oracle:
        expected = imported_twice(oracle)
    assert sum(expected.values()) == len(list(SAMPLE_DLQ.glob("*.json")))
    store = PgStore(pg_target.url, pg_target.schema)
    with DLQService(Settings(dlq_path=tmp_path / "unused"), store, actor="tester@test") as svc:
        assert imported_twice(svc) == expected


def test_an_upgraded_schema_counts_the_entries_and_records_it_already_held(pg_env, tmp_path):
    """A schema migrated from before the counters: its entries arrive once, its audit rows are read."""
    seed_sample(pg_env)
    with DLQService(Settings(), actor="tester@test") as svc:
        svc.delete(A)
    with psycopg.connect(pg_env.url, autocommit=True) as conn:  # as if both were written before the step
        conn.execute(f'UPDATE "{pg_env.schema}".audit SET xid = \'0\'')
        conn.execute(f'UPDATE "{pg_env.schema}".counter_arrivals SET xid = \'0\'')
    with DLQService(Settings()) as svc:
        values = svc.metrics().counters
    assert sum(values.get("dlq_dead_lettered_total").values()) == 16
    assert values.get("dlq_removed_total") == {(("reason", "delete"),): 1}


def _record(entry_id: str) -> str:
    return json.dumps({"time": format_time(FROZEN_NOW), "op": "delete", "entry_id": entry_id,
                       "old_status": "active", "new_status": None, "actor": "other"})


def _insert(conn: psycopg.Connection, schema: str, entry_id: str) -> int:
    return conn.execute(f'INSERT INTO "{schema}".audit (op, entry_id, record) VALUES (%s, %s, %s) RETURNING seq',
                        ("delete", entry_id, _record(entry_id))).fetchone()[0]


def removed(svc: DLQService) -> float:
    return svc.metrics().counters.get("dlq_removed_total").get((("reason", "delete"),), 0)


def test_a_record_that_commits_after_a_later_one_was_counted_is_counted_once(pg_env):
    late = psycopg.connect(pg_env.url)  # a transaction of its own, left open
    early = psycopg.connect(pg_env.url, autocommit=True)
    try:
        late_seq = _insert(late, pg_env.schema, "dlq_late")
        with DLQService(Settings()) as svc:
            assert _insert(early, pg_env.schema, "dlq_early") > late_seq
            assert removed(svc) == 0  # `late` is still running: nothing after it is counted yet
            late.commit()  # the lower sequence number becomes visible after the higher one
            assert removed(svc) == 2
            _insert(early, pg_env.schema, "dlq_after")
            assert removed(svc) == 3
            assert removed(svc) == 3
    finally:
        late.close()
        early.close()


def test_a_record_of_an_older_running_transaction_waits_and_is_counted_once(pg_env):
    """The later record's transaction is older than the running one: it is counted at once, the
    running one's record (a lower sequence number) when it commits, neither twice."""
    with DLQService(Settings()) as svc:
        assert removed(svc) == 0
        early = psycopg.connect(pg_env.url)
        late = psycopg.connect(pg_env.url)
        try:
            early.execute("SELECT pg_current_xact_id()")
            late.execute("SELECT pg_current_xact_id()")
            low = _insert(late, pg_env.schema, "dlq_late")
            assert _insert(early, pg_env.schema, "dlq_early") > low
            early.commit()
            assert removed(svc) == 1  # `early` is older than every transaction still running
            late.commit()
            assert removed(svc) == 2
            assert removed(svc) == 2
        finally:
            early.close()
            late.close()


def test_a_rolled_back_record_is_never_counted(pg_env):
    with DLQService(Settings()) as svc, psycopg.connect(pg_env.url) as gone:
        _insert(gone, pg_env.schema, "dlq_gone")
        gone.rollback()
        with psycopg.connect(pg_env.url, autocommit=True) as conn:
            _insert(conn, pg_env.schema, "dlq_kept")
        assert removed(svc) == 1


def test_hosts_folding_at_once_count_each_record_once(pg_target, tmp_path):
    seed_sample(pg_target)
    stamp = format_time(FROZEN_NOW)
    rows = [("retry_finish", f"dlq_{n}", json.dumps({
        "time": stamp, "op": "retry_finish", "entry_id": f"dlq_{n}", "old_status": "retrying",
        "new_status": "active", "actor": "a", "retry_run_id": f"r{n}", "sandbox_mode": n % 2 == 0,
        "outcome": "failed" if n % 3 else "completed"})) for n in range(3000)]
    with psycopg.connect(pg_target.url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(f'INSERT INTO "{pg_target.schema}".audit (op, entry_id, record) VALUES (%s, %s, %s)', rows)
    procs = [subprocess.Popen([*MOVA, "dlq", "metrics"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=host_env(pg_target, host(tmp_path, f"h{n}"))) for n in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    for out, _ in outs:
        found = _scraped(out)
        assert sum(v for (n, _), v in found.items() if n == "dlq_retry_attempts_total") == 3000
        assert sum(v for (n, _), v in found.items() if n == "dlq_dead_lettered_total") == 16
    target_settings = Settings(store_url=pg_target.url, store_schema=pg_target.schema)
    with DLQService(target_settings) as svc:
        attempts = svc.metrics().counters.get("dlq_retry_attempts_total")
    assert attempts[(("mode", "sandbox"), ("outcome", "completed"))] == 500
    assert sum(attempts.values()) == 3000


def test_metrics_over_http_show_the_shared_counters(pg_target, serve, tmp_path, promtool):  # noqa: F811
    seed_sample(pg_target)
    settings = Settings(store_url=pg_target.url, store_schema=pg_target.schema)
    with DLQService(settings, actor="tester@test") as svc:
        svc.set_status(A, "resolved")
        svc.delete(B)
    server = serve(tmp_path / "no-such-dir", env=pg_target.env())
    with server.client() as http:
        text = http.get("/metrics").text
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                             timeout=60, check=False)
    # The specification names a gauge `dlq_entries_total`: promtool's one lint complaint (exit 3),
    # never a parse error (exit 1).
    complaints = set(checked.stderr.splitlines()) - {SPEC_GAUGE_LINT}
    assert checked.returncode in (0, 3) and not complaints, checked.stdout + checked.stderr
    found = _scraped(text)
    assert sum(v for (n, _), v in found.items() if n == "dlq_dead_lettered_total") == 16
    assert found[("dlq_resolutions_total", (("how", "manual"),))] == 1
    assert found[("dlq_removed_total", (("reason", "delete"),))] == 1
    assert found[("dlq_time_to_resolution_seconds_count", ())] == 1


def test_the_clock_of_a_history_does_not_change_its_counts(service):
    """Folding the same records twice (two scrapes, nothing new) adds nothing."""
    svc, clock = service
    svc.delete(A)
    first = svc.metrics().counters
    clock.advance(timedelta(hours=1).total_seconds())
    assert svc.metrics().counters == first


def _random_records(count: int, seed: int) -> list[str]:
    """Audit lines of many entries: claims, takeovers, finishes, forced-out retries, resolutions, removals."""
    rng = random.Random(seed)
    lines, status = [], {}
    for n in range(count):
        entry = f"dlq_{rng.randrange(40)}"
        old = status.get(entry, "active")
        when = format_time(FROZEN_NOW + timedelta(seconds=n * rng.choice((0.05, 3, 900))))
        base = {"time": when, "entry_id": entry, "actor": "a", "old_status": old}
        kind = rng.choice(("claim", "finish", "finish", "archive", "resolve", "delete"))
        if kind == "claim":
            rec = {**base, "op": "retry_claim", "new_status": "retrying", "retry_run_id": f"r{n}",
                   "sandbox_mode": rng.random() < 0.5}
        elif kind == "finish" and old == "retrying":
            rec = {**base, "op": "retry_finish", "new_status": rng.choice(("active", "resolved")),
                   "retry_run_id": rng.choice((f"r{n - 1}", f"r{n - 2}", "stranger")),
                   "sandbox_mode": rng.random() < 0.5, "outcome": rng.choice(("completed", "failed", "timeout"))}
        elif kind == "resolve":
            rec = {**base, "op": "status", "new_status": "resolved"}
        elif kind == "delete":
            rec = {**base, "op": rng.choice(("delete", "purge")), "new_status": None}
        else:
            rec = {**base, "op": "archive", "new_status": "archived"}
        status[entry] = rec["new_status"] or "active"
        lines.append(json.dumps(rec))
    return lines


def test_any_audit_records_count_as_the_file_stores_fold_counts_them(pg_target, tmp_path):
    """The same records, folded by each store (PostgreSQL's in three pieces), give the same values."""
    from mova_core.store.counters import Counters

    lines = _random_records(3000, seed=18)
    audit = tmp_path / "audit.jsonl"
    audit.write_text("".join(line + "\n" for line in lines))
    files = Counters(tmp_path / "counters.sqlite", None, audit)
    files.fold()
    store = PgStore(pg_target.url, pg_target.schema)
    try:
        counters = store.counters()
        with psycopg.connect(pg_target.url, autocommit=True) as conn, conn.cursor() as cur:
            for part in (lines[:1000], lines[1000:1001], lines[1001:]):
                cur.executemany(f'INSERT INTO "{pg_target.schema}".audit (op, entry_id, record) VALUES (%s, %s, %s)',
                                [(json.loads(line)["op"], json.loads(line)["entry_id"], line) for line in part])
                counters.fold()
        assert counters.values() == files.values()
        assert len(files.values().recent_failures) == 20
        assert sorted(counters.leases()) == sorted(files.leases()) == []  # no entries: no lease is live
    finally:
        store.close()
        files.close()


def test_metrics_over_http_follow_another_hosts_changes(pg_target, serve, tmp_path):
    """A scrape after another host's change shows it, even with a local directory at MOVA_DLQ_PATH."""
    seed_sample(pg_target)
    local = tmp_path / "local" / "deadletter"
    local.mkdir(parents=True)
    server = serve(local, env=pg_target.env())
    key = ("dlq_removed_total", (("reason", "delete"),))
    with server.client() as http:
        assert _scraped(http.get("/metrics").text)[key] == 0
        with DLQService(Settings(store_url=pg_target.url, store_schema=pg_target.schema)) as other:
            other.delete(A)
        # The shim keeps a scrape until a change is announced (NOTIFY, delivered in milliseconds).
        assert wait_until(lambda: _scraped(http.get("/metrics").text)[key] == 1)


def wait_until(check, seconds: float = 10.0) -> bool:
    """Whether `check()` comes true within `seconds` (asked every 20 ms)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _scraped(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_fold_cut_off_by_a_dead_connection_counts_nothing_and_the_next_counts_once(pg_env):
    """A fold waits for another host's fold (the advisory lock); killed meanwhile, it counted nothing."""
    seed_sample(pg_env)
    with DLQService(Settings()) as svc:
        svc.delete(A)
        counters = svc.counters()
        failures: list[BaseException] = []

        def fold() -> None:
            try:
                counters.fold()
            except BaseException as exc:  # noqa: BLE001  (the test reads it)
                failures.append(exc)

        with psycopg.connect(pg_env.url, autocommit=True) as holder:
            holder.execute("BEGIN")
            holder.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (counters.lock_name,))
            folding = threading.Thread(target=fold)
            folding.start()
            waiting = None
            for _ in range(2000):
                waiting = holder.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                                         ).fetchone()
                if waiting or not folding.is_alive():
                    break
                time.sleep(0.005)
            assert waiting is not None, failures
            holder.execute("SELECT pg_terminate_backend(%s)", waiting)
            holder.execute("COMMIT")
            folding.join(20)
        assert len(failures) == 1 and isinstance(failures[0], StoreError), failures
        assert "nothing was counted" in str(failures[0])
        values = svc.metrics().counters
        assert values.get("dlq_removed_total") == {(("reason", "delete"),): 1}
        assert sum(values.get("dlq_dead_lettered_total").values()) == 16
