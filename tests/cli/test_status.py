"""`mova dlq reopen` (one ID or --all) and `mova dlq status ID STATUS`, through Typer's runner."""

from __future__ import annotations

import json

import pytest

from mova_core.ops.service import build_service

from .conftest import entry_status

ACTIVE = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"
RESOLVED = "dlq_6a4e1f97-c0d8-4b32-a5e9-0f3d7c82b61e"
RESOLVED_2 = "dlq_f16a0d3c-7b95-4286-a4e1-3d8c9b02e67f"
ARCHIVED = "dlq_07b5c3ae-6f19-4d84-b2c0-9e1a4d7f58e3"
ARCHIVED_2 = "dlq_b83f6a27-14ce-4d70-9e5b-c2a8f0d31b46"
STALE = "dlq_d4e8a61b-2f7c-4c95-8a03-b6e9d15f2c70"


def audit(dlq) -> list[dict]:
    return [json.loads(line) for line in (dlq / ".mova" / "audit.jsonl").read_text().splitlines()]


def test_reopen_an_archived_entry_then_again(dlq, cli):
    r = cli("dlq", "reopen", "07b5c3ae")
    assert r.exit_code == 0, r.stderr
    assert f"{ARCHIVED}: archived → active" in r.stderr and r.stdout == ""
    assert entry_status(dlq, ARCHIVED) == "active"
    rec = audit(dlq)[-1]
    assert (rec["op"], rec["entry_id"], rec["old_status"], rec["new_status"]) == (
        "set_status", ARCHIVED, "archived", "active")
    r = cli("dlq", "reopen", ARCHIVED)
    assert r.exit_code == 0 and f"{ARCHIVED} was already active" in r.stderr
    assert len(audit(dlq)) == 1  # a no-op is not audited


def test_reopen_a_resolved_entry_makes_it_retryable(dlq, cli):
    assert cli("dlq", "reopen", RESOLVED).exit_code == 0
    assert entry_status(dlq, RESOLVED) == "active"


@pytest.mark.parametrize("command", [("reopen",), ("status", "@", "resolved"), ("archive",), ("delete", "--force")])
def test_a_live_retry_is_taken_from_only_with_break_lease(dlq, cli, command):
    build_service(str(dlq)).claim(ACTIVE, "retry_run_x_1", True)  # a live lease, held by "another process"
    args = [ACTIVE if a == "@" else a for a in command] if "@" in command else [command[0], ACTIVE, *command[1:]]
    r = cli("dlq", *args)
    # --force (on delete) only skips the prompt; the error names the flag that exists.
    assert r.exit_code == 1 and "retry retry_run_x_1 holds it" in r.stderr and "add --break-lease" in r.stderr
    assert entry_status(dlq, ACTIVE) == "retrying"
    r = cli("dlq", *args, "--break-lease")
    assert r.exit_code == 0, r.stderr
    if command[0] == "delete":
        assert not (dlq / f"{ACTIVE}.json").exists()
    else:
        assert entry_status(dlq, ACTIVE) == {"reopen": "active", "status": "resolved", "archive": "archived"}[command[0]]


def test_reopen_all_acts_on_archived_and_resolved_only_and_records_them(dlq, cli, tmp_path):
    results = tmp_path / "reopen.jsonl"
    r = cli("dlq", "reopen", "--all", "--yes", "--results", str(results))
    assert r.exit_code == 0, r.stderr
    reopened = {ARCHIVED, ARCHIVED_2, RESOLVED, RESOLVED_2}
    assert "reopen: 4 reopened, 0 failed, 0 skipped of 4" in r.stdout
    assert all(entry_status(dlq, i) == "active" for i in reopened)
    assert entry_status(dlq, STALE) == "retrying"  # never part of the set
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert lines[0]["plan"]["operation"] == "reopen" and set(lines[0]["plan"]["ids"]) == reopened
    assert {(d["id"], d["outcome"]) for d in lines[1:]} == {(i, "reopened") for i in reopened}


def test_reopen_all_with_filters_dry_run_and_resume(dlq, cli, tmp_path):
    r = cli("dlq", "reopen", "--all", "--status", "archived", "--dry-run")
    assert r.exit_code == 0 and set(r.stdout.split()) == {ARCHIVED, ARCHIVED_2}
    assert entry_status(dlq, ARCHIVED) == "archived"
    results = tmp_path / "half.jsonl"
    results.write_text(json.dumps({"plan": {"operation": "reopen", "ids": [ARCHIVED, ARCHIVED_2]}}) + "\n"
                       + json.dumps({"id": ARCHIVED, "outcome": "reopened"}) + "\n")
    r = cli("dlq", "reopen", "--all", "--resume", str(results), "--yes")
    assert r.exit_code == 0, r.stderr
    assert entry_status(dlq, ARCHIVED_2) == "active" and entry_status(dlq, ARCHIVED) == "archived"


def test_reopen_all_skips_what_became_active_meanwhile(dlq, cli, tmp_path):
    results = tmp_path / "plan.jsonl"
    results.write_text(json.dumps({"plan": {"operation": "reopen", "ids": [ACTIVE, ARCHIVED]}}) + "\n")
    r = cli("dlq", "reopen", "--all", "--resume", str(results), "--yes", "--format", "json")
    summary = json.loads(r.stdout)
    assert (summary["done"], summary["skipped"]) == (1, 1)
    assert json.loads(results.read_text().splitlines()[1])["detail"] == "already active"


def test_reopen_needs_an_id_or_all_and_break_lease_only_for_one(dlq, cli):
    assert cli("dlq", "reopen").exit_code == 2
    for op, yes in (("reopen", "--yes"), ("archive", "--yes"), ("delete", "--force")):
        r = cli("dlq", op, "--all", "--break-lease", yes)
        assert r.exit_code == 2 and "--break-lease applies to one ID" in r.stderr, r.stderr
    assert cli("dlq", "reopen", "--force").exit_code == 2  # the old spelling is gone: no silent meaning
    r = cli("dlq", "reopen", ARCHIVED, "--status", "archived")
    assert r.exit_code == 2 and "filters apply only with --all" in r.stderr


def test_status_changes_follow_the_lifecycle(dlq, cli):
    r = cli("dlq", "status", ACTIVE, "resolved")
    assert r.exit_code == 0 and f"{ACTIVE}: active → resolved" in r.stderr
    assert entry_status(dlq, ACTIVE) == "resolved"
    r = cli("dlq", "status", ARCHIVED, "resolved")  # archived → resolved is not a lifecycle edge
    assert r.exit_code == 1 and "allowed from archived: active" in r.stderr
    r = cli("dlq", "status", ARCHIVED, "retrying")
    assert r.exit_code == 1 and "only through a retry" in r.stderr
    r = cli("dlq", "status", ARCHIVED, "bogus")
    assert r.exit_code == 2
    assert entry_status(dlq, ARCHIVED) == "archived"


def test_status_json_prints_the_updated_entry(dlq, cli):
    r = cli("dlq", "status", RESOLVED, "ARCHIVED", "--format", "json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["id"] == RESOLVED and doc["status"] == "archived"


def test_retrying_an_archived_entry_names_the_command_that_reopens_it(dlq, cli):
    r = cli("dlq", "retry", ARCHIVED_2)
    assert r.exit_code == 1
    assert f"reopen it first (`mova dlq reopen {ARCHIVED_2}`" in r.stderr
    assert entry_status(dlq, ARCHIVED_2) == "archived"
