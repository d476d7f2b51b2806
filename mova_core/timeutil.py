"""RFC 3339 timestamps as the engines write them (nanoseconds, any offset)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

# Go writes up to nine fractional digits; datetime keeps six.
_FRACTION = re.compile(r"(\.\d{1,9})\d*")
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (with offset, up to nine fractional digits) to an aware datetime."""
    if isinstance(value, str) and len(value) <= 27 and value[10:11] == "T":
        try:  # fast path: this tool's own format (microseconds, Z) needs no regex
            dt = datetime.fromisoformat(value)
            if dt.tzinfo is not None:
                return dt
        except ValueError:
            pass
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(f"not an RFC 3339 timestamp: {value!r} (e.g. 2024-01-19T10:30:45Z)")
    text = _FRACTION.sub(lambda m: m.group(1)[:7], value, count=1)
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def parse_user_time(value: str, now: datetime | None = None) -> datetime:
    """Parse a filter time: RFC 3339, a date (YYYY-MM-DD, UTC) or a relative age like 2h, 30m, 7d."""
    value = value.strip()
    rel = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", value)
    if rel:
        from datetime import timedelta

        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[rel.group(2)]
        try:
            return (now or utcnow()) - timedelta(seconds=float(rel.group(1)) * unit)
        except OverflowError:
            raise ValueError(f"not a time: {value!r} is further back than the year 1") from None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
        return parse_time(value)
    except ValueError:
        raise ValueError(f"not a time: {value!r} (use RFC 3339 such as 2024-01-19T10:30:45Z, a date such as "
                         "2024-01-19, or an age such as 2h or 7d)") from None


def parse_duration(value: str) -> float:
    """Parse a duration like 90, 90s, 15m, 2h, 7d into seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", value)
    if not m:
        raise ValueError(f"not a duration: {value!r} (e.g. 30s, 15m, 2h, 7d)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    return float(m.group(1)) * unit


def format_time(dt: datetime) -> str:
    """Format as RFC 3339 in UTC with microseconds and a Z suffix."""
    # isoformat, not strftime("%Y"): year 1 must print as 0001 to stay RFC 3339.
    return dt.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


def humanize_age(seconds: float) -> str:
    """A short age: 45s, 12m, 3h, 5d, 2y."""
    seconds = max(0.0, seconds)
    for limit, div, unit in ((60, 1, "s"), (3600, 60, "m"), (86400, 3600, "h"), (86400 * 365, 86400, "d")):
        if seconds < limit:
            return f"{int(seconds // div)}{unit}"
    return f"{int(seconds // (86400 * 365))}y"
