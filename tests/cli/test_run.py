"""`mova run WORKFLOW.json`: exit 0 completed, 1 dead-lettered (id printed), 2 invalid input."""

from __future__ import annotations

import json

import pytest

from tests.support import ROOT

from .conftest import closed_port_url

WORKFLOWS = ROOT / "sample_state" / "workflows"


def test_run_hello_completes(empty_dlq, monkeypatch, cli):
    monkeypatch.setenv("MOVA_DLQ_PATH", str(empty_dlq))
    r = cli("run", str(WORKFLOWS / "hello.json"))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip().startswith("run_")
    assert "Hello, Ada!" in r.stderr and "completed" in r.stderr
    assert not list(empty_dlq.glob("*.json"))


def test_run_failure_dead_letters_and_prints_the_id(empty_dlq, monkeypatch, cli, tmp_path):
    monkeypatch.setenv("MOVA_DLQ_PATH", str(empty_dlq))
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps({
        "intent": {"name": "flaky", "retry": {"max_attempts": 3, "backoff": "fixed", "delay": 0.01}},
        "actions": [{"id": "call", "type": "http_fetch", "params": {"url": "{{ variables.base }}/x"}}],
        "variables": {"base": "http://example.invalid"},
    }))
    r = cli("run", str(wf), "--var", f"base={closed_port_url()}")
    assert r.exit_code == 1
    entry_id = r.stdout.strip()
    assert entry_id.startswith("dlq_")
    assert "waiting 0.0s before attempt 2" in r.stderr or "attempt 2" in r.stderr
    entry = json.loads((empty_dlq / f"{entry_id}.json").read_text())
    assert entry["error_details"]["attempts"] == 3
    assert entry["metadata"]["workflow_type"] == "flaky"
    shown = cli("dlq", "show", entry_id, "--format", "json")
    assert json.loads(shown.stdout)["id"] == entry_id


def test_run_json_output(empty_dlq, monkeypatch, cli):
    monkeypatch.setenv("MOVA_DLQ_PATH", str(empty_dlq))
    r = cli("run", str(WORKFLOWS / "hello.json"), "--format", "json")
    data = json.loads(r.stdout)
    assert data["status"] == "completed" and data["dlq_id"] is None and "dead_letter_id" not in data


@pytest.mark.parametrize("content, message", [
    ("{", "is not valid JSON"),
    ('{"intent": {"name": "x", "retry": {"backoff": "weird"}}, "actions": []}', "intent.retry.backoff"),
    ('{"intent": {"name": "x"}, "actions": [{"id": "a", "type": "nope"}]}', "actions[0].type"),
    ('{"intent": {"name": "x"}, "actions": [{"id": "a", "type": "set", "retry": {"delay": -1}}]}',
     "actions[0].retry.delay"),
])
def test_run_invalid_input_exits_2_naming_the_field(empty_dlq, monkeypatch, cli, tmp_path, content, message):
    monkeypatch.setenv("MOVA_DLQ_PATH", str(empty_dlq))
    wf = tmp_path / "wf.json"
    wf.write_text(content)
    r = cli("run", str(wf))
    assert r.exit_code == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not list(empty_dlq.glob("*.json"))


def test_run_missing_file_exits_2(cli, tmp_path):
    r = cli("run", str(tmp_path / "missing.json"))
    assert r.exit_code == 2 and "cannot read workflow" in r.stderr


def test_a_failed_run_json_names_its_entry_dlq_id(empty_dlq, monkeypatch, cli):
    monkeypatch.setenv("MOVA_DLQ_PATH", str(empty_dlq))
    r = cli("run", str(WORKFLOWS / "flaky-local.json"), "--format", "json")
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["status"] == "failed" and (empty_dlq / f"{data['dlq_id']}.json").exists()
