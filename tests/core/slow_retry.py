"""An entry whose retry waits long between attempts against a local server that always fails.

For cancellation tests: a retry of it is under way (waiting) until something cancels it.
"""

from __future__ import annotations

from mova_core.settings import Settings

from .engine_fixtures import FakeClock, envelope, fetch, make_engine
from .httpservers import LocalServer

#: The wait between attempts: far longer than any test may take.
SLOW = {"max_attempts": 3, "backoff": "fixed", "delay": 40, "jitter": False}


def slow_failing_entry(settings: Settings, server: LocalServer, name: str = "slow") -> str:
    """Dead-letter a workflow that fails against `server` (run on a fake clock); return the entry's id."""
    doc = envelope(fetch("{{ variables.base_url }}/status/500/" + name, retry=SLOW),
                   variables={"base_url": server.url})
    out = make_engine(settings, FakeClock()).run(doc)
    assert out.status == "failed" and out.dead_letter is not None
    return out.dead_letter.id
