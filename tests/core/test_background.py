"""Background retries are bounded, with real processes: any number of `mova dlq retry` calls on one
queue run at most MOVA_MAX_BACKGROUND_RETRIES at a time, the rest wait their turn (queued, as the
run record and the lease say), and none is lost, not even when the queue worker dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mova_core.ops.retry_queue import is_locked, jobs_dir
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from tests.reliability.support import child_env, mova_command, write_entries

from .engine_fixtures import all_bytes

DEADLINE = 60.0


class SlowServer:
    """A loopback upstream answering 200 `delay` seconds after `pair` requests are in flight at once
    (or `expected` have all arrived, or after 5 s), so that runs allowed to overlap do; it counts
    the requests in flight."""

    def __init__(self, delay: float, pair: int = 1, expected: int = 0):
        self.delay, self.pair, self.expected = delay, pair, expected
        self.in_flight = 0
        self.most_in_flight = 0
        self.arrived = 0
        self.served = 0
        self.lock = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                with outer.lock:
                    outer.in_flight += 1
                    outer.arrived += 1
                    outer.most_in_flight = max(outer.most_in_flight, outer.in_flight)
                    outer.lock.notify_all()
                    outer.lock.wait_for(lambda: outer.in_flight >= outer.pair or outer.arrived >= outer.expected,
                                        timeout=5)
                time.sleep(outer.delay)
                with outer.lock:
                    outer.in_flight -= 1
                    outer.served += 1
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/slow"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def slow():
    server = SlowServer(delay=0.4)
    yield server
    server.close()


def _doc(dlq: Path, entry_id: str) -> dict:
    return json.loads((dlq / f"{entry_id}.json").read_text())


def _run(state: Path, run_id: str) -> dict | None:
    try:
        return json.loads((state / "sandbox" / f"{run_id}.json").read_text())
    except (OSError, ValueError):
        return None


def _queue_idle(dlq: Path) -> bool:
    """No queue worker holds the queue's lock (probed without taking it over)."""
    return not is_locked(jobs_dir(dlq) / "worker.lock")


def _queue_worker_pid(dlq: Path) -> int:
    """The pid of the queue worker holding the lock (it writes it there once it holds it)."""
    def holder() -> int | None:
        try:
            pid = int((jobs_dir(dlq) / "worker.lock").read_text())
        except (OSError, ValueError):
            return None
        if _queue_idle(dlq) or pid == os.getpid():
            return None
        # A new worker holds the lock a moment before it writes its pid over its predecessor's, which
        # may be gone or a zombie not yet reaped: only a live process is the holder.
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return None
        return pid if state != "Z" else None

    return _wait_for(holder, timeout=10)


