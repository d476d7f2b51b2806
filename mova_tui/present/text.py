"""Short forms the faces print alike: ids, one-line text, ages, times and durations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from mova_core.timeutil import humanize_age, parse_time
from mova_tui.present.safe_text import clean

ID_PREFIX = "dlq_"


def short_id(entry_id: str, length: int = 8) -> str:
    """The first characters after `dlq_` (or of a bare id): unique enough to type as a prefix."""
    return entry_id.removeprefix(ID_PREFIX)[:length]


def short_ids(ids: Iterable[str], minimum: int = 8) -> dict[str, str]:
    """The shortest prefix of each id that is unique among `ids` (at least `minimum` characters past `dlq_`)."""
    ids = list(dict.fromkeys(ids))
    keys = sorted((i.removeprefix(ID_PREFIX), i) for i in ids)
    need: dict[str, int] = {}
    for n, (key, full) in enumerate(keys):
        neighbours = [keys[n - 1][0]] if n else []
        neighbours += [keys[n + 1][0]] if n + 1 < len(keys) else []
        common = max((_common_prefix(key, other) for other in neighbours), default=0)
        need[full] = max(minimum, common + 1)
    return {full: full[: len(full) - len(full.removeprefix(ID_PREFIX)) + need[full]] for full in ids}


def _common_prefix(a: str, b: str) -> int:
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    return k


def shorten(text: str | None, width: int = 200) -> str:
    """Prose (an error) as one safe line of at most `width` characters: whitespace runs as one space, an ellipsis when cut."""
    return fit(" ".join(clean(text or "").split()), width)


def shorten_name(text: str | None, width: int = 200) -> str:
    """A name (an id, a type) as one safe line of at most `width` characters: tabs and newlines shown as `\\t`, `\\n`."""
    return fit(clean((text or "")[:max(width, 0) + 1], one_line=True), width)


def fit(line: str, width: int) -> str:
    """`line` cut to `width` characters, the last one an ellipsis when cut."""
    if width <= 0:
        return ""
    return line if len(line) <= width else line[: width - 1] + "…"


def age(created_ts: float, now: datetime) -> str:
    """How long ago, short (45s, 12m, 3h, 5d)."""
    return humanize_age(now.timestamp() - created_ts)


def when(stamp: str | None, now: datetime) -> str | None:
    """A timestamp with its age (`2024-01-19T10:30:45Z (3d ago)`); None for none, as written if unparsable."""
    if not stamp:
        return None
    try:
        return f"{stamp} ({humanize_age(now.timestamp() - parse_time(stamp).timestamp())} ago)"
    except ValueError:
        return stamp


def duration(start: str | None, end: str | None) -> str:
    """How long from `start` to `end` (`3.2s`, `4m`), or "" when either is missing or unreadable."""
    if not start or not end:
        return ""
    try:
        seconds = parse_time(end).timestamp() - parse_time(start).timestamp()
    except ValueError:
        return ""
    return f"{seconds:.1f}s" if seconds < 120 else humanize_age(seconds)
