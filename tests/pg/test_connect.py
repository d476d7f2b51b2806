"""A store's connections: a one-shot command uses the one that checked the schema (no pool, no
worker thread); callers that overlap get others from a pool; a dropped connection is replaced."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import psycopg
import pytest

from mova_core.store.pg.connect import Connections
from tests.pg.fixtures import seed_sample
from tests.pg.processes import ROOT, host, host_env


@pytest.fixture
def conns(pg_target):
    c = Connections(pg_target.url, pg_target.schema)
    yield c
    c.close()


def _backend(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_calls_taking_turns_share_one_connection_and_open_no_pool(conns):
    pids = set()
    for _ in range(3):
        with conns.connection() as conn:
            pids.add(_backend(conn))
    assert len(pids) == 1 and conns._pool is None


def test_an_overlapping_caller_gets_another_connection(conns):
    with conns.connection() as first:
        with conns.connection() as nested:  # a block holding one connection asks for another
            assert _backend(nested) != _backend(first)
        other: list[int] = []

        def in_another_thread() -> None:
            with conns.connection() as conn:
                other.append(_backend(conn))

        thread = threading.Thread(target=in_another_thread)
        thread.start()
        thread.join(10)
        assert other and other[0] != _backend(first)


def test_a_transaction_left_open_is_rolled_back_and_a_dropped_connection_replaced(conns, pg_target):
    with conns.connection() as conn:
        conn.execute("BEGIN")
        conn.execute("CREATE TEMP TABLE left_behind (x int)")
    with conns.connection() as conn:
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute("SELECT to_regclass('pg_temp.left_behind')").fetchone()[0] is None
        pid = _backend(conn)
    with psycopg.connect(pg_target.url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(psycopg.OperationalError), conns.connection() as conn:
        conn.execute("SELECT 1")  # the call that finds it dropped fails, as with a pool
    with conns.connection() as conn:
        assert _backend(conn) != pid


def test_a_one_shot_command_loads_no_pool_and_starts_no_pool_thread(pg_target, tmp_path):
    seed_sample(pg_target)
    code = ("import sys, threading; sys.argv = ['mova', 'dlq', 'list', '--format', 'json']\n"
            "from mova_tui.cli.main import run\n"
            "try:\n    run()\nexcept SystemExit:\n    pass\n"
            "assert 'psycopg' in sys.modules and 'psycopg_pool' not in sys.modules\n"
            "assert not [t for t in threading.enumerate() if 'worker' in t.name or 'scheduler' in t.name]")
    home = host(tmp_path, "a")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env=host_env(pg_target, home), timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 16


def test_closed_connections_refuse_to_be_used(pg_target):
    conns = Connections(pg_target.url, pg_target.schema)
    conns.close()
    with pytest.raises(psycopg.OperationalError, match="closed"), conns.connection():
        pass
