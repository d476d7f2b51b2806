"""`mova dlq retry ID`: sandbox by default, `--sandbox=false`, overrides, --wait exit codes, secrets."""

from __future__ import annotations

import json
import re

import pytest
import typer

from mova_tui.cli.params import rewrite_sandbox_args

from .conftest import (
    SPEC_ID,
    closed_port_url,
    entry_status,
    load_entry,
    make_entry,
    wait_until,
    write_entry,
)


@pytest.mark.parametrize("args, expected", [
    (["X", "--sandbox=false"], ["X", "--no-sandbox"]),
    (["X", "--sandbox=False"], ["X", "--no-sandbox"]),
    (["X", "--sandbox=0"], ["X", "--no-sandbox"]),
    (["X", "--sandbox=true"], ["X", "--sandbox"]),
    (["X", "--sandbox"], ["X", "--sandbox"]),
    (["X", "--", "--sandbox=false"], ["X", "--", "--sandbox=false"]),
])
def test_sandbox_equals_value_is_rewritten(args, expected):
    assert rewrite_sandbox_args(args) == expected


def test_sandbox_equals_nonsense_is_a_usage_error():
    with pytest.raises(typer.BadParameter):
        rewrite_sandbox_args(["--sandbox=maybe"])


@pytest.mark.parametrize("flag, sandbox", [
    ([], True), (["--sandbox"], True), (["--sandbox=true"], True),
    (["--sandbox=false"], False), (["--no-sandbox"], False),
])
def test_retry_wait_json_reports_the_mode(spec_dlq, cli, flag, sandbox):
    r = cli("dlq", "retry", "dlq_12345678", *flag, "--wait", "--format", "json")
    assert r.exit_code == 0, r.stderr
    response = json.loads(r.stdout)
    assert response["dlq_id"] == SPEC_ID
    assert response["sandbox_mode"] is sandbox
    assert response["retry_run_id"].startswith("retry_run_1642588245123456789_")
    assert response["execution_result"]["status"] == "completed"
    assert entry_status(spec_dlq, SPEC_ID) == ("active" if sandbox else "resolved")


def test_retry_wait_failure_exits_1_and_records_history(dlq, cli):
    write_entry(dlq, make_entry(SPEC_ID, url=closed_port_url()))
    r = cli("dlq", "retry", SPEC_ID, "--wait")
    assert r.exit_code == 1
    assert "failed (sandbox)" in r.stdout
    assert "attempt 1 failed" in r.stderr  # progress on stderr
    entry = load_entry(dlq, SPEC_ID)
    assert entry["status"] == "active"
    assert entry["retry_history"][-1]["outcome"] == "failed"
    assert entry["retry_history"][-1]["error"]
    # a failed sandbox experiment leaves the entry's own error (and failure group) alone
    assert len(entry["error_details"]["error_history"]) == 3
    diagnosis = entry["error_details"]
    r = cli("dlq", "retry", SPEC_ID, "--wait", "--sandbox=false")
    assert r.exit_code == 1
    entry = load_entry(dlq, SPEC_ID)
    # a failed production retry too: its errors are in its record, the diagnosis stays
    assert entry["error_details"] == diagnosis
    assert entry["retry_history"][-1]["errors"][-1].startswith("Attempt ")
    assert "Connection refused" in entry["retry_history"][-1]["error"]


def test_retry_without_wait_returns_at_once_with_the_run_id(spec_dlq, cli):
    r = cli("dlq", "retry", "12345678", "--format", "json")
    assert r.exit_code == 0, r.stderr
    response = json.loads(r.stdout)
    assert "execution_result" not in response
    wait_until(lambda: entry_status(spec_dlq, SPEC_ID) != "retrying")
    assert load_entry(spec_dlq, SPEC_ID)["retry_history"][-1]["retry_run_id"] == response["retry_run_id"]


