"""Paths and constants shared by the tests (import as `from tests.support import ...`)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DLQ = ROOT / "sample_state" / "deadletter"
SPEC_DIR = ROOT.parent / "shared" / "spec"
GO_ENTRY = ROOT / "tests" / "data" / "go-engine-entry.json"

#: A fixed "now" a few days after the newest sample entry.
FROZEN_NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)
