"""Retries over the PostgreSQL store: in the foreground, and in the background, whose worker
processes reach the database with the store's URL without it ever touching a file."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from tests.core.engine_fixtures import all_bytes
from tests.core.test_background import SlowServer
from tests.pg.fixtures import PgTarget
from tests.pg.processes import host, run_mova
from tests.reliability.support import write_entries

PASSWORD = "db-pass-7731"  # trust authentication ignores it: what matters is where it travels


@pytest.fixture
def upstream():
    """A loopback upstream answering 200 at once."""
    server = SlowServer(delay=0)
    yield server.url
    server.close()


def _with_password(target: PgTarget) -> PgTarget:
    parts = urlsplit(target.url)
    netloc = f"{parts.username}:{PASSWORD}@{parts.hostname}:{parts.port}"
    return PgTarget(urlunsplit(parts._replace(netloc=netloc)), target.schema)


def _seeded(target: PgTarget, tmp_path: Path, url: str, count: int) -> tuple[DLQService, list[str]]:
    ids = write_entries(tmp_path / "source", count, url)
    service = DLQService(Settings(dlq_path=tmp_path / "unused", store_url=target.url, store_schema=target.schema))
    assert service.import_dir(tmp_path / "source").imported == count
    return service, ids


def test_a_retry_in_the_foreground_resolves_the_shared_entry(pg_target, tmp_path, upstream):
    service, (entry_id,) = _seeded(pg_target, tmp_path, upstream, 1)
    done = run_mova(pg_target, host(tmp_path, "host-a"), "dlq", "retry", entry_id, "--no-sandbox", "--wait")
    assert done.returncode == 0, done.stderr
    entry = service.get(entry_id)
    assert entry.status == "resolved" and [r.outcome for r in entry.retry_history] == ["completed"]
    service.close()


def test_background_retries_reach_the_database_and_its_password_never_touches_a_file(pg_target, tmp_path,
                                                                                     upstream):
    target = _with_password(pg_target)
    service, ids = _seeded(target, tmp_path, upstream, 3)
    home = host(tmp_path, "host-a")
    for entry_id in ids:  # queued for the host's queue worker, at most MOVA_MAX_BACKGROUND_RETRIES at once
        done = run_mova(target, home, "dlq", "retry", entry_id, "--no-sandbox", MOVA_MAX_BACKGROUND_RETRIES="1")
        assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(service.get(i).status == "resolved" for i in ids):
            break
        time.sleep(0.05)
    assert [service.get(i).status for i in ids] == ["resolved"] * 3
    assert all([r.outcome for r in service.get(i).retry_history] == ["completed"] for i in ids)
    for path, data in all_bytes(tmp_path):
        assert PASSWORD.encode() not in data, path
    service.close()


def test_background_retries_from_two_hosts_share_one_limit(pg_target, tmp_path):
    """MOVA_MAX_BACKGROUND_RETRIES counts across hosts: with a limit of 1, two hosts' queue workers
    never run two retries at once (each holds one of the store's places while it runs), and every
    job still runs."""
    slow = SlowServer(delay=1.0)
    try:
        service, ids = _seeded(pg_target, tmp_path, slow.url, 4)
        homes = [host(tmp_path, "host-a"), host(tmp_path, "host-b")]
        for n, entry_id in enumerate(ids):  # a, b, a, b: both hosts' queues busy at once
            done = run_mova(pg_target, homes[n % 2], "dlq", "retry", entry_id, "--no-sandbox",
                            MOVA_MAX_BACKGROUND_RETRIES="1")
            assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all(service.get(i).status == "resolved" for i in ids):
            time.sleep(0.1)
        assert [service.get(i).status for i in ids] == ["resolved"] * 4
        assert slow.most_in_flight == 1 and slow.served == 4
        while service.store.slots_held("background-retries", 1) and time.monotonic() < deadline:
            time.sleep(0.05)  # the last worker gives its place back as it exits
        assert service.store.slots_held("background-retries", 1) == 0
        service.close()
    finally:
        slow.close()
