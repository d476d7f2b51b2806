"""Request and response bodies of the shim, built from the core's models so OpenAPI shows the real shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from mova_core.model.entry import DeadLetterEntry, EntryStatus, RetryOverrides
from mova_core.model.listing import Group


class EntryList(BaseModel):
    """`GET /v1/dlq`: the matching entries in full, how many were returned (`count`, as the specification
    defines it) and how many match (`total`: more than `count` when `limit` cut the list), and the filter."""

    entries: list[DeadLetterEntry]
    count: int
    total: int
    filter: dict[str, Any]


class GroupList(BaseModel):
    """`GET /v1/dlq/groups`: failure groups, largest first, and the filter applied."""

    groups: list[Group]
    count: int
    filter: dict[str, Any]


class StatusChange(BaseModel):
    """`PUT /v1/dlq/{id}/status` body."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    status: EntryStatus


class RetryOverridesBody(RetryOverrides):
    """Variable and secret overrides for a retry; secrets are used in memory only, never stored or echoed."""

    model_config = ConfigDict(extra="forbid")


class RetryRequest(BaseModel):
    """`POST /v1/dlq/{id}/retry` body; every field is optional (an empty body is a sandbox retry)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    sandbox_mode: StrictBool = True
    """false: a production retry. Strict: only a JSON `false` turns the sandbox off, never a string."""
    overrides: RetryOverridesBody = Field(default_factory=RetryOverridesBody)
    wait: StrictBool = True
    """false: claim the entry, start the retry in the background and answer 202 at once."""


class Deleted(BaseModel):
    """`DELETE /v1/dlq/{id}` answer."""

    message: str = "DLQ entry deleted"
    dlq_id: str


class Health(BaseModel):
    """`GET /healthz` answer."""

    status: str = "ok"
    version: str


class ErrorBody(BaseModel):
    """Every error: a sentence, a code, and details such as `candidates` for an ambiguous prefix."""

    model_config = ConfigDict(extra="allow")

    error: str
    code: str
