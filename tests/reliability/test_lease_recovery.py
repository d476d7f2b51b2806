"""Lease recovery: a retry killed mid-run (foreground `--wait`, or the detached background worker)
leaves its entry `retrying`. Until the lease expires another retry is refused with a clear error and
the entry is not flagged; once it has expired, listings flag it stale and a new retry takes it over."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mova_core.store.audit import AuditLog
from mova_core.timeutil import parse_time

from .support import (
    assert_sound,
    bug_lines,
    check_directory,
    child_env,
    finish,
    mova_command,
    start,
    write_entries,
)

pytestmark = pytest.mark.reliability

#: Long enough for a `mova dlq list` and a refused `retry` after the kills on a machine loaded by
#: other test suites (each command can take two seconds there).
LEASE_SECONDS = 6.0


class HangThenFail:
    """A loopback upstream: requests hang while `hanging` is set, otherwise answer 500 at once."""

    def __init__(self):
        self.hanging = threading.Event()
        self.hanging.set()
        self.release = threading.Event()
        self.arrived = threading.Semaphore(0)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if outer.hanging.is_set():
                    outer.arrived.release()
                    outer.release.wait(30)
                body = b'{"error": "boom"}'
                try:
                    self.send_response(500)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client was killed

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/data"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def upstream():
    server = HangThenFail()
    yield server
    server.close()


def _doc(dlq: Path, entry_id: str) -> dict:
    return json.loads((dlq / f"{entry_id}.json").read_text())


def _wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def _pid_of_run(state: Path, run_id: str) -> int:
    def read():
        path = state / "sandbox" / f"{run_id}.json"
        try:
            return json.loads(path.read_text()).get("pid")
        except (OSError, ValueError):
            return None

    return _wait_for(read)


def test_killed_retries_are_flagged_then_taken_over(tmp_path, upstream, figures):
    state = tmp_path / "state"
    dlq = state / "deadletter"
    foreground, background = write_entries(dlq, 2, upstream.url)
    env = child_env(dlq, MOVA_LEASE_SECONDS=str(LEASE_SECONDS))
    work = tmp_path / "work"
    work.mkdir()

    # 1. A foreground retry and a background one both reach the hanging upstream; both are killed.
    fg = start("retry", mova_command("dlq", "retry", foreground, "--wait"), env, work)
    bg = finish(start("retry", mova_command("dlq", "retry", background), env, work))
    assert bg.returncode == 0, bg.stderr
    worker_pid = _pid_of_run(state, bg.stdout.strip())
    for _ in range(2):
        assert upstream.arrived.acquire(timeout=20), "a retry never reached the upstream"
    # Each is killed just after its lease was renewed, so the lease outlives it by about a period.
    for entry_id, kill in ((foreground, lambda: fg.popen.send_signal(signal.SIGKILL)),
                           (background, lambda: os.kill(worker_pid, signal.SIGKILL))):
        renewed = _doc(dlq, entry_id)["metadata"]["lease"]["expires_at"]
        _wait_for(lambda entry_id=entry_id, renewed=renewed:
                  _doc(dlq, entry_id)["metadata"]["lease"]["expires_at"] != renewed)
        kill()
    finish(fg)

    def gone() -> bool:  # reaped, or a zombie where nobody reaps detached processes
        try:
            return Path(f"/proc/{worker_pid}/stat").read_text().split()[2] == "Z"
        except OSError:
            return True

    _wait_for(gone)
    upstream.hanging.clear()
    upstream.release.set()
    killed_at = datetime.now(timezone.utc)

    for entry_id in (foreground, background):
        doc = _doc(dlq, entry_id)
        assert doc["status"] == "retrying" and doc["metadata"]["retry_count"] == 1
        assert parse_time(doc["metadata"]["lease"]["expires_at"]) > killed_at

    # 2. While the lease holds: not flagged, and a second retry is refused with a clear error.
    # (Both at once: on a loaded machine two commands one after the other can outlast the lease.)
    listing = start("list", mova_command("dlq", "list"), env, work)
    refused = finish(start("retry", mova_command("dlq", "retry", foreground, "--wait"), env, work))
    listing = finish(listing)
    assert listing.returncode == 0 and "stale lease" not in listing.stdout, listing.stdout
    assert refused.returncode == 1 and "already being retried" in refused.stderr and "lease expires" in refused.stderr
    assert not bug_lines(refused.stderr)

    # 3. Once it has expired: flagged in the list and in show, and retryable again.
    expiry = max(parse_time(_doc(dlq, i)["metadata"]["lease"]["expires_at"]) for i in (foreground, background))
    time.sleep(max(0.0, (expiry - datetime.now(timezone.utc)).total_seconds()) + 0.05)
    listing = finish(start("list", mova_command("dlq", "list"), env, work))
    assert "retrying*" in listing.stdout and "stale lease" in listing.stdout, listing.stdout
    show = finish(start("show", mova_command("dlq", "show", foreground), env, work))
    assert "STALE" in show.stdout, show.stdout
    for entry_id in (foreground, background):
        again = finish(start("retry", mova_command("dlq", "retry", entry_id, "--wait"), env, work))
        assert again.returncode == 1 and " failed (sandbox)" in again.stdout, (again.stdout, again.stderr)
        assert not bug_lines(again.stderr)
        doc = _doc(dlq, entry_id)
        assert doc["status"] == "active" and doc["metadata"]["retry_count"] == 2
        assert "lease" not in doc["metadata"] or doc["metadata"]["lease"] is None
        # Every counted retry has its record: the killed one as abandoned, and its run record is closed.
        dead, finished = doc["retry_history"]
        assert dead["outcome"] == "abandoned" and finished["outcome"] == "failed"
        run = json.loads((state / "sandbox" / f"{dead['retry_run_id']}.json").read_text())
        assert run["status"] == "failed" and run["error"].startswith("abandoned")
        figures.add("lease_recoveries")
    figures.add("storm_processes", 2)
    figures.add("storm_killed", 2)

    claims = [r for r in AuditLog(dlq / ".mova" / "audit.jsonl").read().records if r["op"] == "retry_claim"]
    assert sorted(bool(r.get("took_over_stale_lease")) for r in claims) == [False, False, True, True]
    assert_sound(check_directory(dlq))


def test_a_live_holder_keeps_its_lease_through_a_long_wait_and_a_killed_ones_expires_on_time(tmp_path, upstream):
    """Real processes, a 2 s lease and a 4.5 s wait between attempts: the live retry renews on its
    timer, so a second claimer is refused the whole time; the killed one renews nothing, so its
    lease expires when it said and a claim then succeeds."""
    from mova_core.model.errors import AlreadyRetrying
    from mova_core.ops.service import DLQService
    from mova_core.settings import Settings

    lease = 2.0
    state = tmp_path / "state"
    dlq = state / "deadletter"
    live, killed = write_entries(dlq, 2, upstream.url)
    for entry_id in (live, killed):  # two attempts, 4.5 s apart: the wait outlasts two leases
        doc = _doc(dlq, entry_id)
        doc["envelope"]["actions"][0]["retry"] = {"max_attempts": 2, "backoff": "fixed", "delay": 4.5, "jitter": False}
        (dlq / f"{entry_id}.json").write_text(json.dumps(doc))
    upstream.hanging.clear()  # every request fails at once
    env = child_env(dlq, MOVA_LEASE_SECONDS=str(lease))
    work = tmp_path / "work"
    work.mkdir()
    holder = start("retry", mova_command("dlq", "retry", live, "--wait"), env, work)
    victim = start("retry", mova_command("dlq", "retry", killed, "--wait"), env, work)

    def in_its_wait(entry_id: str) -> bool:
        lease_doc = _doc(dlq, entry_id)["metadata"].get("lease")
        if not lease_doc:
            return False
        log = state / "sandbox" / f"{lease_doc['retry_run_id']}.log.jsonl"
        return log.exists() and '"attempt_failed"' in log.read_text()

    _wait_for(lambda: in_its_wait(live) and in_its_wait(killed))
    victim.popen.send_signal(signal.SIGKILL)
    finish(victim)
    killed_at = datetime.now(timezone.utc)
    expires = parse_time(_doc(dlq, killed)["metadata"]["lease"]["expires_at"])
    assert (expires - killed_at).total_seconds() <= lease + 0.1  # nothing renews it any more

    probe = DLQService(Settings(dlq_path=dlq, lease_seconds=lease), actor="probe@test")
    refused_live = 0
    taken_at = None
    while holder.popen.poll() is None:
        try:
            probe.claim(live, "retry_probe_live", True)
        except AlreadyRetrying:  # the live holder's lease never lapses
            refused_live += 1
        else:  # taken only once its holder gave it back: its retry recorded as failed, not abandoned
            assert [r["outcome"] for r in _doc(dlq, live)["retry_history"]] == ["failed"]
            break
        if taken_at is None:
            now = datetime.now(timezone.utc)
            try:
                probe.claim(killed, "retry_probe_killed", True)
                taken_at = now
            except AlreadyRetrying:
                assert now < expires + timedelta(seconds=0.05)  # refused only while its lease held
        time.sleep(0.02)
    done = finish(holder)
    assert done.returncode == 1 and " failed (sandbox)" in done.stdout, (done.stdout, done.stderr)
    assert not bug_lines(done.stderr)
    assert refused_live > 50
    assert taken_at is not None and expires <= taken_at < expires + timedelta(seconds=1)
    assert [r["outcome"] for r in _doc(dlq, live)["retry_history"]] == ["failed"]
    assert [r["outcome"] for r in _doc(dlq, killed)["retry_history"]] == ["abandoned"]
    assert_sound(check_directory(dlq))
