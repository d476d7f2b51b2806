"""`mova dlq archive`, `delete`, `purge`, `alerts` through Typer's runner."""

from __future__ import annotations

import json

import pytest

from .conftest import entry_status

ACTIVE = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"
RESOLVED = "dlq_6a4e1f97-c0d8-4b32-a5e9-0f3d7c82b61e"
ARCHIVED = "dlq_07b5c3ae-6f19-4d84-b2c0-9e1a4d7f58e3"
STALE = "dlq_d4e8a61b-2f7c-4c95-8a03-b6e9d15f2c70"


def test_archive_by_prefix_and_again(dlq, cli):
    r = cli("dlq", "archive", "1d6f08b3")
    assert r.exit_code == 0 and f"archived {ACTIVE}" in r.stderr and r.stdout == ""
    assert entry_status(dlq, ACTIVE) == "archived"
    r = cli("dlq", "archive", ACTIVE)
    assert r.exit_code == 0 and "already archived" in r.stderr


def test_concurrent_archives_report_one_archive(dlq):
    """Real processes racing to archive one entry: exactly one says it archived it."""
    import subprocess

    from .conftest import MOVA, subprocess_env

    procs = [subprocess.Popen([*MOVA, "dlq", "archive", ACTIVE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=subprocess_env(MOVA_DLQ_PATH=str(dlq))) for _ in range(4)]
    outcomes = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in outcomes), outcomes
    messages = sorted(err.strip() for _, err in outcomes)
    assert messages == sorted([f"archived {ACTIVE}"] + [f"{ACTIVE} was already archived"] * 3), messages
    assert entry_status(dlq, ACTIVE) == "archived"


def test_archive_unknown_id(dlq, cli):
    r = cli("dlq", "archive", "dlq_00000000")
    assert r.exit_code == 1 and "no dead-letter entry matches" in r.stderr


def test_delete_refuses_without_a_terminal_and_changes_nothing(dlq, cli):
    r = cli("dlq", "delete", ACTIVE)  # the runner's stdin is not a terminal
    assert r.exit_code == 2
    assert "refusing to delete" in r.stderr and "--force" in r.stderr
    assert (dlq / f"{ACTIVE}.json").exists()


def test_delete_force(dlq, cli):
    r = cli("dlq", "delete", "1d6f08b3", "--force")
    assert r.exit_code == 0 and f"deleted {ACTIVE}" in r.stderr
    assert not (dlq / f"{ACTIVE}.json").exists()
    assert cli("dlq", "show", ACTIVE).exit_code == 1


def test_delete_confirmation_answered_no_keeps_the_entry(dlq, cli, monkeypatch):
    from mova_tui.cli import output

    monkeypatch.setattr(output, "can_ask", lambda: True)
    r = cli("dlq", "delete", ACTIVE, input="n\n")
    assert r.exit_code == 1 and "not deleted" in r.stderr
    assert (dlq / f"{ACTIVE}.json").exists()


def test_purge_reports_removed_and_never_touches_active(dlq, cli):
    before = {p.name for p in dlq.glob("*.json")}
    r = cli("dlq", "purge", "--older-than", "0", "--dry-run")
    assert r.exit_code == 0
    would = set(r.stdout.split())
    assert would == {RESOLVED, ARCHIVED, "dlq_f16a0d3c-7b95-4286-a4e1-3d8c9b02e67f",
                     "dlq_b83f6a27-14ce-4d70-9e5b-c2a8f0d31b46"}
    assert "would remove 4" in r.stderr
    assert {p.name for p in dlq.glob("*.json")} == before
    r = cli("dlq", "purge", "--older-than", "0", "--format", "json")
    report = json.loads(r.stdout)
    assert set(report["removed"]) == would and report["dry_run"] is False
    assert {p.stem for p in dlq.glob("*.json")} == {n[:-5] for n in before} - would


def test_purge_default_retention_removes_nothing_recent(dlq, cli, monkeypatch):
    monkeypatch.setenv("MOVA_DLQ_RETENTION_DAYS", "36500")
    r = cli("dlq", "purge")
    assert r.exit_code == 0 and r.stdout == "" and "removed 0" in r.stderr and "36500 days" in r.stderr


def test_alerts_breached_exit_1_with_entries(dlq, cli):
    r = cli("dlq", "alerts", "--max-active", "5", "--max-growth", "1000/h", "--format", "json")
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["breached"] is True
    active = next(a for a in data["alerts"] if a["name"] == "max_active")
    assert active["breached"] and active["value"] == 11 and ACTIVE in active["entries"]
    assert not next(a for a in data["alerts"] if a["name"] == "max_growth")["breached"]


def test_alerts_ok_exit_0_human(dlq, cli):
    r = cli("dlq", "alerts", "--max-active", "100", "--max-retry-failure-rate", "90%",
            "--max-sandbox-runtime", "15m", "--max-age", "3650d")
    assert r.exit_code == 0, r.stderr
    assert "all thresholds ok" in r.stderr
    assert "max_active" in r.stdout and "11 <= 100" in r.stdout


def test_alerts_thresholds_from_the_environment(dlq, cli, monkeypatch):
    monkeypatch.setenv("MOVA_ALERT_MAX_AGE", "1d")
    r = cli("dlq", "alerts")
    assert r.exit_code == 1
    assert "BREACHED" in r.stdout and "max_age" in r.stdout


