"""`mova db init` / `migrate`, and what every command says over a schema missing, older or newer."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg

from mova_core.store.pg.schema import SCHEMA_VERSION, migrate
from tests.pg.processes import host, host_env, run_mova, start_python
from tests.support import ROOT, SAMPLE_DLQ


def _versions(target) -> list[int]:
    with psycopg.connect(target.url, autocommit=True) as conn:
        return [r[0] for r in conn.execute(f'SELECT version FROM "{target.schema}".schema_version ORDER BY 1')]


def test_commands_over_a_missing_schema_say_to_migrate(bare_pg_target, tmp_path):
    r = run_mova(bare_pg_target, host(tmp_path, "a"), "dlq", "list")
    assert r.returncode == 2 and "run `mova db migrate`" in r.stderr and "Traceback" not in r.stderr


def test_init_creates_and_is_idempotent(bare_pg_target, tmp_path):
    home = host(tmp_path, "a")
    first = run_mova(bare_pg_target, home, "db", "init")
    assert first.returncode == 0 and f"created schema {bare_pg_target.schema}" in first.stderr
    again = run_mova(bare_pg_target, home, "db", "init", "--format", "json")
    assert again.returncode == 0
    assert json.loads(again.stdout) == {"schema": bare_pg_target.schema, "store": bare_pg_target.url,
                                        "version_before": SCHEMA_VERSION, "version": SCHEMA_VERSION,
                                        "version_wanted": SCHEMA_VERSION}
    assert run_mova(bare_pg_target, home, "dlq", "stats").returncode == 0
    assert _versions(bare_pg_target) == list(range(1, SCHEMA_VERSION + 1))


def test_migrating_from_the_previous_version_keeps_the_entries(bare_pg_target, tmp_path):
    from psycopg_pool import ConnectionPool

    from mova_core.store.pg.store import PgStore
    from tests.pg.fixtures import seed_from

    with psycopg.connect(bare_pg_target.url, autocommit=True) as conn:
        assert migrate(conn, bare_pg_target.schema, SCHEMA_VERSION - 1) == (0, SCHEMA_VERSION - 1)
    with ConnectionPool(bare_pg_target.url, min_size=1, kwargs={"autocommit": True}) as pool:
        seed_from(PgStore(bare_pg_target.url, bare_pg_target.schema, pool=pool), SAMPLE_DLQ)  # as the old mova did
    home = host(tmp_path, "a")
    old = run_mova(bare_pg_target, home, "dlq", "list")
    assert old.returncode == 2
    assert f"is at version {SCHEMA_VERSION - 1}, this mova needs {SCHEMA_VERSION}: run `mova db migrate`" in old.stderr
    done = run_mova(bare_pg_target, home, "db", "migrate")
    assert done.returncode == 0 and f"from version {SCHEMA_VERSION - 1} to {SCHEMA_VERSION}" in done.stderr
    listed = run_mova(bare_pg_target, home, "dlq", "list", "--format", "json")
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 16
    assert run_mova(bare_pg_target, home, "dlq", "archive", "dlq_a71c4e88").returncode == 0


def test_a_schema_newer_than_this_mova_is_refused(pg_target, tmp_path):
    with psycopg.connect(pg_target.url, autocommit=True) as conn:
        conn.execute(f'INSERT INTO "{pg_target.schema}".schema_version (version) VALUES (%s)', (SCHEMA_VERSION + 1,))
    home = host(tmp_path, "a")
    for argv in (["dlq", "list"], ["db", "migrate"]):
        r = run_mova(pg_target, home, *argv)
        assert r.returncode == 2 and "newer than this mova" in r.stderr and "upgrade mova" in r.stderr


_MIGRATE = "from mova_core.ops.database import migrate_store; from mova_core.settings import Settings; " \
           "s = migrate_store(Settings()); print(s.before, s.after)"


def test_two_hosts_migrating_at_once_apply_each_step_once(bare_pg_target, tmp_path):
    procs = [start_python(bare_pg_target, host(tmp_path, f"h{n}"), _MIGRATE) for n in range(4)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(out.split())
    assert sorted(results) == [["0", str(SCHEMA_VERSION)]] + [[str(SCHEMA_VERSION)] * 2] * 3
    assert _versions(bare_pg_target) == list(range(1, SCHEMA_VERSION + 1))


def test_the_password_is_never_printed(tmp_path):
    home = host(tmp_path, "a")
    for url, code in (("postgresql://bob:hunter2@127.0.0.1:1/mova", 1), ("mysql://bob:hunter2@db/mova", 2)):
        for argv in (["dlq", "list"], ["db", "init"]):
            r = run_mova(None, home, *argv, MOVA_STORE_URL=url)
            assert r.returncode == code, r.stderr
            assert "hunter2" not in r.stderr + r.stdout and "bob:***@" in r.stderr


def test_db_commands_need_a_store_url(tmp_path):
    r = run_mova(None, host(tmp_path, "a"), "db", "migrate")
    assert r.returncode == 2 and "set MOVA_STORE_URL" in r.stderr


def test_without_the_extra_a_store_url_is_a_clear_error(tmp_path):
    code = ("import sys; sys.modules['psycopg'] = None; sys.modules['psycopg_pool'] = None; "
            "sys.argv = ['mova', *sys.argv[1:]]; from mova_tui.cli.main import run; run()")
    home = host(tmp_path, "a")
    for argv in (["dlq", "list"], ["db", "init"]):
        r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=home, timeout=60,
                           env=host_env(None, home, MOVA_STORE_URL="postgresql://bob:hunter2@127.0.0.1:1/mova"))
        assert r.returncode == 1 and "pip install 'mova[postgres]'" in r.stderr, r.stderr


def test_the_file_store_never_loads_psycopg(tmp_path, sample_dlq):
    code = ("import sys; sys.argv = ['mova', '--dlq-path', sys.argv[1], 'dlq', 'list']\n"
            "from mova_tui.cli.main import run\n"
            "try:\n    run()\nexcept SystemExit:\n    pass\n"
            "assert not [m for m in sys.modules if m.startswith(('psycopg', 'mova_core.store.pg'))]")
    home = host(tmp_path, "a")
    r = subprocess.run([sys.executable, "-c", code, str(sample_dlq)], capture_output=True, text=True, cwd=ROOT,
                       env=host_env(None, home), timeout=60)
    assert r.returncode == 0, r.stderr
