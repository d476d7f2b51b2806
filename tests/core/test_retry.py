"""Retrying from the queue through the real store and service: outcomes, claims, leases, sandbox,
background runs, secrets, and the claim race between processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from mova_core.model.entry import EntryStatus, RetryOverrides
from mova_core.model.errors import AlreadyRetrying, InvalidTransition, PolicyError
from mova_core.ops.retry import Retrier, make_retry_run_id
from mova_core.ops.service import DLQService
from mova_core.store.runs import RunStore, follow_log, wait_for_run
from mova_core.timeutil import format_time
from tests.support import FROZEN_NOW, ROOT

from .engine_fixtures import (  # noqa: F401
    FAST,
    all_bytes,
    clock,
    envelope,
    fetch,
    make_engine,
    server,
    settings,
    state,
)


def failing_entry(settings, clock, server, *, path="status/500/r", extra_actions=(), **env_extra):
    """Run a workflow that fails against the local server; return its stored entry id."""
    doc = envelope(
        {"id": "prep", "type": "set", "params": {"variable": "stage", "value": "prepared"}},
        fetch("{{ variables.base_url }}/{{ variables.path }}", retry=FAST),
        *extra_actions,
        variables={"base_url": server.url, "path": path},
        **env_extra,
    )
    out = make_engine(settings, clock).run(doc)
    assert out.status == "failed" and out.dead_letter is not None
    return out.dead_letter.id


def retry_entry(service, entry_id, *, engine, clock=None, **options):
    """A retry on the test's engine (its fake clock and seeded jitter); the lease renewed on `clock`'s time."""
    return Retrier(service, engine, **({"timer": clock.every} if clock else {})).retry(entry_id, **options)


@pytest.fixture
def service(settings, clock):
    return DLQService(settings, clock=clock.now, actor="tester@test")


def audit_ops(settings):
    return [json.loads(line)["op"] for line in settings.effective_audit_path.read_text().splitlines()]


def test_production_retry_success_resolves(server, settings, clock, service, state):
    entry_id = failing_entry(settings, clock, server)
    original = service.get(entry_id)
    claimed_at = clock.now()
    events = []
    resp = retry_entry(service, entry_id[:12], sandbox_mode=False, overrides={"variables": {"path": "ok"}},
                       on_event=events.append, engine=make_engine(settings, clock))
    assert resp.message == "DLQ entry retry initiated" and resp.dlq_id == entry_id and resp.sandbox_mode is False
    assert resp.retry_run_id == f"retry_{original.run_id}_{int(FROZEN_NOW.timestamp())}"
    result = resp.execution_result
    assert result.run_id == resp.retry_run_id and result.status == "completed" and result.start_time and result.end_time
    entry = service.get(entry_id)
    assert entry.status == EntryStatus.resolved and entry.metadata.lease is None
    assert entry.metadata.retry_count == 1 and entry.metadata.last_retry_at == format_time(claimed_at)
    [rec] = entry.retry_history
    assert (rec.retry_run_id, rec.sandbox_mode, rec.outcome, rec.error) == (resp.retry_run_id, False, "completed", None)
    assert rec.override_variables == ["path"] and rec.override_secrets == [] and rec.actor == "tester@test"
    assert entry.error_details.error_history == original.error_details.error_history  # nothing new on success
    assert audit_ops(settings)[-2:] == ["retry_claim", "retry_finish"]
    # the run saw the original variables, the overrides and the retry metadata
    record = RunStore(state / "runs").load(resp.retry_run_id)
    assert record.status == "completed" and record.dlq_id == entry_id and record.original_run_id == original.run_id
    assert record.context.variables["stage"] == "prepared" and record.context.variables["path"] == "ok"
    assert record.context.variables["__retry_metadata"] == {
        "original_run_id": original.run_id, "dlq_id": entry_id, "sandbox_mode": False, "retry_count": 1}
    assert events[-1].status == "completed"
    # a retry never writes a second entry
    assert len(list((state / "deadletter").glob("*.json"))) == 1


def test_production_retry_failure_goes_back_to_active_with_errors(server, settings, clock, service, state):
    entry_id = failing_entry(settings, clock, server, path="status/503/r")
    path = state / "deadletter" / f"{entry_id}.json"
    diagnosis = json.dumps(json.loads(path.read_text())["error_details"])

    def fail_differently(entry):
        entry.context.variables["path"] = "status/500/r"
        return entry

    service.store.update(entry_id, fail_differently)
    resp = retry_entry(service, entry_id, sandbox_mode=False, engine=make_engine(settings, clock))
    assert resp.execution_result.status == "failed"
    assert resp.execution_result.failure_reason == "max_retries_exceeded"
    entry = service.get(entry_id)
    assert entry.status == EntryStatus.active and entry.metadata.retry_count == 1
    # the diagnosis is what dead-lettered the entry, byte for byte; the retry's own is in its record
    assert json.dumps(json.loads(path.read_text())["error_details"]) == diagnosis
    assert entry.error_details.last_error == "HTTP 503: Service Unavailable"
    [rec] = entry.retry_history
    assert rec.outcome == "failed" and rec.error == "HTTP 500: Internal Server Error" and rec.attempts == 4
    assert rec.failure_reason == "max_retries_exceeded"
    assert rec.errors == [f"Attempt {n}: HTTP 500: Internal Server Error" for n in (1, 2, 3)]
    assert entry.last_retry_error == "HTTP 500: Internal Server Error"
    assert len(list((state / "deadletter").glob("*.json"))) == 1


def test_sandbox_success_never_resolves(server, settings, clock, service, state):
    entry_id = failing_entry(settings, clock, server)
    resp = retry_entry(service, entry_id, overrides=RetryOverrides(variables={"path": "ok"}),
                       engine=make_engine(settings, clock))
    assert resp.sandbox_mode is True and resp.execution_result.status == "completed"
    entry = service.get(entry_id)
    assert entry.status == EntryStatus.active and entry.retry_history[0].sandbox_mode
    assert entry.retry_history[0].outcome == "completed"
    assert (state / "sandbox" / f"{resp.retry_run_id}.json").exists()
    assert not (state / "runs" / f"{resp.retry_run_id}.json").exists()
    # then for real
    clock.advance(5)
    resp2 = retry_entry(service, entry_id, sandbox_mode=False, overrides={"variables": {"path": "ok"}},
                        engine=make_engine(settings, clock))
    assert resp2.retry_run_id != resp.retry_run_id
    entry = service.get(entry_id)
    assert entry.status == EntryStatus.resolved and entry.metadata.retry_count == 2
    assert [r.sandbox_mode for r in entry.retry_history] == [True, False]


def test_sandbox_reaches_override_hosts_and_blocks_the_rest(server, settings, clock, service):
    import httpx

    seen = []

    def staging(request: httpx.Request) -> httpx.Response:  # stands in for a staging host, no network
        seen.append(str(request.url))
        return httpx.Response(200, json={"ok": True})

    entry_id = failing_entry(settings, clock, server)
    resp = retry_entry(service, entry_id, overrides={"variables": {"base_url": "https://staging.example.com", "path": "ok"}},
                       engine=make_engine(settings, clock, http_transport=httpx.MockTransport(staging)))
    # staging.example.com is named by an override variable, so the sandbox lets the request through
    assert resp.execution_result.status == "completed" and seen == ["https://staging.example.com/ok"]
    clock.advance(1)
    entry2 = failing_entry(settings, clock, server, path="status/500/r2",
                           extra_actions=[fetch("https://prod.example.com/hook", id="hook", method="POST")])
    clock.advance(1)
    resp = retry_entry(service, entry2, overrides={"variables": {"path": "ok"}}, engine=make_engine(settings, clock))
    assert resp.execution_result.status == "failed"
    assert resp.execution_result.failure_reason == "non_retryable_error"
    assert resp.execution_result.error.startswith(
        "blocked by sandbox policy: POST to a non-allow-listed host 'prod.example.com'")
    assert server.calls("/ok") == 1  # the loopback call passed; the POST was stopped before any connection
    assert service.get(entry2).status == EntryStatus.active


def test_sandbox_gets_no_production_secrets(server, settings, clock, service, monkeypatch, state):
    monkeypatch.setenv("MOVA_SECRET_TOKEN", "production-token-777")
    hdr = {"Authorization": "Bearer {{ secrets.token }}"}
    doc_actions = [fetch("{{ variables.base_url }}/echo/t", id="call", headers=hdr)]
    entry_id = failing_entry(settings, clock, server, extra_actions=doc_actions)
    sandbox = retry_entry(service, entry_id, overrides={"variables": {"path": "ok"}}, engine=make_engine(settings, clock))
    assert sandbox.execution_result.failure_reason == "non_retryable_error"
    assert "unknown reference {{ secrets.token }}" in sandbox.execution_result.error
    clock.advance(1)
    with_secret = retry_entry(service, entry_id, overrides={"variables": {"path": "ok"}, "secrets": {"token": "sandbox-token-555"}},
                              engine=make_engine(settings, clock))
    assert with_secret.execution_result.status == "completed"
    assert server.requests[-1].headers["Authorization"] == "Bearer sandbox-token-555"
    clock.advance(1)
    prod = retry_entry(service, entry_id, sandbox_mode=False, overrides={"variables": {"path": "ok"}},
                       engine=make_engine(settings, clock))
    assert prod.execution_result.status == "completed"
    assert server.requests[-1].headers["Authorization"] == "Bearer production-token-777"
    entry = service.get(entry_id)
    assert entry.retry_history[1].override_secrets == ["token"]
    for path, data in all_bytes(state):
        assert b"production-token-777" not in data and b"sandbox-token-555" not in data, path


def test_a_claimed_entry_cannot_be_retried_twice(server, settings, clock, service):
    entry_id = failing_entry(settings, clock, server)
    service.claim(entry_id, "retry_other_1", True)
    with pytest.raises(AlreadyRetrying, match="is already being retried by tester@test"):
        retry_entry(service, entry_id, engine=make_engine(settings, clock))


def test_an_expired_lease_can_be_taken_over(server, settings, clock, service):
    entry_id = failing_entry(settings, clock, server)
    service.claim(entry_id, "retry_crashed_1", True)  # a retry process that died
    assert not service.is_stale(service.get(entry_id))
    clock.advance(settings.lease_seconds + 1)
    assert service.is_stale(service.get(entry_id))
    resp = retry_entry(service, entry_id, sandbox_mode=False, overrides={"variables": {"path": "ok"}},
                       engine=make_engine(settings, clock))
    assert resp.execution_result.status == "completed"
    entry = service.get(entry_id)
    assert entry.status == EntryStatus.resolved and entry.metadata.retry_count == 2
    with pytest.raises(InvalidTransition, match="no longer holds"):  # the dead process cannot release it now
        from mova_core.model.entry import RetryRecord

        service.finish_retry(entry_id, "retry_crashed_1", "active",
                             RetryRecord(retry_run_id="retry_crashed_1", sandbox_mode=True, start_time=entry.created_at))


def test_only_active_entries_are_retried(server, settings, clock, service):
    entry_id = failing_entry(settings, clock, server)
    service.archive(entry_id)
    with pytest.raises(InvalidTransition, match="only active entries can be retried"):
        retry_entry(service, entry_id, engine=make_engine(settings, clock))


def test_an_invalid_stored_envelope_is_refused_before_the_claim(server, settings, clock, service):
    entry_id = failing_entry(settings, clock, server)

    def break_it(entry):
        entry.envelope.actions[0].params = {"value": 1}  # `variable` missing
        return entry

    service.store.update(entry_id, break_it)
    with pytest.raises(PolicyError, match=r"cannot retry .*\n  actions\[0\]\.params\.variable: is required"):
        retry_entry(service, entry_id, engine=make_engine(settings, clock))
    entry = service.get(entry_id)
    assert entry.status == EntryStatus.active and entry.metadata.retry_count == 0


def test_ctrl_c_during_a_retry_releases_the_claim(server, settings, clock, service, state):
    entry_id = failing_entry(settings, clock, server)

    def interrupted(seconds):
        raise KeyboardInterrupt

    engine = make_engine(settings, clock, sleep=interrupted)
    with pytest.raises(KeyboardInterrupt):
        retry_entry(service, entry_id, sandbox_mode=False, engine=engine)
    entry = service.get(entry_id)
    assert entry.status == EntryStatus.active and entry.metadata.lease is None
    assert entry.retry_history[-1].outcome == "cancelled"
    assert RunStore(state / "runs").load(entry.retry_history[-1].retry_run_id).status == "cancelled"


def test_retry_through_the_service(server, settings, clock, service):
    entry_id = failing_entry(settings, clock, server)
    resp = service.retry(entry_id, sandbox_mode=False, overrides=RetryOverrides(variables={"path": "ok"}))
    assert resp.execution_result.status == "completed"
    assert service.get(entry_id).status == EntryStatus.resolved


def test_two_retries_in_the_same_second_get_distinct_run_ids(server, settings, clock, service):
    entry_id = failing_entry(settings, clock, server)
    ok = {"variables": {"path": "ok"}}
    first = retry_entry(service, entry_id, overrides=ok, engine=make_engine(settings, clock))
    second = retry_entry(service, entry_id, overrides=ok, engine=make_engine(settings, clock))
    assert second.retry_run_id == first.retry_run_id + "_2"
    assert [r.retry_run_id for r in service.get(entry_id).retry_history] == [first.retry_run_id, second.retry_run_id]


def test_retry_run_id_format():
    assert make_retry_run_id("run_1642588245123456789", FROZEN_NOW + timedelta(seconds=0.9)) == (
        f"retry_run_1642588245123456789_{int(FROZEN_NOW.timestamp())}")


def test_background_retry_can_be_followed(server, settings, state, monkeypatch):
    """wait=False: claim here, run in a detached worker; override secrets travel by pipe only."""
    from mova_core.engine.engine import Engine
    from mova_core.store.files import FileStore

    monkeypatch.setenv("MOVA_SECRET_UNUSED", "env-secret-999")
    failing = Engine(settings, sleep=lambda s: None, dead_letters=FileStore(settings.dlq_path), run_records=RunStore)
    doc = envelope(fetch("{{ variables.base_url }}/{{ variables.path }}", retry=FAST,
                         headers={"X-Api-Key": "{{ secrets.api_key }}"}),
                   variables={"base_url": server.url, "path": "status/500/bg"}, secrets={"api_key": "inline-key-0001"})
    entry_id = failing.run(doc).dead_letter.id
    service = DLQService(settings)
    resp = service.retry(entry_id, sandbox_mode=False, wait=False,
                         overrides={"variables": {"path": "echo/bg"}, "secrets": {"api_key": "bg-secret-0042"}})
    assert resp.execution_result is None
    assert service.get(entry_id).status in (EntryStatus.retrying, EntryStatus.resolved)
    record = wait_for_run(settings, resp.retry_run_id, timeout=15, poll=0.05)
    assert record.status == "completed", record.error
    events = list(follow_log(settings, resp.retry_run_id, timeout=5, poll=0.05))
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "run_finished"
    assert server.requests[-1].headers["X-Api-Key"] == "bg-secret-0042"
    entry = service.get(entry_id)
    assert entry.status == EntryStatus.resolved and entry.retry_history[0].override_secrets == ["api_key"]
    for path, data in all_bytes(state):
        for secret in (b"bg-secret-0042", b"inline-key-0001", b"env-secret-999"):
            assert secret not in data, (secret, path)


RACE = r"""
import json, sys, time
from mova_core.model.errors import AlreadyRetrying
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
import os, pathlib
settings = Settings(dlq_path=sys.argv[1])
barrier = pathlib.Path(sys.argv[3])
(barrier / f"{os.getpid()}.ready").touch()
deadline = time.time() + 10
while len(list(barrier.glob("*.ready"))) < 2 and time.time() < deadline:  # both imported: go together
    time.sleep(0.001)
