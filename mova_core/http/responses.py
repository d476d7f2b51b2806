"""JSON responses and the error body shape every failure uses: `{"error": "...", "code": "...", ...}`."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from starlette.responses import Response

from mova_core.model.errors import (
    AlreadyRetrying,
    AmbiguousId,
    CorruptEntry,
    EntryNotFound,
    InvalidId,
    InvalidInput,
    InvalidTransition,
    LeaseHeld,
    MovaError,
    PreconditionFailed,
    StoreError,
)

#: The HTTP status of each core error; a class not named here takes its nearest base's, and a
#: MovaError the shim does not know is the caller's problem (400).
HTTP_STATUS: dict[type[MovaError], int] = {
    MovaError: 400,
    InvalidId: 400,
    InvalidInput: 400,
    EntryNotFound: 404,
    AmbiguousId: 409,
    InvalidTransition: 409,
    PreconditionFailed: 412,
    AlreadyRetrying: 409,
    CorruptEntry: 422,
    StoreError: 503,
}


def dump_json(data: Any) -> bytes:
    """Compact JSON bytes; falls back to the standard library for integers beyond 64 bits."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def json_response(data: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response written directly (no second validation pass over large entry lists)."""
    return Response(dump_json(data), status_code=status_code, headers=headers, media_type="application/json")


def error_body(message: str, code: str, **extra: Any) -> dict[str, Any]:
    """The error object: a sentence for people, a code for scripts, and any details."""
    return {"error": message, "code": code, **{k: v for k, v in extra.items() if v is not None}}


def error_response(status_code: int, message: str, code: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> Response:
    """An error object as a response."""
    return json_response(error_body(message, code, **extra), status_code, headers)


def error_code(exc: MovaError) -> str:
    """`EntryNotFound` → `entry_not_found`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def mova_error_body(exc: MovaError) -> dict[str, Any]:
    """The error object for a core error, with the details a caller can act on."""
    extra: dict[str, Any] = {}
    if isinstance(exc, AmbiguousId):
        extra["candidates"] = exc.candidates
    elif isinstance(exc, InvalidTransition):
        extra.update(dlq_id=exc.entry_id, from_status=str(exc.old), to_status=str(exc.new))
        if isinstance(exc, LeaseHeld):
            extra.update(retry_run_id=exc.run_id, lease_expires_at=exc.expires_at)
    elif isinstance(exc, PreconditionFailed):
        extra.update(dlq_id=exc.entry_id, etag=exc.current)
    elif isinstance(exc, AlreadyRetrying):
        extra.update(dlq_id=exc.entry_id, lease_owner=exc.owner, lease_expires_at=exc.expires_at)
    return error_body(str(exc), error_code(exc), **extra)


def http_status(exc: MovaError) -> int:
    """The HTTP status for a core error (see `HTTP_STATUS`)."""
    for cls in type(exc).__mro__:
        status = HTTP_STATUS.get(cls)
        if status is not None:
            return status
    return HTTP_STATUS[MovaError]


def mova_error_response(exc: MovaError) -> Response:
    """A core error as a response with its status (`http_status`)."""
    return json_response(mova_error_body(exc), http_status(exc))
