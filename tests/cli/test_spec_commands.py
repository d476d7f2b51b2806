"""Every command line printed in the specification, run as printed in a real shell (jq included)."""

from __future__ import annotations

import json

from .conftest import (
    OLD_RESOLVED_ID,
    SPEC_ID,
    entry_status,
    load_entry,
    needs_jq,
    wait_until,
)


def _not_retrying(dlq, entry_id):
    return lambda: entry_status(dlq, entry_id) != "retrying"


# -- List DLQ Entries ---------------------------------------------------------------------------
def test_list_all_active_entries(spec_dlq, sh):
    r = sh("mova dlq list --status active")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "TYPE", "STATUS"]
    rows = [line for line in lines[2:] if line.startswith(("dlq_", "5c91"))]
    assert len(rows) == 12  # 11 sample entries + the spec's example
    assert all(" active " in row for row in rows)
    assert all(len(line) <= 80 for line in lines)


def test_list_with_filtering(spec_dlq, sh):
    r = sh("mova dlq list --workflow-type data-processing --limit 10")
    assert r.returncode == 0, r.stderr
    rows = [line for line in r.stdout.splitlines() if line.startswith("dlq_")]
    assert len(rows) == 10
    assert all("data-processing" in row for row in rows)
    assert "10 of 12 entries" in r.stdout


def test_list_as_json(spec_dlq, sh):
    r = sh("mova dlq list --format json")
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    assert len(entries) == 18
    assert {"id", "run_id", "status", "created_at", "envelope", "error_details", "metadata"} <= set(entries[0])
    created = [e["created_at"] for e in entries if e["id"] != "5c91d7e4-3a0b-4f62-8d17-e4b2a96c0f38"]
    assert created == sorted(created, reverse=True)  # newest first


# -- Show DLQ Entry Details ---------------------------------------------------------------------
def test_show_detailed_information(spec_dlq, sh):
    r = sh("mova dlq show dlq_12345678")
    assert r.returncode == 0, r.stderr
    assert SPEC_ID in r.stdout
    for text in ("Attempt 1: connection refused", "fetch_data (http_fetch)", "max_retries_exceeded", "Envelope"):
        assert text in r.stdout


