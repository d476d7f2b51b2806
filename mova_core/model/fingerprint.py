"""Failure fingerprints: "the same failure" across many entries, whatever the ids and numbers in it."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from mova_core.model.attempts import attempt_message

_RULES = [
    # URL query strings and fragments vary per request.
    (re.compile(r"(https?://[^\s?#\"']+)[?#][^\s\"']*"), r"\1"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b(?:dlq|run|retry)_[\w-]+"), "<id>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b[0-9a-f]{16,}\b", re.I), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
]


def normalise_error(text: str) -> str:
    """Fold the parts of an error message that vary between occurrences (numbers, ids, query strings)."""
    text = attempt_message((text or "").strip())
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text.lower()[:300]


@lru_cache(maxsize=4096)  # outages repeat the same few errors many times
def fingerprint(action_type: str | None, last_error: str | None) -> str:
    """A short stable id for (failed action type, normalised last error)."""
    key = f"{action_type or '-'}|{normalise_error(last_error or '')}"
    return hashlib.sha1(key.encode()).hexdigest()[:12]