def test_retry_overrides_file_vars_and_secrets_never_printed(dlq, cli, ok_server, tmp_path):
    entry = make_entry(SPEC_ID, url="https://api.example.com")
    entry["envelope"]["actions"][0]["params"] = {
        "url": "{{ variables.api_url }}/data", "headers": {"Authorization": "Bearer {{ secrets.api_key }}"}}
    write_entry(dlq, entry)
    overrides = tmp_path / "fix.json"
    overrides.write_text(json.dumps({"variables": {"api_url": "https://staging-api.example.com"},
                                     "secrets": {"api_key": "test_key_from_file"}}))
    r = cli("dlq", "retry", SPEC_ID, "--wait", "--overrides", str(overrides),
            "--var", f"api_url={ok_server}", "--secret", "api_key=s3cr3t-value-42")
    assert r.exit_code == 0, r.stderr
    for secret in ("s3cr3t-value-42", "test_key_from_file"):
        assert secret not in r.stdout + r.stderr
        state = dlq.parent  # entries, run records, sandbox logs, audit log
        assert not [p for p in state.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    record = load_entry(dlq, SPEC_ID)["retry_history"][-1]
    assert record["override_variables"] == ["api_url"] and record["override_secrets"] == ["api_key"]


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must be an object"),
    ('{"variables": [1]}', "variables must be an object"),
    ('{"vars": {}}', "unknown key 'vars'"),
])
def test_invalid_overrides_file_exits_2(spec_dlq, cli, tmp_path, content, message):
    path = tmp_path / "o.json"
    path.write_text(content)
    r = cli("dlq", "retry", SPEC_ID, "--overrides", str(path))
    assert r.exit_code == 2
    assert message in r.stderr and r.stderr.startswith("error: overrides file")
    assert entry_status(spec_dlq, SPEC_ID) == "active"  # nothing claimed


def test_missing_overrides_file_exits_2(spec_dlq, cli, tmp_path):
    r = cli("dlq", "retry", SPEC_ID, "--overrides", str(tmp_path / "nope.json"))
    assert r.exit_code == 2 and "cannot read overrides file" in r.stderr


@pytest.mark.parametrize("args, shown", [
    (["--var", "novalue"], "'novalue'"),
    (["--var", "=x"], "'=x'"),
    (["--secret", "hunter2hunter2"], "without '='"),
])
def test_malformed_key_value_exits_2(spec_dlq, cli, args, shown):
    r = cli("dlq", "retry", SPEC_ID, *args)
    assert r.exit_code == 2
    assert "expects KEY=VALUE" in r.stderr and shown in r.stderr
    assert "hunter2hunter2" not in r.stderr


def test_retry_of_a_resolved_entry_is_refused(dlq, cli):
    r = cli("dlq", "retry", "dlq_f16a0d3c")
    assert r.exit_code == 1
    assert "only active entries can be retried" in r.stderr


def test_retry_of_a_running_retry_is_refused(spec_dlq, cli):
    from mova_core.ops.service import build_service

    build_service(str(spec_dlq)).claim(SPEC_ID, "retry_run_x_1", True)
    r = cli("dlq", "retry", SPEC_ID, "--wait")
    assert r.exit_code == 1
    assert "already being retried" in r.stderr


def test_bulk_only_options_need_all(spec_dlq, cli):
    r = cli("dlq", "retry", SPEC_ID, "--status", "active")
    assert r.exit_code == 2 and "filters apply only with --all" in r.stderr
    r = cli("dlq", "retry", SPEC_ID, "--concurrency", "4")
    assert r.exit_code == 2 and "--concurrency applies only with --all" in r.stderr
    r = cli("dlq", "retry", SPEC_ID, "--dry-run")
    assert r.exit_code == 2 and "--dry-run applies only with --all" in r.stderr
    r = cli("dlq", "retry")
    assert r.exit_code == 2 and "give an entry ID" in r.stderr
    r = cli("dlq", "retry", SPEC_ID, "--all")
    assert r.exit_code == 2 and "not both" in r.stderr


def test_retry_takes_over_a_stale_lease(dlq, cli):
    stale = "dlq_d4e8a61b-2f7c-4c95-8a03-b6e9d15f2c70"
    r = cli("dlq", "retry", "d4e8a61b", "--wait", "--format", "json")
    assert r.exit_code == 1  # its fetch is blocked in the sandbox, but it ran
    entry = load_entry(dlq, stale)
    assert entry["status"] == "active" and entry["metadata"].get("lease") is None
    assert entry["metadata"]["retry_count"] == 2
    assert entry["retry_history"][-1]["retry_run_id"] == json.loads(r.stdout)["retry_run_id"]


def test_show_follows_a_retry_in_progress(spec_dlq, cli):
    from mova_core.ops.service import build_service
    from mova_core.store.runs import RunRecord, store_for

    service = build_service(str(spec_dlq))
    service.claim(SPEC_ID, "retry_run_1642588245123456789_1", True)
    store_for(service.settings, True).save(RunRecord(run_id="retry_run_1642588245123456789_1", status="running",
                                                     sandbox_mode=True, dlq_id=SPEC_ID))
    r = cli("dlq", "show", "12345678")
    assert "retry_run_1642588245123456789_1" in r.stdout
    assert re.search(r"progress +running", r.stdout) and "live" in r.stdout
