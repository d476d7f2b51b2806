"""`http_fetch`: one HTTP request through httpx; any non-2xx answer is a failure."""

from __future__ import annotations

import json
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from mova_core.engine.actions.base import ActionContext, ActionType, ParamsModel
from mova_core.engine.errors import ActionError, ActionTimeout, NonRetryableError
from mova_core.model.nesting import depth_exceeds
from mova_core.model.redact import Redactor

DEFAULT_TIMEOUT = 30.0
#: 4xx answers another attempt may fix: request timeout, too many requests.
RETRYABLE_4XX = frozenset({408, 429})
MAX_BODY_CHARS = 1_000_000
PREVIEW_CHARS = 500
# A header name is an RFC 9110 token; a value is visible ASCII, spaces and tabs (no line breaks:
# they would start another header). httpx would refuse others only when sending, as a bug.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class HttpFetchParams(ParamsModel):
    """`url` (http/https), `method` (GET), `headers`, `query`, `body` (text, or an object sent as
    JSON) or `json`, `timeout` (seconds per request; the Go dialect's `timeout_ms` also works)."""

    url: str
    method: Method = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str | int | float | bool] | None = None
    body: Any = None
    json_body: Any = Field(default=None, alias="json")
    timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    timeout_ms: int | None = Field(default=None, gt=0)  # the Go engine's spelling

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value):
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except Exception:
            raise ValueError("must be an http:// or https:// URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("headers")
    @classmethod
    def _sendable_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        # The message names the header, never its value: it may be a secret.
        for name, value in headers.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name")
            if not _HEADER_VALUE.match(value):
                raise ValueError(f"header {name!r} has characters HTTP cannot send (only ASCII, no line breaks); "
                                 "percent-encode the value or send it in the body")
        return headers

    @model_validator(mode="after")
    def _one_body(self):
        if self.body is not None and self.json_body is not None:
            raise ValueError("give either body or json, not both")
        return self

    @property
    def timeout_seconds(self) -> float:
        if self.timeout is not None:
            return self.timeout
        if self.timeout_ms is not None:
            return self.timeout_ms / 1000
        return DEFAULT_TIMEOUT


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def decode_body(response: httpx.Response, redactor: Redactor | None = None) -> Any:
    """JSON when the answer is JSON (and not nested too deeply to store), else text, truncated for
    very large answers (after redaction, so that no secret is cut in half and left readable)."""
    ctype = response.headers.get("content-type", "")
    text = response.text
    if "json" in ctype or text[:1] in ("{", "["):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            pass
        else:
            if not depth_exceeds(data):
                return data
    if len(text) <= MAX_BODY_CHARS:
        return text
    return (redactor or Redactor()).clip(text, MAX_BODY_CHARS) + "…"


class HttpFetch(ActionType):
    """One HTTP request; non-2xx fails; 4xx (but 408/429) is not retried; Retry-After honoured."""

    name = "http_fetch"
    Params = HttpFetchParams

    def run(self, params: HttpFetchParams, ctx: ActionContext) -> Any:
        timeout = params.timeout_seconds
        remaining = ctx.remaining()
        if remaining is not None:
            if remaining <= 0:
                raise ActionTimeout(f"no time left for {params.method} {params.url}")
            timeout = min(timeout, remaining)
        request_summary = {"method": params.method, "url": params.url, "headers": params.headers}
        if params.query:
            request_summary["query"] = params.query
        ctx.log("request", detail=True, **request_summary)
        started = time.perf_counter()
        # The run context's transport checks the sandbox policy on every request, redirects included.
        response = _send(params, ctx.run_context.transport(ctx.http_transport), timeout)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        body = decode_body(response, ctx.redactor)
        ctx.log("response", detail=True, status=response.status_code, elapsed_ms=elapsed_ms,
                headers=dict(response.headers), body_preview=ctx.redactor.clip(response.text, PREVIEW_CHARS))
        _check_status(response)
        return {
            "status": response.status_code,
            "headers": dict(response.headers),
            "body": body,
            "url": str(response.url),
            "elapsed_ms": elapsed_ms,
        }


def _send(params: HttpFetchParams, transport: httpx.BaseTransport, timeout: float) -> httpx.Response:
    """The request, through the run context's transport; a transport failure as an ActionError."""
    try:
        with httpx.Client(transport=transport, timeout=timeout, follow_redirects=True) as client:
            return client.request(
                params.method,
                params.url,
                headers=params.headers,
                params=params.query,
                content=params.body if isinstance(params.body, str) else None,
                json=params.json_body if params.json_body is not None else _json_or_none(params.body),
            )
    except httpx.TimeoutException:
        raise ActionError(f"timeout after {timeout:g}s: {params.method} {params.url}") from None
    except httpx.ConnectError as exc:
        raise ActionError(f"connection failed: {params.method} {params.url}: {_reason(exc)}") from None
    except httpx.TooManyRedirects:
        raise NonRetryableError(f"too many redirects: {params.method} {params.url}") from None
    except httpx.HTTPError as exc:
        raise ActionError(f"request failed: {params.method} {params.url}: {_reason(exc)}") from None


def _check_status(response: httpx.Response) -> None:
    """A non-2xx answer as an ActionError: not retryable for a 4xx but 408/429; Retry-After kept."""
    status = response.status_code
    if 200 <= status < 300:
        return
    message = f"HTTP {status}: {response.reason_phrase or 'error'}"
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        raise NonRetryableError(message)
    retry_after = parse_retry_after(response.headers.get("retry-after")) if status in (429, 503) else None
    raise ActionError(message, retry_after=retry_after)


def _json_or_none(body: Any) -> Any:
    return None if body is None or isinstance(body, str) else body


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
