"""The store contract's fixtures: one seeded store of each kind, and the service over it."""

from __future__ import annotations

import pytest

from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.store.files import FileStore
from tests.pg.fixtures import bare_pg_target, need_pg, pg_env, pg_target, seed_from  # noqa: F401  (fixtures)
from tests.support import FROZEN_NOW, SAMPLE_DLQ

KINDS = ["file", "postgres"]


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    if request.param == "postgres":
        need_pg()
    return request.param


@pytest.fixture
def store(kind, request, sample_dlq):
    """The sample entries in a store of each kind."""
    if kind == "file":
        s = FileStore(sample_dlq)
    else:
        from mova_core.store.pg.store import PgStore

        target = request.getfixturevalue("pg_target")
        s = PgStore(target.url, target.schema)
        seed_from(s, SAMPLE_DLQ)
    yield s
    s.close()


@pytest.fixture
def service(store, sample_dlq) -> DLQService:
    """The service over `store` (audit: the file log, or the store's table), at the sample's "now"."""
    return DLQService(Settings(dlq_path=sample_dlq), store, clock=lambda: FROZEN_NOW, actor="alice@ops")
