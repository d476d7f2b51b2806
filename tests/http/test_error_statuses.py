"""The HTTP status of every core error is decided in one place (`mova_core.http.responses`)."""

from __future__ import annotations

import pytest

from mova_core.http.responses import http_status, mova_error_response
from mova_core.model import errors


@pytest.mark.parametrize("exc, status", [
    (errors.InvalidId("a/b"), 400),
    (errors.InvalidInput("bad filter"), 400),
    (errors.PolicyError("retry.max_attempts: must be 1 or more"), 400),  # by its base, InvalidInput
    (errors.EntryNotFound("dlq_x"), 404),
    (errors.AmbiguousId("dlq_", ["dlq_1", "dlq_2"]), 409),
    (errors.InvalidTransition("dlq_x", "archived", "resolved"), 409),
    (errors.AlreadyRetrying("dlq_x", "me", "2026-11-28T10:00:00Z"), 409),
    (errors.CorruptEntry("dlq_x.json", "not valid JSON"), 422),
    (errors.StoreError("the disk is full"), 503),
    (errors.MovaError("something the shim does not know"), 400),
])
def test_each_core_error_has_its_status(exc, status):
    assert http_status(exc) == status
    assert mova_error_response(exc).status_code == status


def test_the_vocabulary_carries_no_http_status():
    names = [n for n in dir(errors) if isinstance(getattr(errors, n), type)]
    assert not [n for n in names if hasattr(getattr(errors, n), "http_status")]
