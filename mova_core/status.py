"""Entry statuses: a plain enum in a module of its own, so the command line can offer them as
choices without importing pydantic and the models."""

from __future__ import annotations

from enum import StrEnum


class EntryStatus(StrEnum):
    """Lifecycle of a dead-letter entry."""

    active = "active"
    retrying = "retrying"
    resolved = "resolved"
    archived = "archived"
