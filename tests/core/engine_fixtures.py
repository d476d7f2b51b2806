"""Fixtures for the engine, sandbox and retry tests (import them into a test module).

The clock is fake: `sleep` records the wait and moves `now` forward, so timeouts and leases are
tested exactly and no test sleeps for real.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mova_core.engine.engine import Engine
from mova_core.settings import Settings
from tests.support import FROZEN_NOW

from .httpservers import LocalServer


class FakeClock:
    """`now()` for the engine; `sleep(s)` records s and advances the time by it."""

    def __init__(self, start: datetime = FROZEN_NOW):
        self.current = start
        self.waits: list[float] = []

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.current += timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(tmp_path) -> Path:
    """The state directory (deadletter/, runs/, sandbox/ beneath it)."""
    path = tmp_path / "state"
    (path / "deadletter").mkdir(parents=True)
    return path


@pytest.fixture
def settings(state) -> Settings:
    return Settings(dlq_path=state / "deadletter")


def make_engine(settings: Settings, clock: FakeClock, *, seed: int = 7, sink: Any = None, **kw) -> Engine:
    """An engine on the fake clock with seeded jitter."""
    return Engine(settings, sleep=clock.sleep, now=clock.now, rng=random.Random(seed), dead_letter=sink, **kw)


def envelope(*actions: dict, name: str = "wf", retry: dict | None = None, **extra) -> dict:
    """A small envelope document."""
    intent: dict[str, Any] = {"name": name, "tags": ["test"]}
    if retry is not None:
        intent["retry"] = retry
    return {"intent": intent, "actions": list(actions), **extra}


def fetch(url: str, id: str = "fetch", retry: dict | None = None, **params) -> dict:
    """An http_fetch action."""
    action: dict[str, Any] = {"id": id, "type": "http_fetch", "params": {"url": url, **params}}
    if retry is not None:
        action["retry"] = retry
    return action


def all_bytes(root: Path) -> list[tuple[Path, bytes]]:
    """Every file under root with its content (hidden files included)."""
    return [(p, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()]


FAST = {"max_attempts": 3, "backoff": "fixed", "delay": 0.01, "jitter": False}
