"""Over PostgreSQL, leases are judged by the database server's clock, not by each host's: hosts whose
clocks disagree still agree on whether a lease is live, so no two of them retry one entry."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

import pytest

from mova_core.model.errors import AlreadyRetrying, StoreError
from mova_core.model.status import EntryStatus
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.timeutil import parse_time, utcnow
from tests.pg.fixtures import seed_sample
from tests.pg.processes import host, host_env

ENTRY = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"  # active in the sample


def _skewed(by: timedelta):
    return lambda: utcnow() + by


def _server_now(store):
    with store.pool.connection() as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def _server_now_of(target):
    import psycopg

    with psycopg.connect(target.url) as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def _service(target, *, skew: timedelta, **settings) -> DLQService:
    """A service on a "host" whose own clock is off by `skew`."""
    from mova_core.store.pg.store import PgStore

    store = PgStore(target.url, target.schema, local_clock=_skewed(skew))
    return DLQService(Settings(**settings), store, actor=f"ops@skew{skew.total_seconds():+.0f}")


def test_the_store_clock_is_the_servers_whatever_the_hosts_clock_says(pg_target):
    for skew in (timedelta(hours=3), timedelta(hours=-3), timedelta(0)):
        with _service(pg_target, skew=skew) as svc:
            assert svc.clock is svc.store.clock and svc.independent().clock is svc.store.clock
            assert abs(svc.clock() - _server_now(svc.store)) < timedelta(seconds=1), skew
            assert svc.clock().utcoffset() == timedelta(0)


def test_the_offset_is_measured_again_after_a_while(pg_target):
    from mova_core.store.pg.clock import DatabaseClock
    from mova_core.store.pg.store import PgStore

    local = [timedelta(0)]
    ticks = [0.0]
    later = []  # the measurements the clock starts on a thread of their own, run here by hand
    store = PgStore(pg_target.url, pg_target.schema)
    try:
        clock = DatabaseClock(store.pool, local=lambda: utcnow() + local[0], monotonic=lambda: ticks[0], recheck=60,
                              spawn=later.append)
        clock()
        local[0] = timedelta(hours=1)  # this host's clock is stepped (NTP)
        assert clock() - _server_now(store) > timedelta(minutes=59)  # until the next measurement
        ticks[0] = 60.0
        assert clock() - _server_now(store) > timedelta(minutes=59)  # answered at once, measured aside
        assert len(later) == 1 and clock() and len(later) == 1  # one measurement at a time
        later.pop()()
        assert abs(clock() - _server_now(store)) < timedelta(seconds=1)
        store.pool.close()  # the server out of reach: the last offset stands, no error
        ticks[0] = 120.0
        clock()
        kept = clock.offset
        later.pop()()
        assert clock.offset == kept and abs(clock() - _server_now_of(pg_target)) < timedelta(seconds=1)
    finally:
        store.close()


def test_a_store_clock_never_measured_says_why_it_cannot_tell_the_time(pg_target):
    from mova_core.store.pg.clock import DatabaseClock
    from mova_core.store.pg.store import PgStore

    store = PgStore(pg_target.url, pg_target.schema)
    store.close()
    with pytest.raises(StoreError, match="could not read the store's clock"):
        DatabaseClock(store.pool)()


def test_a_host_whose_clock_runs_ahead_does_not_take_over_a_live_lease(pg_target):
    seed_sample(pg_target)
    behind, ahead = (_service(pg_target, skew=timedelta(minutes=m)) for m in (-30, 30))
    try:
        claimed = behind.claim(ENTRY, "retry_behind", True)
        # By its own clock the host ahead would see the 15-minute lease as long expired...
        from mova_core.model import lifecycle

        assert lifecycle.is_stale(claimed, utcnow() + timedelta(minutes=30))
        # ...but both judge by the server's clock: the lease is live, the claim is refused.
        with pytest.raises(AlreadyRetrying):
            ahead.claim(ENTRY, "retry_ahead", True)
        expires = parse_time(claimed.metadata.lease.expires_at)
        assert abs(expires - _server_now(ahead.store) - timedelta(seconds=900)) < timedelta(seconds=5)
    finally:
        behind.close()
        ahead.close()


_CLAIMER = """
import os, sys
from mova_core.ops.service import DLQService
svc = DLQService()
entry = svc.claim(sys.argv[1], "retry_killed", True)
print(entry.metadata.lease.expires_at, flush=True)
os.kill(os.getpid(), 9)  # dies holding the lease: nothing renews it
"""


def test_a_killed_claimers_lease_expires_by_the_servers_clock(pg_target, tmp_path):
    seed_sample(pg_target)
    home = host(tmp_path, "a")
    proc = subprocess.run([sys.executable, "-c", _CLAIMER, ENTRY], cwd=home, capture_output=True, text=True,
                          env=host_env(pg_target, home, MOVA_LEASE_SECONDS="0.5"), timeout=60)
    assert proc.returncode == -9, proc.stderr
    expires = parse_time(proc.stdout.strip())
    # Host B's clock runs an hour behind: by it, the lease would hold for another hour.
    with _service(pg_target, skew=timedelta(hours=-1)) as b:
        deadline = time.monotonic() + 20
        while True:
            try:
                taken = b.claim(ENTRY, "retry_b", True)
                break
            except AlreadyRetrying:
                assert time.monotonic() < deadline, "the lease never expired"
                time.sleep(0.05)
        assert b.clock() >= expires and taken.status == EntryStatus.retrying
        assert taken.metadata.lease.retry_run_id == "retry_b"
        abandoned = taken.retry_history[-1]
        assert abandoned.retry_run_id == "retry_killed" and abandoned.outcome == "abandoned"
