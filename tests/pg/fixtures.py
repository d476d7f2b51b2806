"""A private PostgreSQL schema per test, on the server `.ci/postgres.sh` starts (MOVA_TEST_PG_URL).

Without a server the tests that need one skip, unless MOVA_REQUIRE_PG=1 (CI), where they fail.
The variables are read at import: the autouse environment fixture clears every MOVA_* variable.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import SAMPLE_DLQ

PG_URL = os.environ.get("MOVA_TEST_PG_URL")
REQUIRE_PG = os.environ.get("MOVA_REQUIRE_PG") == "1"
_reachable: str | None = None  # why the server cannot be used, once asked


@dataclass(frozen=True)
class PgTarget:
    """One test's schema on the test server."""

    url: str
    schema: str

    def env(self) -> dict[str, str]:
        """The variables that point a `mova` process at it."""
        return {"MOVA_STORE_URL": self.url, "MOVA_STORE_SCHEMA": self.schema}


def _problem() -> str:
    """Why PostgreSQL cannot be used for the tests ("" when it can)."""
    global _reachable
    if _reachable is None:
        if not PG_URL:
            _reachable = "MOVA_TEST_PG_URL is not set (source .ci/postgres.sh && mova_pg_start)"
        else:
            try:
                import psycopg

                psycopg.connect(PG_URL, connect_timeout=5).close()
                _reachable = ""
            except Exception as exc:  # noqa: BLE001  (missing extra or server: the same verdict)
                _reachable = f"PostgreSQL at MOVA_TEST_PG_URL is not usable: {exc}"
    return _reachable


def need_pg() -> str:
    """The test server's URL; skips the test without one (fails it under MOVA_REQUIRE_PG=1)."""
    problem = _problem()
    if problem:
        if REQUIRE_PG:
            pytest.fail(f"MOVA_REQUIRE_PG=1 but {problem}")
        pytest.skip(problem)
    return PG_URL or ""


@contextmanager
def _schema(*, migrated: bool) -> Iterator[PgTarget]:
    """A schema of the test's own on the test server (migrated to this version, or not created),
    dropped after the test whatever made it."""
    import psycopg

    from mova_core.store.pg.schema import migrate

    url = need_pg()
    target = PgTarget(url, f"t_{secrets.token_hex(6)}")
    if migrated:
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn, target.schema)
    try:
        yield target
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{target.schema}" CASCADE')


@pytest.fixture
def pg_target() -> Iterator[PgTarget]:
    """A fresh schema at the current version."""
    with _schema(migrated=True) as target:
        yield target


@pytest.fixture
def bare_pg_target() -> Iterator[PgTarget]:
    """A schema name with nothing created yet."""
    with _schema(migrated=False) as target:
        yield target


@pytest.fixture
def pg_env(pg_target, monkeypatch) -> PgTarget:
    """MOVA_STORE_URL and MOVA_STORE_SCHEMA set to this test's schema."""
    for name, value in pg_target.env().items():
        monkeypatch.setenv(name, value)
    return pg_target


def seed_from(store, directory: Path) -> list[str]:
    """Copy every entry the file store lists in `directory` into `store`, documents as they are;
    returns their ids."""
    from mova_core.model.listing import EntryFilter
    from mova_core.store.files import FileStore
    from mova_core.store.validate import validate_entry

    with FileStore(directory, index_path=False) as files:
        ids = [s.id for s in files.list(EntryFilter()).items]
        docs, _ = files.read_raw(ids)
    for doc in docs:
        store.create(validate_entry(f"{doc['id']}.json", doc), doc=doc)
    return ids


def seed_sample(target: PgTarget) -> None:
    """The sample entries into the target's schema (from a store of this process, closed after)."""
    from mova_core.store.pg.store import PgStore

    store = PgStore(target.url, target.schema)
    try:
        seed_from(store, SAMPLE_DLQ)
    finally:
        store.close()
