"""Background retries: at most MOVA_MAX_BACKGROUND_RETRIES run at once per queue, the rest wait their turn.

`retry(..., wait=False)` claims the entry (its lease says `queued`), writes a `queued` run record
and submits the job here. One queue worker per dead-letter directory (`python -m
mova_core.ops.queue_worker`, detached, holding `<dlq>/.mova/jobs/worker.lock`) keeps the jobs:

* a submitted job is written to `<dlq>/.mova/jobs/queued/<sequence>-<retry run id>.json`, durably
  and without its override secrets (those stay in the queue worker's memory), before the
  submitter hears it was accepted;
* the oldest jobs start first, each in its own `python -m mova_core.ops.retry_worker` process (its
  job, secrets included, through a pipe), at most N at a time (the job's own setting); a started
  job's file moves to `running/`, locked by its process for as long as that lives;
* the leases of the jobs that wait are renewed here; the queue worker exits once nothing waits or
  runs.

Jobs reach the queue worker over a Unix socket (named in `<dlq>/.mova/jobs/socket`); when none
answers, the submitter starts one with the job on its standard input. A waiting job costs a file
and a few bytes of the queue worker's memory, not a process. A queue worker that dies leaves its
jobs on disk: the next one (started by the next background retry) runs them, and fails a job
whose override secrets were lost with it, saying so.

This module imports no models: the queue worker loads them only when it renews or fails a job.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import select
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mova_core.store.fsio import atomic_write

Job = dict[str, Any]
#: Renews a waiting job's lease; False once the job's retry no longer holds its entry.
Renew = Callable[[Job], bool]
#: Ends a job that cannot run (its secrets were lost, its process could not start), with why.
Fail = Callable[[Job, str], None]
#: How many of the job's queue's places other hosts' retries hold now (a store shared by hosts).
Busy = Callable[[Job], int]
#: The name of the places a background retry holds while it runs (`DeadLetterStore.take_slot`):
#: over a store shared by several hosts, each host's queue worker starts a job only while fewer than
#: MOVA_MAX_BACKGROUND_RETRIES are held, and the job's process waits for one of its own.
BACKGROUND_PLACES = "background-retries"

#: Seconds between two looks at the queue (submissions wake it at once).
TICK_SECONDS = 0.1
#: Seconds with nothing waiting or running before the queue worker exits.
IDLE_SECONDS = 1.0
#: Seconds a submitter waits for the queue worker's answer.
ANSWER_SECONDS = 10.0
#: Waiting leases renewed per look at the queue (renewals are spread out, submissions stay quick).
RENEWALS_PER_TICK = 10
MAX_JOB_BYTES = 8 << 20
#: A Unix socket's path is limited to about a hundred bytes; a longer one goes to a private temp dir.
MAX_SOCKET_PATH = 100


def jobs_dir(dlq_path: str | Path) -> Path:
    """The queue's directory: `<dlq>/.mova/jobs`."""
    return Path(dlq_path) / ".mova" / "jobs"


def job_on_disk(job: Job) -> Job:
    """The job as written to the queue: override secrets replaced by their names, and a shared store's
    URL (it holds the database password) left out, marked as held in memory like the secrets."""
    overrides = job.get("overrides") or {}
    secrets = overrides.get("secrets") or {}
    settings = {k: v for k, v in (job.get("settings") or {}).items() if k != "store_url"}
    held = {"store_url_held": True} if (job.get("settings") or {}).get("store_url") else {}
    return {**job, "settings": settings, "overrides": {"variables": overrides.get("variables") or {}},
            "secret_names": sorted(secrets), **held}


# -- submitting -----------------------------------------------------------------------------------
def submit(job: Job, spawn: Callable[[str, Job], object]) -> None:
    """Hand the job to the queue worker, or start one with it (`spawn(module, job)`) when none answers."""
    if not send(jobs_dir(job["settings"]["dlq_path"]), job):
        spawn("mova_core.ops.queue_worker", job)


def send(jobs: Path, job: Job) -> bool:
    """Give the job to the listening queue worker; True once it is on disk there."""
    try:
        address = (jobs / "socket").read_text(encoding="utf-8").strip()
    except OSError:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(ANSWER_SECONDS)
            sock.connect(address)
            sock.sendall(json.dumps(job).encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)
            answer = sock.makefile("rb").readline()
    except OSError:  # none listening, or it stopped before answering: the caller starts one
        return False
    return answer.strip() == b"ok"


