"""Maintenance runs hold a store-wide lock, on both stores: one purge at a time, across processes
and hosts, and a killed holder's lock is gone with it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mova_core.model.errors import StoreError
from mova_core.store.files import FileStore
from tests.support import ROOT

_HOLDER = """
import sys, time
from mova_core.settings import Settings
from mova_core.store.open import open_store
store = open_store(Settings())
lock = store.exclusive("purge")  # kept: a collected generator would let go
lock.__enter__()
print("held", flush=True)
time.sleep(120)
"""


def _second_store(kind, store):
    """Another store over the same entries, with its own connections (another process's, in effect)."""
    if kind == "file":
        return FileStore(store.directory)
    from mova_core.store.pg.store import PgStore

    return PgStore(store.url, store.schema)


def _env(kind, store) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOVA_")} | {"PYTHONPATH": str(ROOT)}
    if kind == "file":
        return env | {"MOVA_DLQ_PATH": str(store.directory)}
    return env | {"MOVA_STORE_URL": store.url, "MOVA_STORE_SCHEMA": store.schema}


def test_a_purge_is_refused_while_another_holds_the_lock_and_purges_nothing(kind, store, service):
    other = _second_store(kind, store)
    try:
        with other.exclusive("purge"):
            with pytest.raises(StoreError, match="another purge is running"):
                service.purge(older_than_days=0)
            assert service.stats().total_entries == 16  # nothing was removed
            assert service.purge(older_than_days=0, dry_run=True).removed  # a dry run needs no lock
        assert len(service.purge(older_than_days=0).removed) == 4  # released: the next purge runs
    finally:
        other.close()


def test_the_lock_is_held_for_the_whole_run_and_released_after_a_failure(kind, store, service):
    with store.exclusive("purge"):
        other = _second_store(kind, store)
        try:
            with pytest.raises(StoreError, match="another purge is running"), other.exclusive("purge"):
                pass
        finally:
            other.close()
    with pytest.raises(RuntimeError), store.exclusive("purge"):
        raise RuntimeError("the run failed")
    with store.exclusive("purge"):  # the failed run let go of it
        pass


def test_a_killed_holders_lock_dies_with_it(kind, store, service):
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER], env=_env(kind, store), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held", holder.stderr.read()
        with pytest.raises(StoreError, match="another purge is running"):
            service.purge(older_than_days=0)
        cli = subprocess.run([sys.executable, "-m", "mova_tui.cli.main", "dlq", "purge", "--older-than", "0"],
                             env=_env(kind, store), capture_output=True, text=True, timeout=60)
        assert cli.returncode == 1 and "another purge is running" in cli.stderr, (cli.returncode, cli.stderr)
        assert "nothing was done" in cli.stderr and service.stats().total_entries == 16
    finally:
        holder.kill()
        holder.wait(timeout=30)
    # PostgreSQL notices the closed session at once (the socket closes with the process).
    assert len(service.purge(older_than_days=0).removed) == 4


def test_the_service_judges_time_by_its_stores_clock(kind, store):
    from datetime import timedelta

    from mova_core.ops.service import DLQService
    from mova_core.settings import Settings
    from mova_core.timeutil import utcnow

    svc = DLQService(Settings(), store)
    assert svc.clock == store.clock  # the server's over PostgreSQL, this host's for a directory
    assert abs(svc.clock() - utcnow()) < timedelta(seconds=5)  # one machine here: the same time
