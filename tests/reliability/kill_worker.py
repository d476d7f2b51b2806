"""A writer the reliability suite kills at random: `python -m tests.reliability.kill_worker JOB.json`.

Sets up (imports, the index: a listing, which also settles what the previous worker's kill left),
prints `ready`, then changes the statuses of a few shared entries as fast as it can, breaking leases so that
each change is made and recorded (set-status to a random status, archive, now and then a delete),
until it is killed.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from mova_core.model.errors import MovaError
from mova_core.ops.service import DLQService
from mova_core.settings import Settings

STATUSES = ["active", "archived", "resolved"]


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    rng = random.Random(job["seed"])
    svc = DLQService(Settings(dlq_path=Path(job["dlq"])), actor=f"killed-{job['seed']}@test")
    svc.list()
    print("ready", flush=True)
    while True:
        entry_id = rng.choice(job["ids"])
        roll = rng.random()
        try:
            if roll < 0.04:
                svc.delete(entry_id, break_lease=True)
            elif roll < 0.3:
                svc.archive(entry_id, break_lease=True)
            else:
                svc.set_status(entry_id, rng.choice(STATUSES), break_lease=True)
        except MovaError:
            pass  # deleted already: the others go on


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