try:
    resp = DLQService(settings).retry(sys.argv[2], sandbox_mode=True, overrides={"variables": {"path": "ok"}})
    print(json.dumps({"won": resp.execution_result.status}))
except AlreadyRetrying as exc:
    print(json.dumps({"lost": str(exc)}))
"""


def test_claim_race_between_processes(server, settings, clock, service):
    nap = {"id": "nap", "type": "sleep", "params": {"seconds": "{{ variables.nap }}"}}
    entry_id = failing_entry(settings, clock, server, extra_actions=[nap])

    def set_nap(entry):
        entry.context.variables["nap"] = 0.6  # the winner holds the claim while the loser tries
        return entry

    service.store.update(entry_id, set_nap)
    barrier = settings.dlq_path.parent / "barrier"
    barrier.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(settings.dlq_path), entry_id, str(barrier)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=20)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(next(iter(r)) for r in results) == ["lost", "won"]
    assert next(r["won"] for r in results if "won" in r) == "completed"
    assert "is already being retried" in next(r["lost"] for r in results if "lost" in r)
    entry = service.get(entry_id)
    assert entry.metadata.retry_count == 1 and len(entry.retry_history) == 1 and entry.status == EntryStatus.active


def test_sigterm_cancels_a_background_retry_cleanly(server, settings, clock, service, state):
    import signal

    from mova_core.store.runs import find_run

    nap = {"id": "nap", "type": "sleep", "params": {"seconds": 30}}
    entry_id = failing_entry(settings, clock, server, extra_actions=[nap])
    real = DLQService(settings)
    resp = real.retry(entry_id, sandbox_mode=False, wait=False, overrides={"variables": {"path": "ok"}})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the worker is inside the 30 s sleep
        store, record = find_run(settings, resp.retry_run_id)
        if any(e.get("action_id") == "nap" for e in store.read_log(resp.retry_run_id)):
            break
        time.sleep(0.02)
    os.kill(record.pid, signal.SIGTERM)
    record = wait_for_run(settings, resp.retry_run_id, timeout=10)
    assert record.status == "cancelled"
    entry = real.get(entry_id)
    assert entry.status == EntryStatus.active and entry.metadata.lease is None
    assert entry.retry_history[-1].outcome == "cancelled"
    assert not [p for p in state.rglob("*.tmp")]


def test_a_long_retry_renews_its_lease(server, settings, clock, service):
    """Waits between attempts advance the clock past the lease; heartbeats keep it, so no takeover."""
    settings.lease_seconds = 30
    entry_id = failing_entry(settings, clock, server)
    seen = []

    def watch(event):
        entry = service.get(entry_id)
        if entry.metadata.lease is not None:
            seen.append((clock.now(), entry.metadata.lease.expires_at))

    slow = {"max_attempts": 4, "backoff": "fixed", "delay": 20, "jitter": False}
    doc = service.get(entry_id).envelope
    doc.actions[1].retry = doc.actions[1].retry.model_validate(slow)
    service.store.update(entry_id, lambda e: setattr(e.envelope.actions[1], "retry", doc.actions[1].retry))
    resp = retry_entry(service, entry_id, sandbox_mode=False, on_event=watch, engine=make_engine(settings, clock),
                       clock=clock)
    assert resp.execution_result.status == "failed"
    assert clock.now() - FROZEN_NOW > timedelta(seconds=60)  # the run outlived two lease periods
    # at every event the lease was still live at that moment
    from mova_core.timeutil import parse_time

    assert seen and all(parse_time(expires) > now for now, expires in seen)
    assert service.get(entry_id).status == EntryStatus.active


def test_taking_over_a_dead_retry_closes_its_run_record(server, settings, clock, service):
    # Found by the reliability suite: the killed retry's run record said `running` for ever, so
    # `mova dlq show` of that run, or anyone following its log, waited on a dead process.
    from mova_core.model.entry import RetryRecord
    from mova_core.model.run import RunRecord
    from mova_core.store.runs import store_for

    entry_id = failing_entry(settings, clock, server)
    service.claim(entry_id, "retry_dead_1", True)
    store_for(settings, True).save(RunRecord(run_id="retry_dead_1", status="running", sandbox_mode=True, dlq_id=entry_id))
    clock.advance(settings.lease_seconds + 1)
    resp = retry_entry(service, entry_id, engine=make_engine(settings, clock))
    dead = store_for(settings, True).load("retry_dead_1")
    assert dead.finished and dead.status == "failed" and dead.error.startswith("abandoned:")
    history = service.get(entry_id).retry_history
    assert [r.retry_run_id for r in history] == ["retry_dead_1", resp.retry_run_id]
    assert [r.outcome for r in history] == ["abandoned", "failed"]
    assert isinstance(history[0], RetryRecord) and service.get(entry_id).metadata.retry_count == 2


def test_a_cancelled_retry_returns_at_once_and_gives_the_entry_back(server, settings, clock, service, state):
    """`DLQService.retry(cancel=...)`: a policy waiting 40 s between attempts, cancelled from another
    thread, returns within a fraction of a second; the entry is `active` with the cancelled attempt."""
    import threading

    from mova_core.engine.events import AttemptFailed

    slow = {"max_attempts": 3, "backoff": "fixed", "delay": 40, "jitter": False}
    entry_id = failing_entry(settings, clock, server)
    service.store.update(entry_id, lambda e: setattr(e.envelope.actions[1], "retry",
                                                     e.envelope.actions[1].retry.model_validate(slow)))
    cancel = threading.Event()
    cancelled_at = []

    def on_event(event):
        if isinstance(event, AttemptFailed):
            def press_quit():
                cancelled_at.append(time.monotonic())
                cancel.set()
            threading.Timer(0.05, press_quit).start()

    real = DLQService(settings)  # real time: the engine waits on the cancel signal
    resp = real.retry(entry_id, sandbox_mode=False, on_event=on_event, cancel=cancel)
    assert time.monotonic() - cancelled_at[0] < 0.5
    assert resp.execution_result.status == "cancelled"
    entry = real.get(entry_id)
    assert entry.status == EntryStatus.active and entry.metadata.lease is None
    [rec] = entry.retry_history
    assert (rec.retry_run_id, rec.outcome, rec.failure_reason) == (resp.retry_run_id, "cancelled", "cancelled")
    assert RunStore(state / "runs").load(resp.retry_run_id).status == "cancelled"
    # one event may serve many retries: the next retry with it set stops before its first attempt
    calls = server.calls("/status/500/r")
    again = real.retry(entry_id, sandbox_mode=False, cancel=cancel)
    assert again.execution_result.status == "cancelled" and server.calls("/status/500/r") == calls


def test_a_failed_production_retry_keeps_the_entry_in_its_failure_group(sample_dlq):
    """The forgotten secret: the retry fails with "unknown reference {{ secrets.api_key }}", and the
    entry keeps its diagnosis and its group (so `retry --all --group` still finds all five)."""
    from mova_core.model.listing import EntryFilter
    from mova_core.settings import Settings

    entry_id = "dlq_3f9a2c71-8e4b-4d05-b6a2-91c7e0d45f18"
    path = sample_dlq / f"{entry_id}.json"
    diagnosis = json.dumps(json.loads(path.read_text())["error_details"])
    service = DLQService(Settings(dlq_path=sample_dlq))
    [group] = [g for g in service.groups() if g.fingerprint == "2a70b49f9c69"]
    assert group.count == 5
    resp = service.retry(entry_id, sandbox_mode=False)
    assert resp.execution_result.status == "failed"
    assert "unknown reference {{ secrets.api_key }}" in resp.execution_result.error
    [group] = [g for g in service.groups() if g.fingerprint == "2a70b49f9c69"]
    assert group.count == 5
    assert entry_id in [s.id for s in service.list(EntryFilter(fingerprint="2a70b49f9c69")).items]
    assert json.dumps(json.loads(path.read_text())["error_details"]) == diagnosis
    entry = service.get(entry_id)
    assert entry.error_details.last_error.startswith("network timeout: failed to connect to https://api.example.com")
    rec = entry.retry_history[-1]
    assert rec.outcome == "failed" and rec.failure_reason == "non_retryable_error"
    assert rec.errors and "unknown reference {{ secrets.api_key }}" in rec.errors[-1]
    assert rec.error == resp.execution_result.error and entry.last_retry_error == rec.error


def test_a_go_engine_entry_keeps_every_field_but_the_retrys_own(settings, clock, state):
    """A failed production retry of a Go-engine file changes only what mova owns: status, the
    retry's metadata and its record."""
    import httpx

    from tests.support import GO_ENTRY

    original = json.loads(GO_ENTRY.read_text())
    path = state / "deadletter" / f"{original['id']}.json"
    path.write_text(GO_ENTRY.read_text())
    service = DLQService(settings, clock=clock.now)
    engine = make_engine(settings, clock, http_transport=httpx.MockTransport(lambda r: httpx.Response(502)))
    resp = retry_entry(service, original["id"], sandbox_mode=False, engine=engine)
    assert resp.execution_result.status == "failed"
    after = json.loads(path.read_text())
    owned_meta = {"retry_count", "last_retry_at", "lease"}
    for doc in (original, after):
        for key in ("status", "updated_at", "retry_history"):
            doc.pop(key, None)
        doc["metadata"] = {k: v for k, v in doc["metadata"].items() if k not in owned_meta}
    assert after == original
    assert json.dumps(after["error_details"]) == json.dumps(original["error_details"])
