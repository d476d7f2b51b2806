"""Generate a realistic dead-letter directory of N entries (~3 KB each) from the sample entries."""

from __future__ import annotations

import argparse
import json
import os
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "sample_state" / "deadletter"
STATUSES = ["active"] * 7 + ["resolved", "archived", "retrying"]


def documents(count: int, seed: int = 7) -> Iterator[dict]:
    """`count` entries as JSON objects, made from the sample entries (the same ones for the same seed)."""
    rng = random.Random(seed)
    templates = [json.loads(p.read_text()) for p in sorted(SAMPLES.glob("dlq_*.json"))]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for n in range(count):
        doc = json.loads(json.dumps(templates[n % len(templates)]))
        entry_id = f"dlq_{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        created = start + timedelta(seconds=n * 97 + rng.randrange(60))
        doc["id"] = entry_id
        doc["run_id"] = f"run_{int(created.timestamp() * 1e9)}"
        doc["context"]["run_id"] = doc["run_id"]
        doc["created_at"] = created.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        doc["status"] = rng.choice(STATUSES)
        doc["metadata"].pop("lease", None)
        if doc["status"] == "retrying":
            doc["metadata"]["lease"] = {"owner": "pid 1@bench", "retry_run_id": "retry_x",
                                        "acquired_at": doc["created_at"], "expires_at": doc["created_at"]}
        doc["error_details"]["last_error"] = f"{doc['error_details']['last_error']} (shard {n % 50})"
        yield doc


def generate(directory: Path, count: int, seed: int = 7) -> None:
    """Write `count` entries into `directory` (plain writes: this is test data, not the store's path)."""
    directory.mkdir(parents=True, exist_ok=True)
    for doc in documents(count, seed):
        data = json.dumps(doc, indent=2).encode()
        fd = os.open(directory / f"{doc['id']}.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("count", type=int)
    args = parser.parse_args()
    generate(args.directory, args.count)
