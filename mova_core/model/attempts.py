"""The `Attempt n: message` lines of an entry's error history: written and read here only."""

from __future__ import annotations

import re

_ATTEMPT = re.compile(r"^Attempt (\d+)(?: \(([^)]*)\))?: (.*)$", re.DOTALL)


def attempt_line(number: int, message: str, note: str | None = None) -> str:
    """`Attempt 3: message`, or `Attempt 3 (production retry r1): message` with a note."""
    return f"Attempt {number} ({note}): {message}" if note else f"Attempt {number}: {message}"


def split_attempt(line: str) -> tuple[int | None, str]:
    """(attempt number, message) of a history line; (None, line) for a line of another form."""
    match = _ATTEMPT.match(line)
    if match is None:
        return None, line
    return int(match.group(1)), match.group(3)


def attempt_message(line: str) -> str:
    """The message of a history line without its `Attempt n:` prefix."""
    return split_attempt(line)[1]
