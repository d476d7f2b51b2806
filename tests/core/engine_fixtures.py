"""Fixtures for the engine, sandbox and retry tests (import them into a test module).

The clock is fake: `sleep` records the wait and moves `now` forward, so timeouts and leases are
tested exactly and no test sleeps for real.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mova_core.engine.engine import Engine
from mova_core.model.entry import DeadLetterEntry
from mova_core.settings import Settings
from mova_core.store.files import FileStore
from mova_core.store.runs import RunStore
from tests.support import FROZEN_NOW

from .httpservers import LocalServer


class FakeClock:
    """`now()` for the engine; `sleep(s)` records s and advances the time by it, running the timers
    (`every`, a `Timer` for the lease keeper) that fall due on the way, in time order."""

    def __init__(self, start: datetime = FROZEN_NOW):
        self.current = start
        self.waits: list[float] = []
        self.timers: list[list[Any]] = []  # [next time, period, beat]

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        end = self.current + timedelta(seconds=seconds)
        while True:
            due = [t for t in self.timers if t[0] <= end]
            if not due:
                break
            timer = min(due, key=lambda t: t[0])
            self.current = max(self.current, timer[0])
            timer[0] += timedelta(seconds=timer[1])
            timer[2]()
        self.current = end

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)

    def every(self, seconds: float, beat: Callable[[], None]) -> Callable[[], None]:
        """Call `beat` every `seconds` of fake time (during `sleep`) until the returned stop()."""
        timer = [self.current + timedelta(seconds=seconds), seconds, beat]
        self.timers.append(timer)

        def stop() -> None:
            if timer in self.timers:
                self.timers.remove(timer)

        return stop


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


class CallbackSink:
    """A dead-letter sink handing each entry to a callable (a list's `append`) instead of a store."""

    def __init__(self, take: Callable[[DeadLetterEntry], Any]):
        self.take = take

    def create(self, entry: DeadLetterEntry, *, doc: dict[str, Any] | None = None) -> None:
        self.take(entry)


def make_engine(settings: Settings, clock: FakeClock, *, seed: int = 7,
                sink: Callable[[DeadLetterEntry], Any] | None = None, **kw) -> Engine:
    """An engine on the fake clock with seeded jitter, wired as the operations layer wires it
    (entries to the file store, run records to the run store); `sink(entry)` takes the entries instead."""
    dead_letters = FileStore(settings.dlq_path) if sink is None else CallbackSink(sink)
    kw.setdefault("sleep", clock.sleep)
    return Engine(settings, dead_letters=dead_letters, run_records=RunStore, now=clock.now,
                  rng=random.Random(seed), **kw)


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