def test_show_as_json(spec_dlq, sh):
    r = sh("mova dlq show dlq_12345678 --format json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == load_entry(spec_dlq, SPEC_ID)


# -- Retry DLQ Entry ----------------------------------------------------------------------------
def test_retry_in_sandbox_mode_default(spec_dlq, sh):
    r = sh("mova dlq retry dlq_12345678")
    assert r.returncode == 0, r.stderr
    retry_run_id = r.stdout.strip()
    assert retry_run_id.startswith("retry_run_1642588245123456789_")
    wait_until(_not_retrying(spec_dlq, SPEC_ID))
    entry = load_entry(spec_dlq, SPEC_ID)
    assert entry["status"] == "active"  # a sandbox retry never resolves
    record = entry["retry_history"][-1]
    assert (record["retry_run_id"], record["sandbox_mode"], record["outcome"]) == (retry_run_id, True, "completed")


def test_retry_in_production_mode(spec_dlq, sh):
    r = sh("mova dlq retry dlq_12345678 --sandbox=false")
    assert r.returncode == 0, r.stderr
    wait_until(_not_retrying(spec_dlq, SPEC_ID))
    entry = load_entry(spec_dlq, SPEC_ID)
    assert entry["status"] == "resolved"
    assert entry["retry_history"][-1]["sandbox_mode"] is False


def test_retry_wait_for_completion(spec_dlq, sh):
    r = sh("mova dlq retry dlq_12345678 --wait")
    assert r.returncode == 0, r.stderr
    assert "completed (sandbox)" in r.stdout
    assert entry_status(spec_dlq, SPEC_ID) == "active"


def test_retry_sandbox_flag(spec_dlq, sh):
    r = sh("mova dlq retry dlq_12345678 --sandbox")
    assert r.returncode == 0, r.stderr
    wait_until(_not_retrying(spec_dlq, SPEC_ID))
    assert load_entry(spec_dlq, SPEC_ID)["retry_history"][-1]["sandbox_mode"] is True


# -- Archive, Delete, Statistics ----------------------------------------------------------------
def test_archive(spec_dlq, sh):
    r = sh("mova dlq archive dlq_12345678")
    assert r.returncode == 0, r.stderr
    assert entry_status(spec_dlq, SPEC_ID) == "archived"


def test_delete_with_confirmation_prompt_refuses_without_a_terminal(spec_dlq, sh):
    r = sh("mova dlq delete dlq_12345678")  # stdin is /dev/null: nobody to ask
    assert r.returncode == 2
    assert "no terminal" in r.stderr and "--force" in r.stderr
    assert (spec_dlq / f"{SPEC_ID}.json").exists()


def test_delete_with_confirmation_prompt_on_a_terminal(spec_dlq, tmp_path):
    import os
    import pty
    import subprocess

    from .conftest import VENV_BIN, subprocess_env

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([str(VENV_BIN / "mova"), "dlq", "delete", "dlq_12345678"], stdin=slave,
                                stdout=subprocess.PIPE, stderr=slave, env=subprocess_env(), cwd=tmp_path)
        seen = b""
        while b"[y/N]" not in seen:
            seen += os.read(master, 1024)
        os.write(master, b"y\n")
        proc.wait(timeout=20)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    assert b"Delete " + SPEC_ID.encode() in seen
    assert not (spec_dlq / f"{SPEC_ID}.json").exists()


def test_force_delete_without_prompt(spec_dlq, sh):
    r = sh("mova dlq delete dlq_12345678 --force")
    assert r.returncode == 0, r.stderr
    assert not (spec_dlq / f"{SPEC_ID}.json").exists()


def test_stats(spec_dlq, sh):
    r = sh("mova dlq stats")
    assert r.returncode == 0, r.stderr
    assert "total entries  18" in r.stdout
    assert "oldest active" in r.stdout and "failure groups" in r.stdout


# -- Troubleshooting ----------------------------------------------------------------------------
@needs_jq
def test_identify_problematic_workflows(spec_dlq, sh):
    r = sh("mova dlq list --format json | jq '.[] | .metadata.workflow_type' | sort | uniq -c")
    assert r.returncode == 0, r.stderr
    counts = {line.split()[1].strip('"'): int(line.split()[0]) for line in r.stdout.splitlines()}
    assert counts == {"data-processing": 12, "invoice-sync": 1, "notification": 3, "reporting": 2}


@needs_jq
def test_review_error_history(spec_dlq, sh):
    r = sh("mova dlq show dlq_12345678 --format json | jq '.error_details.error_history'")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [
        "Attempt 1: connection refused",
        "Attempt 2: timeout after 30s",
        "Attempt 3: network timeout: failed to connect to remote server",
    ]


# -- Recovery Procedures ------------------------------------------------------------------------
@needs_jq
def test_mass_retry_script(spec_dlq, sh, tmp_path):
    r = sh("""
# List active entries
mova dlq list --status active --format json > active_entries.json

# Retry each entry (script)
for dlq_id in $(jq -r '.[] | .id' active_entries.json); do
  mova dlq retry "$dlq_id" --sandbox
done
""")
    active = [e["id"] for e in json.loads((tmp_path / "active_entries.json").read_text())]
    assert len(active) == 12
    # Entries whose envelope uses a secret are refused before any claim, naming the --secret to add
    # (a sandbox run never reads MOVA_SECRET_*). The loop's status is the last (oldest) entry's, the
    # specification's example, which uses none.
    uses_secrets = {e for e in active if "{{ secrets." in json.dumps(load_entry(spec_dlq, e)["envelope"])}
    assert len(uses_secrets) == 10 and r.returncode == 0, r.stderr
    assert sorted(line.split()[1] for line in r.stderr.splitlines() if " uses secret" in line) == sorted(uses_secrets)
    assert len(r.stdout.split()) == 2  # one retry_run_id per entry retried
    for entry_id in active:
        wait_until(_not_retrying(spec_dlq, entry_id))
        history = load_entry(spec_dlq, entry_id).get("retry_history") or []
        if entry_id in uses_secrets:
            assert history == []
        else:
            assert history[-1]["sandbox_mode"] is True and history[-1]["outcome"] != "running"


@needs_jq
def test_emergency_cleanup(spec_dlq, sh):
    r = sh("""
# Archive old resolved entries
mova dlq list --status resolved --format json | \\
  jq -r '.[] | select(.created_at < "2024-01-01") | .id' | \\
  xargs -I {} mova dlq archive {}
""")
    assert r.returncode == 0, r.stderr
    assert entry_status(spec_dlq, OLD_RESOLVED_ID) == "archived"
    resolved = [p.stem for p in spec_dlq.glob("*.json") if entry_status(spec_dlq, p.stem) == "resolved"]
    assert len(resolved) == 2  # the 2026 ones are left alone
