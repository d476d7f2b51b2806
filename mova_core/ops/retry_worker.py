"""The process of one background retry: `python -m mova_core.ops.retry_worker`, started by the queue
worker (`ops.retry_queue`) when the job's turn comes.

Reads one JSON job from stdin (entry id, retry run id, mode, overrides with secrets, settings),
renews its retry's lease (which ends its `queued` state, and fails if the lease is no longer its
own), runs it and releases the claim. Errors go to the run record (redacted), not to a terminal:
the process is detached and its stderr discarded. SIGTERM and SIGINT cancel the run cleanly
(recorded as cancelled, the entry back to active).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from mova_core.model.entry import RetryOverrides
from mova_core.model.redact import Redactor
from mova_core.model.run import RunRecord
from mova_core.model.status import RunStatus
from mova_core.ops.retry_queue import BACKGROUND_PLACES, renewal_every
from mova_core.store.runs import RunNotFound, store_for
from mova_core.timeutil import format_time, utcnow

if TYPE_CHECKING:
    from mova_core.ops.service import DLQService
    from mova_core.settings import Settings

#: Seconds between two tries for a place while another host's retries hold them all.
PLACE_POLL_SECONDS = 0.2


def _interrupt(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
    raise KeyboardInterrupt


def _fail(settings: Settings, job: dict[str, Any], message: str) -> int:
    redactor = Redactor((job.get("overrides") or {}).get("secrets", {}).values())
    sandbox_mode = bool(job.get("sandbox_mode", True))
    runs = store_for(settings, sandbox_mode, redactor)
    runs.close_failed(job["retry_run_id"], redactor.text(message), format_time(utcnow()),
                      dlq_id=job.get("entry_id"), sandbox_mode=sandbox_mode)
    return 1


def run_job(job: dict[str, Any]) -> int:
    """Run one job; returns the process exit code."""
    from mova_core.model.errors import MovaError
    from mova_core.ops.retry import Retrier
    from mova_core.ops.service import DLQService
    from mova_core.settings import Settings

    settings = Settings(**job["settings"])
    service = DLQService(settings, actor=job.get("actor"))
    overrides = RetryOverrides(**job.get("overrides") or {})
    retry_run_id = job["retry_run_id"]
    release = None
    try:
        release = wait_for_place(service, job)
        entry = service.renew_lease(job["entry_id"], retry_run_id)  # its turn: no longer queued
    except KeyboardInterrupt:
        if release is not None:
            release()
        _give_up(service, job, "cancelled before it started (it was waiting for a place among the queue's "
                               "MOVA_MAX_BACKGROUND_RETRIES)")
        return 130
    except MovaError as exc:
        if release is not None:
            release()
        service.close()
        return _fail(settings, job, f"cannot start retry {retry_run_id}: {exc}")
    try:
        response = Retrier(service).run_claimed(entry, retry_run_id, bool(job["sandbox_mode"]), overrides)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # run_claimed released the claim; the record may still say running if the engine never started.
        try:
            record = _record(settings, job)
            if record is not None and not record.finished:
                return _fail(settings, job, f"{type(exc).__name__}: {exc}")
        except Exception:
            pass
        return 1
    finally:
        release()
        service.close()
    result = response.execution_result
    return 0 if result is not None and result.status == RunStatus.completed else 1


def wait_for_place(service: DLQService, job: dict[str, Any], *, clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep) -> Callable[[], None]:
    """A place among the queue's MOVA_MAX_BACKGROUND_RETRIES (`BACKGROUND_PLACES`, counted across
    every host sharing the store), the retry's lease renewed as queued while it waits; its release.
    MovaError (InvalidTransition) if the lease is lost meanwhile."""
    limit = service.settings.max_background_retries
    renew_at = clock() + renewal_every(job)
    while (release := service.store.take_slot(BACKGROUND_PLACES, limit)) is None:
        if clock() >= renew_at:
            service.renew_lease(job["entry_id"], job["retry_run_id"], queued=True)
            renew_at = clock() + renewal_every(job)
        sleep(PLACE_POLL_SECONDS)
    return release


def _give_up(service: DLQService, job: dict[str, Any], message: str) -> None:
    """A retry that never started: its claim released (while still its own), its run record closed."""
    from mova_core.model.errors import MovaError
    from mova_core.ops.retry import Retrier

    overrides = job.get("overrides") or {}
    try:
        Retrier(service).fail_unstarted(job["entry_id"], job["retry_run_id"], bool(job["sandbox_mode"]),
                                        overrides.get("variables") or {}, overrides.get("secrets") or {}, message)
    except (MovaError, OSError):
        pass  # the lease, still queued, expires on its own
    finally:
        service.close()


def _record(settings: Settings, job: dict[str, Any]) -> RunRecord | None:
    try:
        return store_for(settings, bool(job.get("sandbox_mode", True))).load(job["retry_run_id"])
    except RunNotFound:
        return None


def main() -> int:
    """Read the job from stdin and run it, SIGTERM and SIGINT cancelling it; the exit code."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        job = json.loads(sys.stdin.read())
    except ValueError:
        return 2
    return run_job(job)


if __name__ == "__main__":
    sys.exit(main())
