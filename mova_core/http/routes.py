"""The endpoints: the specification's "API Endpoints" section, plus groups, health and metrics.

Handlers are plain functions (FastAPI runs them in its thread pool; the core does blocking file I/O)
and each request borrows a service from the process's pool, acting as the caller's identity.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, get_args

from pydantic import WithJsonSchema
from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import Response

from mova_core import __version__
from mova_core.http.auth import ANONYMOUS
from mova_core.http.responses import (
    error_response,
    http_status,
    json_response,
    mova_error_body,
)
from mova_core.http.schemas import (
    Deleted,
    EntryList,
    ErrorBody,
    GroupList,
    Health,
    RetryRequest,
    StatusChange,
)
from mova_core.model.entry import DeadLetterEntry, RetryOverrides, RetryResponse
from mova_core.model.etag import entry_etag
from mova_core.model.errors import InvalidId, InvalidInput, MovaError
from mova_core.model.ids import ID_PATTERN, MAX_ID_LENGTH, validate_id
from mova_core.model.listing import EntryFilter, Stats
from mova_core.model.redact import Redactor
from mova_core.model.status import EntryStatus
from mova_core.ops.metrics import CONTENT_TYPE, render_prometheus
from mova_core.ops.pool import ServicePool, StampCache
from mova_core.ops.service import DLQService
from mova_core.timeutil import parse_user_time

log = logging.getLogger("mova.http")

MAX_LIMIT = 100_000
ACCESS_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid id, body, status or filter"},
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token"},
}
ERRORS = ACCESS_ERRORS | {
    503: {"model": ErrorBody, "description": "The store could not complete the request (disk full, permissions)"},
}
ENTRY_ERRORS = ERRORS | {
    404: {"model": ErrorBody, "description": "No entry matches the id or prefix"},
    409: {"model": ErrorBody, "description": "Ambiguous prefix, entry already retrying, or forbidden transition"},
    422: {"model": ErrorBody, "description": "The entry's file is unreadable or invalid (`mova dlq show` says why)"},
}
CHANGE_ERRORS = ENTRY_ERRORS | {
    403: {"model": ErrorBody, "description": "Read-only token, or a cross-origin request"},
    413: {"model": ErrorBody, "description": "Body over the size limit"},
}
#: A change that takes `If-Match`.
VERSIONED_ERRORS = CHANGE_ERRORS | {
    412: {"model": ErrorBody, "description": "The entry changed since the If-Match version; nothing was changed"},
}

_DIGITS = re.compile(r"^-?[0-9]+$")


def plain_query(request: Request) -> None:
    """400 for a query parameter the endpoint does not take (a misspelt filter would silently match
    everything), one given more than once (which would win is a guess), or an integer written
    otherwise than in digits (`limit=0.0`, `limit=1e3`)."""
    route = request.scope.get("route")
    fields = _query_fields(route.dependant) if isinstance(route, APIRoute) else {}
    seen: set[str] = set()
    for name, value in request.query_params.multi_items():
        if name not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise InvalidInput(f"unknown query parameter {name!r} (this endpoint takes: {known})")
        if name in seen:
            raise InvalidInput(f"query parameter {name!r} given more than once; give it once")
        seen.add(name)
        if fields[name] and not _DIGITS.match(value.strip()):
            raise InvalidInput(f"query parameter {name!r} must be a whole number written in digits")


def _query_fields(dependant: Dependant) -> dict[str, bool]:
    """The route's query parameters (its dependencies' included), each with whether it is an integer."""
    found = {f.alias: _is_integer(f.field_info.annotation) for f in dependant.query_params}
    for sub in dependant.dependencies:
        found.update(_query_fields(sub))
    return found


def _is_integer(annotation: Any) -> bool:
    return annotation is int or int in get_args(annotation)


router = APIRouter(dependencies=[Depends(plain_query)])


def service(request: Request) -> Iterator[DLQService]:
    """A service for this request from the process's pool, acting as the caller (token name or anonymous)."""
    identity: str = request.scope.get("state", {}).get("identity", ANONYMOUS)
    pool: ServicePool = request.app.state.pool
    with pool.service(identity) as svc:
        yield svc


def cache(request: Request) -> StampCache:
    """Answers kept until the directory changes (statistics, metrics)."""
    return request.app.state.pool.cache


Service = Annotated[DLQService, Depends(service)]


# Documented, not enforced by FastAPI: `entry_id` refuses other ids itself, with the `invalid_id` error.
_ID_SCHEMA = {"pattern": ID_PATTERN, "minLength": 1, "maxLength": MAX_ID_LENGTH}


def entry_id(dlq_id: Annotated[str, Path(description="Full entry id or a unique prefix (e.g. dlq_3f9a2c71)",
                                         json_schema_extra=_ID_SCHEMA)]) -> str:
    """The path's id, refused (400) before any file is touched if it could not name an entry file."""
    if not dlq_id.isprintable():  # the store's pattern lets a trailing newline through
        raise InvalidId(dlq_id)
    return validate_id(dlq_id)