# -- the queue worker's lock and socket -------------------------------------------------------------
def try_lock(jobs: Path, *, block: bool = False) -> int | None:
    """The queue worker's lock (a descriptor to keep open; the file then names its pid), or None if
    another holds it."""
    jobs.mkdir(parents=True, exist_ok=True)
    fd = os.open(jobs / "worker.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if block else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def socket_address(jobs: Path) -> Path:
    """Where the queue worker listens: in the jobs directory, or (a path too long) a private temp dir."""
    here = jobs / "q.sock"
    if len(str(here)) <= MAX_SOCKET_PATH:
        return here
    private = Path(tempfile.gettempdir()) / f"mova-{os.getuid()}"
    private.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(private)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise OSError(errno.EPERM, f"{private} is not a private directory of this user")
    return private / (hashlib.sha1(str(jobs.resolve()).encode()).hexdigest()[:20] + ".sock")


def is_locked(path: Path) -> bool:
    """Whether a process still holds the lock on a running job's file (it is alive)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


# -- the queue worker -----------------------------------------------------------------------------
class QueueWorker:
    """Keeps one queue: takes submissions, starts the oldest jobs up to the limit, renews waiting leases.

    `start(job, keep_fd)` starts a job's process, which must inherit `keep_fd` (the lock on its
    running file) and is returned for `poll()`; `renew` and `fail` deal with the entry's lease;
    `busy(job)` counts the places held across hosts (`BACKGROUND_PLACES`).
    """

    def __init__(self, jobs: Path, *, start: Callable[[Job, int], subprocess.Popen], renew: Renew, fail: Fail,
                 busy: Busy = lambda job: 0, clock: Callable[[], float] = time.monotonic):
        self.jobs, self.start_process, self.renew, self.fail, self.clock = jobs, start, renew, fail, clock
        self.busy = busy
        self.queued_dir, self.running_dir = jobs / "queued", jobs / "running"
        for directory in (self.queued_dir, self.running_dir):
            directory.mkdir(parents=True, exist_ok=True)
        #: Waiting job files, oldest first; their secrets; when each lease is next renewed.
        self.queued = sorted(p.name for p in self.queued_dir.glob("*.json"))
        self.secrets: dict[str, dict[str, Any]] = {}
        #: The shared store's URL of each waiting job that has one (never written to its file).
        self.store_urls: dict[str, str] = {}
        self.renew_at = {name: self.clock() for name in self.queued}
        #: Started job files and their processes (None: started by a queue worker before this one).
        self.running: dict[str, subprocess.Popen | None] = {p.name: None for p in self.running_dir.glob("*.json")}
        self.sequence = 0

    # -- taking jobs --------------------------------------------------------------------------
    def accept(self, job: Job) -> None:
        """Write a submitted job to the queue (once per retry run id) and keep its secrets."""
        run_id = str(job["retry_run_id"])
        if "/" in run_id or run_id.startswith("."):
            raise ValueError(f"invalid retry run id {run_id!r}")
        if any(_run_id_of(name) == run_id for name in [*self.queued, *self.running]):
            return  # submitted again after an answer was lost
        self.sequence = max(self.sequence + 1, time.time_ns())
        name = f"{self.sequence:020d}-{run_id}.json"
        atomic_write(self.queued_dir / name, json.dumps(job_on_disk(job)).encode())
        secrets = (job.get("overrides") or {}).get("secrets")
        if secrets:
            self.secrets[name] = dict(secrets)
        store_url = (job.get("settings") or {}).get("store_url")
        if store_url:
            self.store_urls[name] = str(store_url)
        self.queued.append(name)
        self.renew_at[name] = self.clock() + renewal_every(job)

    def take_submissions(self, listener: socket.socket | None, timeout: float) -> None:
        """Accept what submitters send within `timeout` seconds (at least the ones already waiting)."""
        if listener is None:
            time.sleep(timeout)
            return
        ready, _, _ = select.select([listener], [], [], timeout)
        while ready:
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                return
            with conn:
                self.answer(conn)

    def answer(self, conn: socket.socket) -> None:
        """Read one job from a submitter and say whether it is queued."""
        conn.settimeout(2.0)
        try:
            data = bytearray()
            while not data.endswith(b"\n") and len(data) <= MAX_JOB_BYTES:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.accept(json.loads(data))
            conn.sendall(b"ok\n")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            try:
                conn.sendall(f"error: {type(exc).__name__}\n".encode())
            except OSError:
                pass

    # -- running jobs -------------------------------------------------------------------------
    def read(self, path: Path) -> Job:
        """A job file, with the store URL this worker holds for it."""
        job = json.loads(path.read_bytes())
        if path.name in self.store_urls:
            job["settings"]["store_url"] = self.store_urls[path.name]
        return job

    def reap(self) -> None:
        """Forget the jobs whose process has ended (their files go)."""
        for name, proc in list(self.running.items()):
            ended = proc.poll() is not None if proc is not None else not is_locked(self.running_dir / name)
            if ended:
                del self.running[name]
                (self.running_dir / name).unlink(missing_ok=True)

    def start_due(self) -> None:
        """Start the oldest waiting jobs while fewer than their limit run."""
        while self.queued:
            name = self.queued[0]
            try:
                job = self.read(self.queued_dir / name)
            except (OSError, ValueError):  # removed or unreadable: nothing to run
                self.drop(name)
                continue
            limit = int(job["settings"].get("max_background_retries") or 1)
            if len(self.running) >= limit or self.busy(job) >= limit:
                return
            self.drop(name, keep_file=True)
            self.launch(name, job)

    def launch(self, name: str, job: Job) -> None:
        """Start one job's process (its file moved to running/ and locked by it)."""
        secrets = self.secrets.pop(name, None)
        held_url = self.store_urls.pop(name, None)
        if job.get("secret_names") and secrets is None:
            (self.queued_dir / name).unlink(missing_ok=True)
            self.fail(job, "its override secrets were held in memory by a queue worker that stopped; retry it again")
            return
        if job.get("store_url_held") and held_url is None:
            self.fail_without_store(name, job)
            return
        running = self.running_dir / name
        full = {k: v for k, v in job.items() if k not in ("secret_names", "store_url_held")}
        full["overrides"] = {**(job.get("overrides") or {}), "secrets": secrets or {}}
        fd = None
        try:
            os.replace(self.queued_dir / name, running)
            fd = os.open(running, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.running[name] = self.start_process(full, fd)
        except OSError as exc:
            running.unlink(missing_ok=True)
            self.fail(job, f"could not start the background retry: {exc}")
        finally:
            if fd is not None:
                os.close(fd)  # the job's process keeps its own copy of the lock

    def fail_without_store(self, name: str, job: Job) -> None:
        """End a job whose shared store's URL died with the queue worker that held it: its run record
        says so, and its lease (in a store this worker cannot name) expires on its own."""
        (self.queued_dir / name).unlink(missing_ok=True)
        self.fail(job, "its store's URL was held in memory by a queue worker that stopped; retry it again")

    def drop(self, name: str, *, keep_file: bool = False) -> None:
        """Take a job off the waiting list."""
        self.queued.remove(name)
        self.renew_at.pop(name, None)
        if not keep_file:
            self.secrets.pop(name, None)
            self.store_urls.pop(name, None)
            (self.queued_dir / name).unlink(missing_ok=True)

    def renew_waiting(self) -> None:
        """Renew the leases that are due (a few at a time); a job whose lease was lost is failed."""
        now = self.clock()
        due = [name for name in self.queued if self.renew_at.get(name, now) <= now][:RENEWALS_PER_TICK]
        for name in due:
            try:
                job = self.read(self.queued_dir / name)
            except (OSError, ValueError):
                self.drop(name)
                continue
            if job.get("store_url_held") and name not in self.store_urls:
                self.drop(name)
                self.fail_without_store(name, job)
            elif self.renew(job):
                self.renew_at[name] = now + renewal_every(job)
            else:
                self.drop(name)

    # -- the loop -----------------------------------------------------------------------------
    def serve(self, first: Job | None = None) -> None:
        """Run the queue until nothing waits or runs (for IDLE_SECONDS)."""
        if first is not None:
            self.accept(first)
        listener = self.listen()
        idle_since: float | None = None
        try:
            while True:
                self.take_submissions(listener, TICK_SECONDS)
                self.reap()
                self.start_due()
                self.renew_waiting()
                if self.queued or self.running:
                    idle_since = None
                elif idle_since is None:
                    idle_since = self.clock()
                elif self.clock() - idle_since >= IDLE_SECONDS:
                    return
        finally:
            self.unlisten(listener)

    def listen(self) -> socket.socket | None:
        """Listen for submissions; None if no socket can be made (submitters then start queue
        workers that wait for this one's lock)."""
        try:
            address = socket_address(self.jobs)
            address.unlink(missing_ok=True)  # a socket left by a queue worker that died
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(address))
            os.chmod(address, 0o600)
            listener.listen(64)
            listener.setblocking(False)
            atomic_write(self.jobs / "socket", str(address).encode(), durable=False)
        except OSError:
            return None
        return listener

    def unlisten(self, listener: socket.socket | None) -> None:
        """Stop listening: submitters from now on start a new queue worker."""
        if listener is None:
            return
        (self.jobs / "socket").unlink(missing_ok=True)
        address = listener.getsockname()
        listener.close()
        try:
            os.unlink(address)
        except OSError:
            pass


def _run_id_of(name: str) -> str:
    """The retry run id in a job file's name (`<20-digit sequence>-<run id>.json`)."""
    return name[21:-5]


def renewal_every(job: Job) -> float:
    """Seconds between two renewals of a waiting job's lease: a third of the lease."""
    return float(job["settings"].get("lease_seconds") or 900) / 3


def spawn(module: str, job: Job, keep_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    """Start `python -m module` detached with the job (secrets included) on its standard input."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # a traceback could quote a secret; the worker records errors itself
        start_new_session=True,  # survives the terminal closing and Ctrl-C in the parent
        close_fds=True,
        pass_fds=keep_fds,
        env=env,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(job).encode())
    proc.stdin.close()
    return proc
