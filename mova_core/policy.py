"""Retry policies: the model, field-by-field resolution and the delay schedule (pure)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictBool

from .doc import Doc, NonNegative


class Backoff(StrEnum):
    """How the delay grows between attempts."""

    fixed = "fixed"
    linear = "linear"
    exponential = "exponential"


class RetryPolicy(Doc):
    """A retry policy as written in `intent.retry` or `action.retry`; every field optional."""

    max_attempts: Annotated[int, Field(ge=1, strict=True)] | None = None
    backoff: Backoff | None = None
    delay: NonNegative | None = None
    max_delay: NonNegative | None = None
    jitter: StrictBool | None = None