def entry_resource_id(id_: Annotated[str, Depends(entry_id)]) -> str:
    """`entry_id` for `/v1/dlq/{dlq_id}` itself: `/v1/dlq/stats` and `/groups` are other resources,
    so a method they lack is 405 there, not a lookup of an entry named "stats"."""
    if id_ in _SIBLINGS:
        raise HTTPException(405)
    return id_


_SIBLINGS = frozenset({"stats", "groups"})
EntryId = Annotated[str, Depends(entry_id)]
EntryResourceId = Annotated[str, Depends(entry_resource_id)]
StatusQ = Annotated[EntryStatus | None, Query(description="active, retrying, resolved or archived")]
WorkflowTypeQ = Annotated[str | None, Query(description="Workflow type (metadata.workflow_type or intent name)")]
UserQ = Annotated[str | None, Query(description="metadata.user_id")]
# The three forms the CLI's --since takes, documented as such so clients (and schemathesis) send valid ones.
_TIME_FORMS = WithJsonSchema({"anyOf": [
    {"type": "string", "format": "date-time"},
    {"type": "string", "format": "date"},
    {"type": "string", "pattern": r"^\d{1,5}(\.\d{1,3})?[smhdw]$", "description": "an age: 30m, 2h, 7d, 1w"},
]})
SinceQ = Annotated[str | None, _TIME_FORMS, Query(description="Created at or after this time: RFC 3339, a date "
                                                              "(2024-01-19) or an age (2h, 7d), as the CLI's --since")]
UntilQ = Annotated[str | None, _TIME_FORMS, Query(description="Created before this time (the same forms as since)")]


BreakLeaseQ = Annotated[bool, Query(description="Take the entry from a retry that holds a live lease on it (that "
                                               "retry is then recorded as abandoned), as the CLI's --break-lease")]


def _time(name: str, value: str | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    # An unencoded '+' in a query string arrives as a space: "…T10:30:45 02:00" meant "+02:00".
    value = re.sub(r"(T\d{2}:\d{2}:\d{2}(?:\.\d+)?) (\d{2}:\d{2})$", r"\1+\2", value.strip())
    try:
        return parse_user_time(value, now)
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}") from None


def _filter(svc: DLQService, status, workflow_type, user_id, since, until, limit=None) -> EntryFilter:
    now = svc.clock()
    return EntryFilter(status=status, workflow_type=workflow_type or None, user_id=user_id or None,
                       since=_time("since", since, now), until=_time("until", until, now), limit=limit)


@router.get("/healthz", response_model=Health, responses=ACCESS_ERRORS, tags=["service"])
def healthz() -> Response:
    """Liveness: the server answers. Like every endpoint, it needs a bearer token (either one) when
    MOVA_API_TOKEN or MOVA_API_READ_TOKEN is set, and none otherwise."""
    return json_response({"status": "ok", "version": __version__})


@router.get("/v1/dlq", response_model=EntryList, responses=ERRORS, tags=["dlq"])
def list_entries(
    svc: Service,
    kept: Annotated[StampCache, Depends(cache)],
    status: StatusQ = None,
    workflow_type: WorkflowTypeQ = None,
    user_id: UserQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    limit: Annotated[int | None, Query(ge=0, le=MAX_LIMIT, description="At most this many entries")] = None,
) -> Response:
    """List entries, newest first, filtered as the specification describes; `count` entries are returned
    of the `total` that match."""
    flt = _filter(svc, status, workflow_type, user_id, since, until, limit)

    def page() -> dict:
        found = svc.list(flt)
        # The files as written (as `mova dlq list --format json` prints them): no model round trip.
        entries, _ = svc.read_raw([item.id for item in found.items])
        return {"entries": entries, "count": len(entries), "total": found.total, "filter": flt.spec_dict()}

    return json_response(kept.get(("list", flt.model_dump_json()), page))  # until the directory changes


# Declared before /v1/dlq/{dlq_id}: "stats" and "groups" are not ids.
@router.get("/v1/dlq/stats", response_model=Stats, responses=ERRORS, tags=["dlq"])
def stats(svc: Service, kept: Annotated[StampCache, Depends(cache)]) -> Response:
    """Counts by status and workflow type, oldest and newest entry."""
    return json_response(kept.get("stats", lambda: svc.stats().model_dump(mode="json")))


@router.get("/v1/dlq/groups", response_model=GroupList, responses=ERRORS, tags=["dlq"])
def groups(
    svc: Service,
    status: StatusQ = None,
    workflow_type: WorkflowTypeQ = None,
    user_id: UserQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
) -> Response:
    """Entries grouped by failure fingerprint (same action type and normalised error), largest first."""
    flt = _filter(svc, status, workflow_type, user_id, since, until)
    found = svc.groups(flt)
    return json_response({"groups": [g.model_dump(mode="json") for g in found], "count": len(found),
                          "filter": flt.spec_dict()})


