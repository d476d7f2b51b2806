"""Over PostgreSQL the shim keeps statistics and metrics until a change is committed by its own
process or announced by any host (NOTIFY), as it keeps them until the directory moves for a file
store: an unchanged queue is answered from memory, a change is never missed."""

from __future__ import annotations

import psycopg

from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from tests.pg.fixtures import seed_sample
from tests.pg.test_counters import wait_until

ENTRY = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"  # active in the sample


def _active(http) -> int:
    return http.get("/v1/dlq/stats").json()["by_status"].get("active", 0)


def _sql(target, statement: str, *args) -> None:
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute(statement.replace("S.", f'"{target.schema}".'), args)


def test_an_unchanged_queue_is_answered_from_memory_until_a_change_is_announced(pg_target, serve, tmp_path):
    seed_sample(pg_target)
    server = serve(tmp_path / "no-dir", env=pg_target.env())
    with server.client() as http:
        assert wait_until(lambda: (_active(http), _active(http)) == (11, 11))  # the listener is up: kept
        # A change no listener hears (a bare UPDATE, no NOTIFY): the kept answer stands, proving it is kept...
        _sql(pg_target, "UPDATE S.entries SET status = 'archived' WHERE id = %s", ENTRY)
        assert _active(http) == 11
        # ...until anything is announced on the channel: then the next answers are computed again.
        _sql(pg_target, "SELECT pg_notify(%s, 'x.json')", f"mova_{pg_target.schema}")
        assert wait_until(lambda: _active(http) == 10)


def test_another_hosts_change_shows_and_the_shims_own_change_shows_at_once(pg_target, serve, tmp_path):
    seed_sample(pg_target)
    server = serve(tmp_path / "no-dir", env=pg_target.env())
    with server.client() as http:
        assert wait_until(lambda: (_active(http), _active(http)) == (11, 11))
        with DLQService(Settings(store_url=pg_target.url, store_schema=pg_target.schema)) as other:
            other.archive(ENTRY)  # another host
        assert wait_until(lambda: _active(http) == 10)
        assert http.put(f"/v1/dlq/{ENTRY}/status", json={"status": "active"}).status_code == 200  # the shim itself
        assert _active(http) == 11  # no waiting: its own commit moved the stamp before it answered


def test_nothing_is_kept_while_the_listener_is_cut_off(pg_target, serve, tmp_path):
    seed_sample(pg_target)
    server = serve(tmp_path / "no-dir", env=pg_target.env())
    with server.client() as http:
        assert wait_until(lambda: (_active(http), _active(http)) == (11, 11))
        # Cut the shim's listening connection; changes meanwhile would go unheard.
        _sql(pg_target, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'LISTEN%%' AND pid <> pg_backend_pid()")
        _sql(pg_target, "UPDATE S.entries SET status = 'archived' WHERE id = %s", ENTRY)  # unannounced
        assert wait_until(lambda: _active(http) == 10)  # computed afresh, not the kept 11