def _wait_for(predicate, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_ten_background_retries_run_two_at_a_time_and_all_finish(tmp_path):
    slow = SlowServer(delay=0.2, pair=2, expected=10)
    try:
        _ten_retries_two_at_a_time(tmp_path, slow)
    finally:
        slow.close()


def _ten_retries_two_at_a_time(tmp_path: Path, slow: SlowServer) -> None:
    state = tmp_path / "state"
    dlq = state / "deadletter"
    ids = write_entries(dlq, 10, slow.url)
    env = child_env(dlq, MOVA_MAX_BACKGROUND_RETRIES="2")
    # Ten `mova dlq retry` calls at once, as the specification's mass-retry loop makes them.
    procs = [subprocess.Popen(mova_command("dlq", "retry", entry_id, "--sandbox"), env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for entry_id in ids]
    run_ids = {}
    for entry_id, proc in zip(ids, procs):
        out, err = proc.communicate(timeout=DEADLINE)
        assert proc.returncode == 0, err
        run_ids[entry_id] = out.strip()
        assert run_ids[entry_id].startswith("retry_run_"), out

    seen_queued = set()
    most_running = 0

    def all_finished() -> bool:
        nonlocal most_running
        finished = running = 0
        for entry_id, run_id in run_ids.items():
            record = _run(state, run_id) or {}
            running += record.get("status") == "running"
            if record.get("status") == "queued":
                lease = _doc(dlq, entry_id)["metadata"].get("lease") or {}
                if lease.get("queued") is True:
                    seen_queued.add(run_id)  # waiting its turn, as the run record and the lease say
            finished += record.get("status") in ("completed", "failed", "cancelled", "timeout")
        most_running = max(most_running, running)
        return finished == len(run_ids)

    _wait_for(all_finished)
    assert slow.most_in_flight == 2 and slow.served == 10  # never more than N at once; all ran
    assert 1 <= most_running <= 2
    assert seen_queued  # some waited their turn
    for entry_id, run_id in run_ids.items():
        assert _run(state, run_id)["status"] == "completed"
        doc = _doc(dlq, entry_id)
        assert doc["status"] == "active" and doc["metadata"].get("lease") is None
        assert [(r["retry_run_id"], r["outcome"]) for r in doc["retry_history"]] == [(run_id, "completed")]
    _wait_for(lambda: _queue_idle(dlq), timeout=10)  # the queue worker exits once nothing waits or runs
    jobs = jobs_dir(dlq)
    assert not list((jobs / "queued").iterdir()) and not list((jobs / "running").iterdir())


def test_queued_jobs_survive_their_queue_worker_and_secrets_never_touch_a_file(tmp_path, slow):
    state = tmp_path / "state"
    dlq = state / "deadletter"
    first, with_secret, after_kill, secret_lost = write_entries(dlq, 4, slow.url)
    settings = Settings(dlq_path=dlq, max_background_retries=1)
    service = DLQService(settings)
    secret = {"secrets": {"token": "queued-secret-4242"}}
    runs = [service.retry(first, wait=False).retry_run_id]  # starts the queue worker
    runs.append(service.retry(with_secret, wait=False, overrides=secret).retry_run_id)  # handed over its socket
    _wait_for(lambda: (_run(state, runs[1]) or {}).get("status") == "completed")
    # The token went through pipes and the socket only.
    for path, data in all_bytes(state):
        assert b"queued-secret-4242" not in data, path
    _wait_for(lambda: _queue_idle(dlq), timeout=10)

    # A queue worker killed while jobs wait: a later background retry's worker runs them (one whose
    # override secrets were lost with the dead worker is failed, saying so).
    slow.delay = 1.5
    runs.append(service.retry(first, wait=False).retry_run_id)
    # Two submissions while no worker listens start two, and either may win the lock first: the
    # second is handed over once the first is up, so that this one waits its turn behind it.
    queue_pid = _queue_worker_pid(dlq)
    runs.append(service.retry(secret_lost, wait=False, overrides=secret).retry_run_id)
    _wait_for(lambda: (_run(state, runs[2]) or {}).get("status") == "running")
    assert _run(state, runs[3])["status"] == "queued"
    assert _doc(dlq, secret_lost)["metadata"]["lease"]["queued"] is True
    os.kill(queue_pid, signal.SIGKILL)
    _wait_for(lambda: _queue_idle(dlq), timeout=10)
    slow.delay = 0.05
    runs.append(service.retry(after_kill, wait=False).retry_run_id)
    for run_id in runs[2:]:
        _wait_for(lambda run_id=run_id: (_run(state, run_id) or {}).get("status") in ("completed", "failed"))
    assert [_run(state, r)["status"] for r in runs] == ["completed", "completed", "completed", "failed", "completed"]
    lost = _run(state, runs[3])
    assert "override secrets were held in memory by a queue worker that stopped" in lost["error"]
    doc = _doc(dlq, secret_lost)
    assert doc["status"] == "active" and doc["retry_history"][-1]["outcome"] == "failed"
    for path, data in all_bytes(state):
        assert b"queued-secret-4242" not in data, path


class FakeProcess:
    """What the queue worker polls of a job's process."""

    def __init__(self):
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code


def _job(tmp_path: Path, n: int, *, limit: int = 2, secrets: dict | None = None) -> dict:
    return {"entry_id": f"dlq_{n}", "retry_run_id": f"retry_run_{n}", "sandbox_mode": True,
            "overrides": {"variables": {"v": n}, "secrets": secrets or {}},
            "settings": {"dlq_path": str(tmp_path / "dlq"), "max_background_retries": limit, "lease_seconds": 30}}


def test_the_queue_starts_the_oldest_jobs_up_to_the_limit_and_keeps_secrets_off_the_disk(tmp_path):
    from mova_core.ops.retry_queue import QueueWorker

    started: list[tuple[dict, FakeProcess]] = []

    def start(job, keep_fd):
        assert fcntl_locked(keep_fd)
        started.append((job, FakeProcess()))
        return started[-1][1]

    jobs = jobs_dir(tmp_path / "dlq")
    queue = QueueWorker(jobs, start=start, renew=lambda job: True, fail=lambda job, why: None)
    for n in range(5):
        queue.accept(_job(tmp_path, n, secrets={"token": "s3cret-77"} if n == 3 else None))
    queue.accept(_job(tmp_path, 1))  # submitted again (its answer was lost): queued once
    assert len(queue.queued) == 5
    assert b"s3cret-77" not in b"".join(p.read_bytes() for p in (jobs / "queued").iterdir())
    queue.start_due()
    assert [job["retry_run_id"] for job, _ in started] == ["retry_run_0", "retry_run_1"]
    started[1][1].code = 0  # the second one ends first
    queue.reap()
    queue.start_due()
    assert [job["retry_run_id"] for job, _ in started] == ["retry_run_0", "retry_run_1", "retry_run_2"]
    started[0][1].code = started[2][1].code = 1
    queue.reap()
    queue.start_due()
    assert [job["retry_run_id"] for job, _ in started][3:] == ["retry_run_3", "retry_run_4"]
    assert started[3][0]["overrides"]["secrets"] == {"token": "s3cret-77"}  # from memory, to its process only
    assert sorted(p.name[21:-5] for p in (jobs / "running").iterdir()) == ["retry_run_3", "retry_run_4"]


def test_a_job_whose_secrets_died_with_its_queue_worker_fails_and_one_whose_lease_is_lost_is_dropped(tmp_path):
    from mova_core.ops.retry_queue import QueueWorker

    jobs = jobs_dir(tmp_path / "dlq")
    dead = QueueWorker(jobs, start=lambda job, fd: FakeProcess(), renew=lambda job: True, fail=lambda job, why: None)
    dead.accept(_job(tmp_path, 0, secrets={"token": "s3cret-77"}))
    dead.accept(_job(tmp_path, 1))
    dead.accept(_job(tmp_path, 2))
    # That queue worker died; the next one finds the jobs on disk, and the secret in none of them.
    failed, started = [], []
    renewals = {"retry_run_0": True, "retry_run_1": False, "retry_run_2": True}
    queue = QueueWorker(jobs, start=lambda job, fd: started.append(job["retry_run_id"]) or FakeProcess(),
                        renew=lambda job: renewals[job["retry_run_id"]],
                        fail=lambda job, why: failed.append((job["retry_run_id"], why)))
    queue.renew_waiting()  # inherited leases are renewed at once; job 1's was lost meanwhile: dropped
    assert [p.name[21:-5] for p in sorted((jobs / "queued").iterdir())] == ["retry_run_0", "retry_run_2"]
    queue.start_due()
    assert failed == [("retry_run_0", "its override secrets were held in memory by a queue worker that "
                                      "stopped; retry it again")]
    assert started == ["retry_run_2"] and not list((jobs / "queued").iterdir())


def test_a_shared_stores_url_stays_off_the_disk_and_is_given_only_to_its_jobs_process(tmp_path):
    from mova_core.ops.retry_queue import QueueWorker

    url = "postgresql://mova:db-pass-7731@db.example/mova"
    jobs = jobs_dir(tmp_path / "dlq")
    dead = QueueWorker(jobs, start=lambda job, fd: FakeProcess(), renew=lambda job: True, fail=lambda job, why: None)
    job = _job(tmp_path, 0, limit=1)
    job["settings"]["store_url"] = url
    dead.accept(job)
    assert b"db-pass-7731" not in b"".join(p.read_bytes() for p in (jobs / "queued").iterdir())
    renewed, started, failed = [], [], []
    alive = QueueWorker(jobs, start=lambda job, fd: started.append(job) or FakeProcess(),
                        renew=lambda job: renewed.append(job["settings"].get("store_url")) or True,
                        fail=lambda job, why: failed.append((job["retry_run_id"], why)))
    second = _job(tmp_path, 1, limit=1)
    second["settings"]["store_url"] = url
    alive.accept(second)
    alive.renew_waiting()  # the inherited job's URL died with its queue worker: failed, never renewed elsewhere
    assert renewed == [] and failed == [("retry_run_0", "its store's URL was held in memory by a queue worker "
                                                        "that stopped; retry it again")]
    alive.renew_at.update(dict.fromkeys(alive.queued, 0.0))
    alive.renew_waiting()  # a waiting job's lease is renewed in its own store
    assert renewed == [url]
    alive.start_due()
    assert [j["settings"]["store_url"] for j in started] == [url] and "store_url_held" not in started[0]
    assert not list((jobs / "queued").iterdir())


def test_a_long_directory_puts_the_socket_in_a_private_temp_directory(tmp_path):
    from mova_core.ops.retry_queue import MAX_SOCKET_PATH, socket_address

    short = socket_address(tmp_path / "jobs")
    assert short == tmp_path / "jobs" / "q.sock"
    deep = tmp_path / ("d" * 120) / "jobs"
    address = socket_address(deep)
    assert len(str(address)) <= MAX_SOCKET_PATH and address.parent.name == f"mova-{os.getuid()}"
    assert address.parent.stat().st_mode & 0o777 == 0o700
    assert socket_address(deep) == address != socket_address(tmp_path / ("e" * 120) / "jobs")


def fcntl_locked(fd: int) -> bool:
    """Whether this descriptor's file is locked (another open of it cannot lock it)."""
    return is_locked(Path(os.readlink(f"/proc/self/fd/{fd}")))
