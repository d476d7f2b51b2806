"""Whether a decoded file is an entry, in the full model's words: what `show` says, and what the index
says of every file its fast check (`mova_core.model.entry_shape`) cannot vouch for.

One function for both, so a file is either listed and shown, or skipped by the listing with the
same reason `show` gives for it. pydantic and the models load on the first call: the index's reader
processes import this module, and need them only for unusual files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from mova_core.model.errors import CorruptEntry

if TYPE_CHECKING:
    from pydantic import ValidationError

    from mova_core.model.entry import DeadLetterEntry


def validate_entry(name: str, doc: object) -> DeadLetterEntry:
    """The entry a decoded file `name` holds; CorruptEntry saying why when it holds none."""
    from pydantic import ValidationError

    from mova_core.model.entry import DeadLetterEntry

    try:
        entry = DeadLetterEntry.model_validate(doc)
    except ValidationError as exc:
        raise CorruptEntry(name, _first_errors(exc)) from None
    except RecursionError:
        raise CorruptEntry(name, "nested too deeply") from None
    if f"{entry.id}.json" != name:
        raise CorruptEntry(name, f"id {entry.id!r} does not match the file name")
    _check_serializable(name, doc, entry)
    return entry


def entry_problem(name: str, doc: object) -> str | None:
    """Why a decoded file is not an entry (the reason `show` gives), or None when it is one."""
    try:
        validate_entry(name, doc)
    except CorruptEntry as exc:
        return exc.reason
    except Exception as exc:  # noqa: BLE001  (a validator failing in a way pydantic does not wrap: not an entry)
        return f"cannot be validated ({type(exc).__name__}: {exc})"[:300]
    return None


def _check_serializable(name: str, doc: object, entry: DeadLetterEntry) -> None:
    """CorruptEntry for an entry nested too deeply to be written out again (about 250 levels).

    Such a file loads, but every view of it (show, --format json, the HTTP shim, the dashboard) and
    every rewrite (archive, retry) would fail on it, so it is reported like any unreadable file.
    orjson's encoder has the same depth limit as pydantic's and costs microseconds; only a file it
    refuses (too deep, or an integer beyond 64 bits, which pydantic does write) is serialised again.
    """
    try:
        orjson.dumps(doc)
        return
    except orjson.JSONEncodeError:
        pass
    try:
        entry.to_json_dict()
    except ValueError:  # PydanticSerializationError: maximum serialisation depth exceeded
        raise CorruptEntry(name, "nested too deeply (more than about 250 levels) to be shown or rewritten") from None


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
