"""Bulk `--all` runs: frozen set, confirmation, results file, resume after an interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from .conftest import MOVA, entry_status, load_entry, subprocess_env, wait_until

GROUP = "2a70b49f9c69"  # the five data-processing entries failing the same way


def result_lines(path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue  # torn by a kill
        if "outcome" in doc:
            out.append(doc)
    return out


def active_ids(directory, workflow_type: str | None = None) -> set[str]:
    out = set()
    for path in directory.glob("*.json"):
        entry = json.loads(path.read_text())
        if entry["status"] == "active" and workflow_type in (None, entry["metadata"].get("workflow_type")):
            out.add(entry["id"])
    return out


def test_dry_run_lists_the_set_and_changes_nothing(dlq, cli):
    before = {p.name: p.read_bytes() for p in dlq.glob("*.json")}
    r = cli("dlq", "retry", "--all", "--group", GROUP, "--dry-run")
    assert r.exit_code == 0
    assert len(r.stdout.split()) == 5
    assert "5 entries to retry in sandbox mode" in r.stderr
    r = cli("dlq", "archive", "--all", "--dry-run", "--format", "json")
    plan = json.loads(r.stdout)
    assert plan["operation"] == "archive" and plan["count"] == 14  # everything not archived yet
    assert {p.name: p.read_bytes() for p in dlq.glob("*.json")} == before
    assert not (dlq / ".mova" / "bulk").exists()


def test_without_a_terminal_bulk_needs_yes_or_force(dlq, cli):
    for args, flag in ((["retry", "--all"], "--yes"), (["archive", "--all"], "--yes"),
                       (["delete", "--all", "--status", "archived"], "--force")):
        r = cli("dlq", *args)
        assert r.exit_code == 2, args
        assert "without confirmation" in r.stderr and flag in r.stderr
    assert len(active_ids(dlq)) == 11


def test_archive_all_with_filters_writes_a_results_file(dlq, cli):
    r = cli("dlq", "archive", "--all", "--workflow-type", "notification", "--yes", "--format", "json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["total"], summary["done"], summary["failed"], summary["skipped"]) == (3, 3, 0, 0)
    results = result_lines(__import__("pathlib").Path(summary["results_file"]))
    assert sorted(line["outcome"] for line in results) == ["archived"] * 3
    assert all(entry_status(dlq, line["id"]) == "archived" for line in results)


def test_delete_all_force_skips_nothing_it_should_not(dlq, cli, tmp_path):
    r = cli("dlq", "delete", "--all", "--status", "archived", "--force", "--results", str(tmp_path / "d.jsonl"))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == "delete: 2 deleted, 0 failed, 0 skipped of 2"
    assert len(list(dlq.glob("*.json"))) == 14


def test_bulk_retry_stops_after_failures_and_resumes(dlq, cli, tmp_path):
    results = tmp_path / "retry.jsonl"
    r = cli("dlq", "retry", "--all", "--group", GROUP, "--stop-after-failures", "2", "--yes",
            "--results", str(results))
    assert r.exit_code == 1
    assert "stopped after 2 failures" in r.stderr and "3 not attempted" in r.stderr
    first = result_lines(results)
    assert [line["outcome"] for line in first] == ["failed", "failed"]
    assert all(line["retry_run_id"].startswith("retry_run_") for line in first)

    r = cli("dlq", "archive", "--all", "--resume", str(results), "--yes")
    assert r.exit_code == 2 and "records a bulk retry" in r.stderr
    # A sandbox run never continues in production by accident.
    r = cli("dlq", "retry", "--all", "--resume", str(results), "--yes", "--sandbox=false")
    assert r.exit_code == 2 and "records a sandbox retry; resume it the same way" in r.stderr
    assert len(result_lines(results)) == 2

    r = cli("dlq", "retry", "--all", "--resume", str(results), "--yes")
    assert r.exit_code == 1  # the rest fail too (sandbox: no api_key secret)
    assert "2 already have an outcome, 3 left" in r.stderr
    lines = result_lines(results)
    assert len(lines) == 5 and len({line["id"] for line in lines}) == 5
    for line in lines:  # each retried exactly once over both runs
        assert len(load_entry(dlq, line["id"])["retry_history"]) == 1


# Subprocess runs retry the seven active data-processing entries (the notification ones sleep 2 s).
SELECT = ["--workflow-type", "data-processing"]


def _start_bulk_retry(results, *extra):
    return subprocess.Popen([*MOVA, "dlq", "retry", "--all", *SELECT, "--yes", "--results", str(results), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env(),
                            stdin=subprocess.DEVNULL)


def test_bulk_retry_acts_on_a_frozen_set_while_new_entries_arrive(dlq, tmp_path):
    results = tmp_path / "retry.jsonl"
    frozen = active_ids(dlq, "data-processing")
    proc = _start_bulk_retry(results, "--rate", "20/s")
    wait_until(lambda: results.exists() and result_lines(results))
    template = load_entry(dlq, sorted(frozen)[0])
    newcomers = []
    for n in range(3):  # dead letters arriving mid-run
        data = dict(template, id=f"dlq_0000000{n}-feed-4000-8000-000000000000")
        (dlq / f"{data['id']}.json").write_text(json.dumps(data))
        newcomers.append(data["id"])
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err  # every sample retry fails in the sandbox
    plan = json.loads(results.read_text().splitlines()[0])["plan"]
    assert set(plan["ids"]) == frozen and plan["count"] == 7
    lines = result_lines(results)
    assert sorted(line["id"] for line in lines) == sorted(frozen)  # each once, nothing else
    for entry_id in newcomers:
        entry = load_entry(dlq, entry_id)
        assert entry["status"] == "active" and not entry.get("retry_history")
    assert out.strip() == "retry: 0 retried, 7 failed, 0 skipped of 7"


def test_bulk_retry_resumes_after_being_killed(dlq, tmp_path):
    results = tmp_path / "retry.jsonl"
    proc = _start_bulk_retry(results, "--rate", "10/s")
    wait_until(lambda: results.exists() and len(result_lines(results)) >= 2)
    proc.kill()
    proc.wait(timeout=10)
    done_before = {line["id"] for line in result_lines(results)}
    assert 2 <= len(done_before) < 7

    r = subprocess.run([*MOVA, "dlq", "retry", "--all", "--yes", "--resume", str(results)], capture_output=True,
                       text=True, env=subprocess_env(), stdin=subprocess.DEVNULL, timeout=30)
    assert "left" in r.stderr
    lines = result_lines(results)
    ids = [line["id"] for line in lines]
    plan = json.loads(results.read_text().splitlines()[0])["plan"]["ids"]
    assert sorted(ids) == sorted(plan) and len(set(ids)) == 7  # every planned id exactly once
    for entry_id in plan:
        entry = load_entry(dlq, entry_id)
        attempts = len(entry.get("retry_history") or []) + (1 if entry["metadata"].get("lease") else 0)
        assert attempts == 1, entry_id  # never retried twice


def test_ctrl_c_stops_starting_work_and_says_how_to_resume(dlq, tmp_path):
    results = tmp_path / "retry.jsonl"
    proc = _start_bulk_retry(results, "--rate", "5/s")
    wait_until(lambda: results.exists() and result_lines(results))
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "stopping" in err and f"--resume {results}" in err
    done = result_lines(results)
    assert 1 <= len(done) < 7
    assert not [p for p in dlq.glob("*.json") if entry_status(dlq, p.stem) == "retrying"
                and p.stem != "dlq_d4e8a61b-2f7c-4c95-8a03-b6e9d15f2c70"]  # nothing left mid-retry


def test_bulk_progress_bar_on_a_terminal(dlq, cli, monkeypatch):
    import io

    from rich.console import Console

    from mova_tui.cli.dlq import bulk as dlq_bulk

    screen = io.StringIO()
    monkeypatch.setattr(dlq_bulk, "console", lambda err=False: Console(file=screen, force_terminal=True, width=100))
    r = cli("dlq", "archive", "--all", "--status", "active", "--yes")
    assert r.exit_code == 0, r.stderr
    text = screen.getvalue()
    assert "archive" in text and "11/11" in text and "11 done" in text and "0 failed" in text
