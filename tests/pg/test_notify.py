"""Live changes: every committed change of any host is announced to listeners; a rolled-back one is not."""

from __future__ import annotations

import queue
import threading
import time

import psycopg
import pytest

from mova_core.model.errors import InvalidTransition
from mova_core.store.pg.store import PgStore
from tests.pg.fixtures import seed_sample
from tests.pg.processes import host, run_mova

ENTRY = "dlq_a71c4e88-5d2b-4f9a-b037-6c8e1f2d90ab"


@pytest.fixture
def listening(pg_target):
    """A store and a queue of the batches its listener thread hears."""
    seed_sample(pg_target)
    store = PgStore(pg_target.url, pg_target.schema)
    heard: queue.Queue[tuple[float, list[str]]] = queue.Queue()
    stop = threading.Event()

    def listen() -> None:
        for batch in store.changes(stop, wait=0.05):
            heard.put((time.monotonic(), batch))

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    _until_listening(pg_target, store.channel, heard)
    yield store, heard
    stop.set()
    thread.join(5)
    store.close()


def _until_listening(target, channel: str, heard: queue.Queue) -> None:
    """Probe the channel until the listener hears it (its LISTEN is then in place), then forget the probes."""
    deadline = time.monotonic() + 10
    with psycopg.connect(target.url, autocommit=True) as conn:
        while True:
            conn.execute("SELECT pg_notify(%s, 'probe')", (channel,))
            try:
                if "probe" in heard.get(timeout=0.05)[1]:
                    break
            except queue.Empty:
                assert time.monotonic() < deadline, "the listener never heard a probe"
    while True:  # probes sent before the one heard may still be on their way
        try:
            heard.get(timeout=0.1)
        except queue.Empty:
            return


def test_a_change_by_another_process_is_heard(listening, pg_target, tmp_path):
    store, heard = listening
    r = run_mova(pg_target, host(tmp_path, "b"), "dlq", "archive", ENTRY[:12])
    done = time.monotonic()
    assert r.returncode == 0, r.stderr
    at, batch = heard.get(timeout=10)
    assert batch == [f"{ENTRY}.json"]
    assert at - done < 0.5  # heard within half a second of the other process's commit (it had exited)


def test_creates_deletes_and_bursts_are_heard_and_a_refused_change_is_not(listening):
    store, heard = listening

    def refuse(entry):
        raise InvalidTransition(entry.id, "active", "nowhere")

    with pytest.raises(InvalidTransition):
        store.update(ENTRY, refuse)
    other = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"
    store.delete(other)
    store.update(ENTRY, _bump)
    names: set[str] = set()
    while len(names) < 2:
        names |= set(heard.get(timeout=10)[1])
    assert names == {f"{other}.json", f"{ENTRY}.json"}
    with pytest.raises(queue.Empty):
        heard.get(timeout=0.3)  # the refused change announced nothing


def _bump(entry):
    entry.metadata.retry_count += 1
    return entry


def test_a_batch_write_announces_the_entries_it_created_and_only_those(listening):
    store, heard = listening
    doc = store.read_raw([ENTRY])[0][0]
    new = [{**doc, "id": f"dlq_batch-{n}"} for n in range(3)]
    assert store.create_many([new[0], doc, new[1], new[2]]) == [d["id"] for d in new]
    names: set[str] = set()
    deadline = time.monotonic() + 5
    while len(names) < 3 and time.monotonic() < deadline:
        try:
            names |= set(heard.get(timeout=0.1)[1])
        except queue.Empty:
            pass
    assert names == {f"dlq_batch-{n}.json" for n in range(3)}  # the stored entry was not touched, nor announced
