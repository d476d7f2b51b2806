"""The entry model: both dialects load, and round trips lose nothing."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from mova_core.model.entry import DeadLetterEntry, EntryStatus, new_entry_id
from mova_core.timeutil import parse_time
from tests.support import GO_ENTRY, SAMPLE_DLQ


def test_go_dialect_loads_and_round_trips_exactly():
    raw = json.loads(GO_ENTRY.read_text())
    entry = DeadLetterEntry.model_validate(raw)
    assert entry.id == "7f3c2a91-5b4e-4d2a-9c61-0e8f1b2d4a55"
    assert entry.failed_action.key == "push_invoices"
    assert entry.failed_action.arguments["method"] == "POST"
    assert entry.envelope.actions[0].key == "prepare"
    assert entry.workflow_type == "invoice-sync"
    assert entry.envelope.payload is None and entry.context.logs is None
    assert entry.error_details.environment == {"executor_version": "1.0.0", "go_version": "1.23.0"}
    assert entry.to_json_dict() == raw


def test_unknown_fields_survive_a_status_change():
    raw = json.loads(GO_ENTRY.read_text())
    raw["custom_top"] = {"a": [1, 2, {"b": None}]}
    raw["metadata"]["custom_data"] = {"ticket": "OPS-1"}
    raw["error_details"]["stack_trace"] = "goroutine 1 [running]"
    raw["envelope"]["actions"][1]["x_vendor"] = 7
    entry = DeadLetterEntry.model_validate(raw)
    entry.status = EntryStatus.archived
    out = entry.to_json_dict()
    assert out.pop("status") == "archived"
    raw.pop("status")
    assert out == raw


@pytest.mark.parametrize("path", sorted(SAMPLE_DLQ.glob("*.json")), ids=lambda p: p.name[:12])
def test_every_sample_entry_round_trips(path):
    raw = json.loads(path.read_text())
    entry = DeadLetterEntry.model_validate(raw)
    assert entry.to_json_dict() == raw
    assert path.name == f"{entry.id}.json"


def test_new_ids_are_dlq_uuid4():
    entry_id = new_entry_id()
    assert entry_id.startswith("dlq_") and len(entry_id) == 40 and entry_id[18] == "4"


def test_nanosecond_timestamps_and_offsets_parse():
    assert parse_time("2024-01-19T10:30:45.123456789Z").microsecond == 123456
    assert parse_time("2025-09-02T14:21:33.481920517+02:00").utcoffset().total_seconds() == 7200
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_bad_status_and_bad_timestamp_are_rejected():
    raw = json.loads(GO_ENTRY.read_text())
    with pytest.raises(ValidationError):
        DeadLetterEntry.model_validate(raw | {"status": "exploded"})
    with pytest.raises(ValidationError):
        DeadLetterEntry.model_validate(raw | {"created_at": "2024-13-99"})
