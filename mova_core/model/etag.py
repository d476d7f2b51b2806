"""An entry's entity tag: what `If-Match` compares, the same over every store.

Made from the entry's JSON object (keys sorted), so any change to what a reader would see gives a new
tag, and two stores holding the same entry give the same one.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def entry_etag(doc: dict[str, Any]) -> str:
    """The strong entity tag of an entry's JSON object, quoted as HTTP writes it."""
    digest = hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f'"{digest[:32]}"'


def matches(doc: dict[str, Any], if_match: str) -> bool:
    """Whether `If-Match` (one tag, a comma-separated list, or `*`) accepts the entry."""
    wanted = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    return "*" in wanted or entry_etag(doc) in wanted
