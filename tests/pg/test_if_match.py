"""`If-Match` over the shared store: a change made on the version another host read, or not at all."""

from __future__ import annotations

import pytest

from mova_core.model.errors import PreconditionFailed
from mova_core.model.etag import entry_etag
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.store.files import FileStore
from tests.pg.fixtures import seed_sample
from tests.support import SAMPLE_DLQ

ENTRY = "dlq_a71c4e88-5d2b-4f9a-b037-6c8e1f2d90ab"


def test_a_change_on_a_stale_version_is_refused_and_tags_agree_across_stores(pg_target, tmp_path):
    seed_sample(pg_target)
    settings = Settings(dlq_path=tmp_path / "unused", store_url=pg_target.url, store_schema=pg_target.schema)
    host_a, host_b = DLQService(settings), DLQService(settings)
    tag = entry_etag(host_a.get(ENTRY).to_json_dict())
    with FileStore(SAMPLE_DLQ, index_path=False) as files:  # the same entry has the same tag in a directory
        assert entry_etag(files.get(ENTRY).to_json_dict()) == tag
    host_b.archive(ENTRY)
    with pytest.raises(PreconditionFailed):
        host_a.set_status(ENTRY, "resolved", if_match=tag)
    assert host_a.get(ENTRY).status == "archived"
    fresh = entry_etag(host_a.get(ENTRY).to_json_dict())
    assert host_a.set_status(ENTRY, "active", if_match=fresh).status == "active"
    host_a.close()
    host_b.close()
