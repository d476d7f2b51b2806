"""Subprocess workers for the store's concurrency tests (run as `python -m tests.core.store_worker`)."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from mova_core.model import lifecycle
from mova_core.model.errors import MovaError
from mova_core.store.files import FileStore
from mova_core.store.fsio import atomic_write


def claim(directory: str, entry_id: str, who: str) -> int:
    store = FileStore(Path(directory))
    now = datetime.now(timezone.utc)
    try:
        store.update(entry_id, lambda e: lifecycle.claim(e, f"retry_{who}", True, who, now, 600))
    except MovaError as exc:
        print(json.dumps({"who": who, "ok": False, "error": str(exc)}))
        return 1
    print(json.dumps({"who": who, "ok": True}))
    return 0


def rewrite_forever(path: str) -> int:
    """Rewrite one file atomically in a loop with growing content until killed."""
    target = Path(path)
    n = 0
    print("ready", flush=True)
    while True:
        n += 1
        atomic_write(target, json.dumps({"n": n, "pad": "x" * (n % 5000)}).encode())


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    sys.exit({"claim": claim, "rewrite": rewrite_forever}[cmd](*args))
