"""Several "hosts" (processes with a home and a working directory each) sharing one PostgreSQL
store: what one changes the others see, and of racing changes exactly one wins."""

from __future__ import annotations

import json

from tests.pg.fixtures import seed_sample
from tests.pg.processes import host, run_mova, start_python

ENTRY = "dlq_a71c4e88-5d2b-4f9a-b037-6c8e1f2d90ab"


def _listing(target, home) -> list[dict]:
    r = run_mova(target, home, "dlq", "list", "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_change_on_one_host_is_seen_by_the_other(pg_target, tmp_path):
    seed_sample(pg_target)
    a, b = host(tmp_path, "host-a"), host(tmp_path, "host-b")
    before = _listing(pg_target, b)
    assert len(before) == 16 and _listing(pg_target, a) == before
    r = run_mova(pg_target, a, "dlq", "archive", ENTRY[:12])
    assert r.returncode == 0, r.stderr
    after = {e["id"]: e for e in _listing(pg_target, b)}
    assert after[ENTRY]["status"] == "archived"
    assert {i: e for i, e in after.items() if i != ENTRY} == {e["id"]: e for e in before if e["id"] != ENTRY}
    shown = run_mova(pg_target, b, "dlq", "show", ENTRY[:12], "--format", "json")
    assert json.loads(shown.stdout)["status"] == "archived"
    # neither host wrote a dead-letter directory of its own
    assert not any(p.name == "state" for h in (a, b) for p in h.iterdir())


_RACE = """
import sys
from mova_core.ops.service import DLQService
from mova_core.model.errors import MovaError
svc = DLQService()
op, entry = sys.argv[1], sys.argv[2]
sys.stdin.close()
try:
    if op == "claim":
        svc.claim(entry, "retry_" + svc.actor, True, owner=svc.actor)
        print("won")
    else:
        before, _ = svc.archive_changed(entry)
        print("won" if before.status.value != "archived" else "no-op")
except MovaError as exc:
    print("lost", type(exc).__name__)
"""


def _race(target, tmp_path, op: str) -> list[str]:
    procs = [start_python(target, host(tmp_path, f"racer-{n}"), _RACE, op, ENTRY) for n in range(8)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out.strip())
    return outs


def test_eight_processes_claiming_one_entry_exactly_one_wins(pg_target, tmp_path):
    seed_sample(pg_target)
    outs = _race(pg_target, tmp_path, "claim")
    assert outs.count("won") == 1 and outs.count("lost AlreadyRetrying") == 7, outs
    from mova_core.store.pg.store import PgStore

    store = PgStore(pg_target.url, pg_target.schema)
    try:
        claims = [r for r in store.audit_log.read().records if r["op"] == "retry_claim"]
        assert len(claims) == 1 and claims[0]["entry_id"] == ENTRY
        assert store.get(ENTRY).metadata.lease.owner == claims[0]["actor"]
    finally:
        store.close()


def test_eight_processes_archiving_one_entry_exactly_one_archives(pg_target, tmp_path):
    seed_sample(pg_target)
    outs = _race(pg_target, tmp_path, "archive")
    assert outs.count("won") == 1 and outs.count("no-op") == 7, outs