def test_alerts_need_a_threshold_and_valid_values(dlq, cli):
    assert cli("dlq", "alerts").exit_code == 2
    for args in (["--max-age", "soon"], ["--max-retry-failure-rate", "150%"], ["--max-growth", "5/day"]):
        r = cli("dlq", "alerts", *args)
        assert r.exit_code == 2, args


def test_alert_settings_are_validated_like_the_options(dlq, cli, monkeypatch):
    monkeypatch.setenv("MOVA_ALERT_MAX_RETRY_FAILURE_RATE", "250%")
    r = cli("dlq", "alerts")
    assert r.exit_code == 2 and "MOVA_ALERT_MAX_RETRY_FAILURE_RATE" in r.output
    r = cli("dlq", "alerts", "--max-retry-failure-rate", "90%")  # the option wins over the setting
    assert r.exit_code in (0, 1)


def test_alerts_on_a_missing_directory_fail_with_its_path(tmp_path, cli):
    """A typo in a cron job's MOVA_DLQ_PATH must page, not report a healthy empty queue."""
    missing = tmp_path / "state" / "deadleter"
    r = cli("--dlq-path", str(missing), "dlq", "alerts", "--max-active", "1")
    assert r.exit_code == 2
    assert r.stderr.strip() == f"error: dead-letter directory {missing} does not exist (set MOVA_DLQ_PATH or --dlq-path)"
    assert "thresholds ok" not in r.stderr and r.stdout == ""


def test_alerts_report_unreadable_files(dlq, cli):
    (dlq / "dlq_broken.json").write_text("{not json")
    r = cli("dlq", "alerts", "--max-active", "100")
    assert r.exit_code == 0
    assert "skipped 1 unreadable file" in r.stderr and "dlq_broken.json" in r.stderr
    data = json.loads(cli("dlq", "alerts", "--max-active", "100", "--format", "json").stdout)
    assert data["skipped"] == 1 and data["skipped_files"][0]["name"] == "dlq_broken.json"
    assert "not valid JSON" in data["skipped_files"][0]["reason"]


@pytest.mark.parametrize("args", [
    ["delete", "1", "--force"],
    ["archive", "1d6"],
    ["archive", "dlq_1d6"],
    ["retry", "1d6", "--wait"],
    ["status", "1d6", "resolved"],
    ["reopen", "dlq_07b"],
])
def test_a_change_needs_four_characters_of_the_id(dlq, cli, args):
    """As git does for short hashes: `delete 1 --force` must not delete whatever starts with 1."""
    before = {p.name: p.read_bytes() for p in dlq.glob("*.json")}
    r = cli("dlq", *args)
    assert r.exit_code == 2
    assert f"id prefix {args[1]!r} is too short to" in r.stderr and "at least 4 characters after any dlq_" in r.stderr
    assert {p.name: p.read_bytes() for p in dlq.glob("*.json")} == before


def test_four_characters_are_enough_and_reading_stays_lenient(dlq, cli):
    assert cli("dlq", "show", "a").exit_code == 0  # the one id starting with a
    r = cli("dlq", "archive", "1d6f")
    assert r.exit_code == 0 and f"archived {ACTIVE}" in r.stderr
    r = cli("dlq", "reopen", "dlq_1d6f")
    assert r.exit_code == 0 and entry_status(dlq, ACTIVE) == "active"


def test_a_whole_id_shorter_than_four_characters_is_not_a_prefix(dlq, cli):
    from .conftest import make_entry, write_entry

    write_entry(dlq, make_entry("x7", url="http://127.0.0.1:9"))  # another writer's very short id
    r = cli("dlq", "archive", "x7")
    assert r.exit_code == 0 and entry_status(dlq, "x7") == "archived"


def test_counts_agree_with_their_nouns(dlq, cli, tmp_path):
    r = cli("dlq", "archive", "--all", "--status", "active", "--limit", "1", "--dry-run")
    assert "1 entry to archive: " in r.stderr
    r = cli("dlq", "archive", "--all", "--status", "active", "--limit", "1")
    assert r.exit_code == 2 and "refusing to archive 1 entry without confirmation" in r.stderr
    assert "exported 1 entry\n" in cli("dlq", "export", "--status", "retrying").stderr
    r = cli("dlq", "purge", "--older-than", "1", "--dry-run")
    assert "would remove 4 resolved/archived entries older than 1 day " in r.stderr
    (dlq / "dlq_broken.json").write_text("{")
    assert "; 1 unreadable file skipped" in cli("dlq", "reindex").stderr


def test_alerts_print_one_humane_age_and_agreeing_counts(dlq, cli):
    import re

    r = cli("dlq", "alerts", "--max-age", "2d", "--max-active", "100", "--max-retry-failure-rate", "99%",
            "--format", "json")
    age = next(a for a in json.loads(r.stdout)["alerts"] if a["name"] == "max_age")
    assert re.fullmatch(r"oldest active entry is \d+d old \(11 over the limit\)", age["message"]), age["message"]
    assert age["value"] > 86400 * 2  # the JSON keeps seconds
    for path in dlq.glob("*.json"):
        if path.stem != ACTIVE:
            path.unlink()
    data = json.loads(cli("dlq", "alerts", "--max-active", "5", "--max-sandbox-runtime", "1m",
                          "--format", "json").stdout)
    assert [a["message"] for a in data["alerts"]] == [
        "1 active entry", "0 sandbox retries running longer than the limit"]
