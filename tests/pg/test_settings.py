"""MOVA_STORE_URL and MOVA_STORE_SCHEMA: validated when read, the password masked wherever shown."""

from __future__ import annotations

import pytest

from mova_core.model.errors import InvalidSetting
from mova_core.settings import Settings, mask_url


def test_unset_means_the_file_store(monkeypatch):
    s = Settings()
    assert s.store_url is None and s.store_url_shown is None and s.store_schema == "mova"


def test_a_postgres_url_is_kept_secret_and_shown_masked(monkeypatch):
    monkeypatch.setenv("MOVA_STORE_URL", "postgresql://bob:hunter2@db:5432/mova?sslmode=require")
    s = Settings()
    assert s.store_url.get_secret_value().startswith("postgresql://bob:hunter2@")
    assert s.store_url_shown == "postgresql://bob:***@db:5432/mova?sslmode=require"
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())


@pytest.mark.parametrize("url, shown", [
    ("postgres://u:p@h/d", "postgres://u:***@h/d"),
    ("postgresql://u@h/d", "postgresql://u@h/d"),
    ("postgresql://h/d?user=u&password=p&x=1", "postgresql://h/d?user=u&password=***&x=1"),
    ("postgresql://u:p%40ss@h/d", "postgresql://u:***@h/d"),
])
def test_mask_url(url, shown):
    assert mask_url(url) == shown


def test_an_invalid_url_or_schema_is_an_error_naming_the_variable_without_the_password(monkeypatch):
    monkeypatch.setenv("MOVA_STORE_URL", "mysql://bob:hunter2@db/mova")
    monkeypatch.setenv("MOVA_STORE_SCHEMA", "Team-Queue")
    s = Settings()
    with pytest.raises(InvalidSetting) as url_err:
        s.store_url
    assert "hunter2" not in str(url_err.value)
    assert str(url_err.value) == "MOVA_STORE_URL='mysql://bob:***@db/mova' is not valid: use a postgresql:// URL"
    with pytest.raises(InvalidSetting, match="MOVA_STORE_SCHEMA='Team-Queue' is not valid: use lower-case letters"):
        s.store_schema
    assert s.dlq_path  # the other settings still read


def test_a_schema_name_leaves_room_for_its_notification_channel(monkeypatch):
    monkeypatch.setenv("MOVA_STORE_SCHEMA", "q" * 58)
    assert len("mova_" + Settings().store_schema) == 63  # PostgreSQL's longest identifier
    monkeypatch.setenv("MOVA_STORE_SCHEMA", "q" * 59)
    with pytest.raises(InvalidSetting, match="at most 58"):
        Settings().store_schema


def test_store_url_option_is_the_variable(pg_target, tmp_path):
    """`mova --store-url URL` selects the shared store as MOVA_STORE_URL does (and wins over it)."""
    from tests.pg.fixtures import seed_sample
    from tests.pg.processes import host, run_mova

    seed_sample(pg_target)
    home = host(tmp_path, "host-a")
    done = run_mova(None, home, "--store-url", pg_target.url, "dlq", "stats", "--format", "json",
                    MOVA_STORE_SCHEMA=pg_target.schema, MOVA_STORE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert done.returncode == 0, done.stderr
    assert '"total_entries": 16' in done.stdout or '"total_entries":16' in done.stdout
    bad = run_mova(None, home, "--store-url", "mysql://bob:pw@db/x", "dlq", "stats")
    assert bad.returncode == 2 and "pw" not in bad.stderr and "postgresql://" in bad.stderr