@router.get("/v1/dlq/{dlq_id}", response_model=DeadLetterEntry, responses=ENTRY_ERRORS, tags=["dlq"])
def get_entry(dlq_id: EntryId, svc: Service, kept: Annotated[StampCache, Depends(cache)]) -> Response:
    """One entry in full, by id or unique prefix, with its `ETag` (send it back as `If-Match` on a change
    to make it only if nobody changed the entry meanwhile)."""
    # Any change of an entry renames its file, so the directory's stamp moves: kept until then.
    doc = kept.get(("get", dlq_id), lambda: svc.get(dlq_id).to_json_dict())
    return _entry_response(doc)


def _entry_response(doc: dict[str, Any]) -> Response:
    return json_response(doc, headers={"ETag": entry_etag(doc)})


IfMatch = Annotated[str | None, Header(alias="If-Match", description="Change the entry only if it is still this "
                                                                     "version (an ETag from GET); else 412")]


@router.post(
    "/v1/dlq/{dlq_id}/retry",
    response_model=RetryResponse,
    responses=CHANGE_ERRORS | {202: {"model": RetryResponse,
                                     "description": "Started in the background (no execution_result yet)"}},
    tags=["dlq"],
)
def retry(
    request: Request,
    dlq_id: EntryId,
    svc: Service,
    body: Annotated[RetryRequest | None, Body()] = None,
    wait: Annotated[bool | None, Query(description="false: answer 202 at once (overrides the body)")] = None,
) -> Response:
    """Retry an entry, in the sandbox unless `sandbox_mode` is false; waits for the outcome unless told not to."""
    req = body or RetryRequest()
    waiting = req.wait if wait is None else wait
    overrides = RetryOverrides(variables=req.overrides.variables, secrets=req.overrides.secrets)
    redact = Redactor(req.overrides.secrets.values())
    try:
        with request.app.state.retries as running:
            result = svc.retry(dlq_id, sandbox_mode=req.sandbox_mode, overrides=overrides, wait=waiting,
                               cancel=running.cancel)
    except MovaError as exc:
        return json_response(redact(mova_error_body(exc)), http_status(exc))
    except Exception as exc:  # a bug in the engine: log it without the secrets it may have seen
        log.error("retry of %s failed unexpectedly: %s", dlq_id,
                  redact.text("".join(traceback.format_exception(exc))))
        return error_response(500, "internal server error during the retry (see the server log)", "internal_error")
    return json_response(redact(result.model_dump(mode="json")), 200 if waiting else 202)


@router.put("/v1/dlq/{dlq_id}/status", response_model=DeadLetterEntry, responses=VERSIONED_ERRORS, tags=["dlq"])
def set_status(dlq_id: EntryId, body: StatusChange, svc: Service, break_lease: BreakLeaseQ = False,
               if_match: IfMatch = None) -> Response:
    """Change an entry's status by the lifecycle rules; answers the updated entry."""
    return _entry_response(svc.set_status(dlq_id, body.status, break_lease=break_lease,
                                          if_match=if_match).to_json_dict())


@router.post("/v1/dlq/{dlq_id}/archive", response_model=DeadLetterEntry, responses=VERSIONED_ERRORS, tags=["dlq"])
def archive(
    dlq_id: EntryId,
    svc: Service,
    break_lease: BreakLeaseQ = False,
    if_match: IfMatch = None,
) -> Response:
    """Archive an entry (idempotent); answers the updated entry."""
    return _entry_response(svc.archive(dlq_id, break_lease=break_lease, if_match=if_match).to_json_dict())


@router.delete("/v1/dlq/{dlq_id}", response_model=Deleted, responses=VERSIONED_ERRORS, tags=["dlq"])
def delete(
    dlq_id: EntryResourceId,
    svc: Service,
    break_lease: BreakLeaseQ = False,
    if_match: IfMatch = None,
) -> Response:
    """Delete an entry for good."""
    old = svc.delete(dlq_id, break_lease=break_lease, if_match=if_match)
    return json_response({"message": "DLQ entry deleted", "dlq_id": old.id})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}} | ERRORS,
    tags=["service"],
)
def metrics(svc: Service, kept: Annotated[StampCache, Depends(cache)]) -> Response:
    """The specification's metrics in the Prometheus text format (ages taken at each scrape)."""
    # Ages are taken at each whole second: a scrape within the same second gets the same text.
    now = svc.clock().replace(microsecond=0)
    text = kept.get(("metrics", now), lambda: render_prometheus(kept.get("metrics", svc.metrics), now))
    return Response(text, media_type=CONTENT_TYPE)
