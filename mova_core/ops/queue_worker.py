"""The queue worker of one dead-letter directory: `python -m mova_core.ops.queue_worker` (see `retry_queue`).

Started detached by a background retry that found no queue worker listening, with that retry's
job on its standard input. It becomes the queue's worker (it takes the lock), or hands the job to
the one that already is; it exits once nothing waits or runs. The models load only when a
waiting lease is renewed or a job fails.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING

from mova_core.ops.retry_queue import BACKGROUND_PLACES, Job, QueueWorker, jobs_dir, send, spawn, try_lock

if TYPE_CHECKING:
    import subprocess

    from mova_core.ops.service import DLQService

#: Seconds a new queue worker tries to hand its job over before it waits for the lock instead.
HANDOVER_SECONDS = 5.0

_services: dict[str, DLQService] = {}


def _service(job: Job) -> DLQService:
    """The service for a job's settings (one per distinct settings, kept for the worker's life)."""
    key = json.dumps(job["settings"], sort_keys=True)
    if key not in _services:
        from mova_core.ops.service import DLQService
        from mova_core.settings import Settings

        _services[key] = DLQService(Settings(**job["settings"]), actor=job.get("actor"))
    return _services[key]


def renew(job: Job) -> bool:
    """Renew a waiting job's lease; False (its run record closed) once it is not the job's own."""
    from mova_core.model.errors import EntryNotFound, InvalidTransition, MovaError
    from mova_core.store.runs import store_for
    from mova_core.timeutil import format_time, utcnow

    try:
        _service(job).renew_lease(job["entry_id"], job["retry_run_id"], queued=True)
    except (InvalidTransition, EntryNotFound) as exc:
        store_for(_service(job).settings, bool(job["sandbox_mode"])).close_failed(
            job["retry_run_id"], f"lost its place while it waited: {exc}", format_time(utcnow()),
            dlq_id=job["entry_id"], sandbox_mode=bool(job["sandbox_mode"]))
        return False
    except (MovaError, OSError):
        return True  # a full disk: tried again at the next renewal
    return True


def fail(job: Job, message: str) -> None:
    """End a job that cannot run: its claim released as failed, its run record closed."""
    from mova_core.model.errors import MovaError
    from mova_core.ops.retry import Retrier

    try:
        Retrier(_service(job)).fail_unstarted(
            job["entry_id"], job["retry_run_id"], bool(job["sandbox_mode"]),
            (job.get("overrides") or {}).get("variables") or {}, job.get("secret_names") or [], message)
    except (MovaError, OSError):
        pass  # the lease expires on its own; the queue goes on


def busy(job: Job) -> int:
    """The background retries running on every host of a shared store (0 for a directory, whose
    one queue worker counts its own)."""
    if not job["settings"].get("store_url"):
        return 0
    from mova_core.model.errors import MovaError

    service = _service(job)
    try:
        return service.store.slots_held(BACKGROUND_PLACES, service.settings.max_background_retries)
    except MovaError:
        return 0  # the store unreachable: the job's process waits for its place, or fails saying why


def start(job: Job, keep_fd: int) -> subprocess.Popen:
    """A job's own process, holding the lock on its running file for as long as it lives."""
    return spawn("mova_core.ops.retry_worker", job, keep_fds=(keep_fd,))


def main() -> int:
    """Become the queue's worker with the job from stdin, or hand the job to the one there is."""
    try:
        job = json.loads(sys.stdin.read())
        jobs = jobs_dir(job["settings"]["dlq_path"])
    except (ValueError, KeyError, TypeError):
        return 2
    deadline = time.monotonic() + HANDOVER_SECONDS
    while True:
        lock = try_lock(jobs, block=time.monotonic() >= deadline)
        if lock is not None:
            try:
                QueueWorker(jobs, start=start, renew=renew, fail=fail, busy=busy).serve(job)
            finally:
                os.close(lock)
            return 0
        if send(jobs, job):
            return 0
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
