"""`mova dlq list`, `show`, `stats`, `groups`, `export`, `reindex` through Typer's runner."""

from __future__ import annotations

import csv
import io
import json

import pytest

from mova_tui.present.text import short_ids

from .conftest import SPEC_ID

GO_ID = "5c91d7e4-3a0b-4f62-8d17-e4b2a96c0f38"
STALE_ID = "dlq_d4e8a61b-2f7c-4c95-8a03-b6e9d15f2c70"


def rows(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(("dlq_", GO_ID[:8]))]


# -- list ---------------------------------------------------------------------------------------
def test_list_table_fits_80_columns_and_marks_the_stale_lease(dlq, cli):
    r = cli("dlq", "list")
    assert r.exit_code == 0, r.stderr
    assert len(rows(r.stdout)) == 16
    assert all(len(line) <= 80 for line in r.stdout.splitlines())
    stale = next(line for line in rows(r.stdout) if line.startswith("dlq_d4e8a61b"))
    assert "retrying*" in stale
    assert "stale lease" in r.stdout
    assert "\x1b[" not in r.stdout  # NO_COLOR / not a terminal: plain text
    assert r.stderr == ""


def test_list_json_is_one_array_of_full_entries(dlq, cli):
    r = cli("dlq", "list", "--status", "active", "--format", "json")
    entries = json.loads(r.stdout)
    assert len(entries) == 11 and all(e["status"] == "active" for e in entries)
    assert GO_ID in {e["id"] for e in entries}
    assert "envelope" in entries[0] and "context" in entries[0]


def test_list_json_empty_is_an_empty_array(dlq, cli):
    r = cli("dlq", "list", "--workflow-type", "nope", "--format", "json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == []


def test_list_table_empty_says_so_on_stderr(dlq, cli):
    r = cli("dlq", "list", "--workflow-type", "nope")
    assert r.exit_code == 0
    assert r.stdout == ""
    assert "no entries match" in r.stderr


def test_list_filters_user_since_until(dlq, cli):
    r = cli("dlq", "list", "--user-id", "bob", "--format", "json")
    assert {e["metadata"]["user_id"] for e in json.loads(r.stdout)} == {"bob"}
    r = cli("dlq", "list", "--since", "2026-11-25T00:00:00Z", "--until", "2026-11-27", "--format", "json")
    created = [e["created_at"] for e in json.loads(r.stdout)]
    assert created and all("2026-11-25" <= c < "2026-11-27" for c in created)
    r = cli("dlq", "list", "--since", "2026-11-25T01:00:00+02:00", "--format", "json")
    assert r.exit_code == 0
    assert len(json.loads(r.stdout)) >= 2


@pytest.mark.parametrize("args, text", [
    (["--since", "yesterday"], "RFC 3339"),
    (["--until", "2024-13-45T00:00:00Z"], "--until"),
    (["--status", "bogus"], "--status"),
    (["--limit", "-1"], "--limit"),
    (["--since", "2026-11-27", "--until", "2026-11-20"], "earlier than --until"),
])
def test_list_bad_values_exit_2(dlq, cli, args, text):
    r = cli("dlq", "list", *args)
    assert r.exit_code == 2
    assert text in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_list_warns_once_about_a_corrupt_file(dlq, cli):
    (dlq / "dlq_broken.json").write_text("{ not json")
    r = cli("dlq", "list", "--format", "json")
    assert r.exit_code == 0
    assert len(json.loads(r.stdout)) == 16
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "skipped 1 unreadable file" in warnings[0] and "dlq_broken.json" in warnings[0]
    assert (dlq / "dlq_broken.json").read_text() == "{ not json"  # never modified


def test_missing_directory_warns_and_reads_empty(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("MOVA_DLQ_PATH", str(tmp_path / "typo"))
    r = cli("dlq", "list", "--format", "json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == []
    assert "does not exist" in r.stderr and "typo" in r.stderr


def test_global_dlq_path_option_overrides_the_environment(dlq, tmp_path, monkeypatch, cli):
    monkeypatch.setenv("MOVA_DLQ_PATH", str(tmp_path / "elsewhere"))
    r = cli("--dlq-path", str(dlq), "dlq", "list", "--format", "json")
    assert len(json.loads(r.stdout)) == 16


def test_short_ids_are_unique_prefixes():
    ids = ["dlq_aaaa1111-x", "dlq_aaaa1112-y", "dlq_bbbb0000-z", "5c91d7e4-3a0b"]
    short = short_ids(ids)
    assert short == {"dlq_aaaa1111-x": "dlq_aaaa1111", "dlq_aaaa1112-y": "dlq_aaaa1112",
                     "dlq_bbbb0000-z": "dlq_bbbb0000", "5c91d7e4-3a0b": "5c91d7e4"}
    assert short_ids(["dlq_12345678a", "dlq_12345678b"]) == {"dlq_12345678a": "dlq_12345678a",
                                                            "dlq_12345678b": "dlq_12345678b"}


# -- show ---------------------------------------------------------------------------------------
def test_show_by_prefix_and_bare_uuid_prefix(dlq, cli):
    by_prefix = cli("dlq", "show", "dlq_f16a0d3c", "--format", "json")
    bare = cli("dlq", "show", "f16a0d3c", "--format", "json")
    assert by_prefix.exit_code == bare.exit_code == 0
    assert json.loads(by_prefix.stdout) == json.loads(bare.stdout)
    assert json.loads(bare.stdout)["id"] == "dlq_f16a0d3c-7b95-4286-a4e1-3d8c9b02e67f"
    go = cli("dlq", "show", "5c91d7e4", "--format", "json")
    assert json.loads(go.stdout)["id"] == GO_ID


def test_show_detail_view(dlq, cli):
    r = cli("dlq", "show", "f16a0d3c")
    out = r.stdout
    for text in ("status", "resolved", "Error history", "Attempt 1: HTTP 504: Gateway Timeout",
                 "Failed action: page_oncall (http_fetch)", "Variables", "Results per action",
                 "Retry history", "overrides: pager_url, pager_token (secret)", "Envelope", '"intent"'):
        assert text in out, text
    assert all(len(line) <= 80 for line in out.splitlines())


def test_show_stale_lease(dlq, cli):
    r = cli("dlq", "show", STALE_ID)
    assert "retrying (stale lease)" in r.stdout and "STALE" in r.stdout and "pid 4242@ops-2" in r.stdout


def test_unknown_id_exits_1_with_one_line(dlq, cli):
    r = cli("dlq", "show", "dlq_ffffffff")
    assert r.exit_code == 1
    assert r.stderr.strip().count("\n") == 0
    assert r.stderr.startswith("error: no dead-letter entry matches 'dlq_ffffffff'")


def test_ambiguous_prefix_lists_the_candidates(dlq, cli):
    r = cli("dlq", "show", "dlq_")
    assert r.exit_code == 1
    assert "matches 15 entries" in r.stderr and "dlq_07b5c3ae-6f19-4d84-b2c0-9e1a4d7f58e3" in r.stderr
    for command in (["archive", "dlq_"], ["retry", "dlq_"], ["delete", "dlq_", "--force"]):
        assert cli("dlq", *command).exit_code == 1


def test_invalid_id_exits_2(dlq, cli):
    r = cli("dlq", "show", "../../etc/passwd")
    assert r.exit_code == 2
    assert "invalid entry id" in r.stderr


# -- stats and groups ---------------------------------------------------------------------------
def test_stats_json_is_exactly_the_spec_object(dlq, cli):
    r = cli("dlq", "stats", "--format", "json")
    data = json.loads(r.stdout)
    assert set(data) == {"total_entries", "by_status", "by_workflow_type", "oldest_entry", "newest_entry"}
    assert data["total_entries"] == 16
    assert data["by_status"] == {"active": 11, "retrying": 1, "resolved": 2, "archived": 2}
    assert data["by_workflow_type"] == {"data-processing": 10, "notification": 3, "reporting": 2, "invoice-sync": 1}


def test_stats_human_view_adds_oldest_active_and_groups(dlq, cli):
    r = cli("dlq", "stats")
    assert "oldest active  dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249" in r.stdout
    assert "failure groups" in r.stdout
    group_rows = [line for line in r.stdout.splitlines() if "  5  http_fetch" in line]
    assert len(group_rows) == 1


def test_groups(dlq, cli):
    data = json.loads(cli("dlq", "groups", "--format", "json").stdout)
    assert data[0]["count"] == 5 and data[0]["action_type"] == "http_fetch"
    fingerprint = data[0]["fingerprint"]
    table = cli("dlq", "groups", "--status", "active").stdout
    assert table.splitlines()[2].startswith(f"{fingerprint}  5  http_fetch  2026-11-12  2026-11-27  network")
    assert all(len(line) <= 80 for line in table.splitlines())
    listed = json.loads(cli("dlq", "list", "--group", fingerprint, "--format", "json").stdout)
    assert len(listed) == 5
    assert json.loads(cli("dlq", "groups", "--status", "archived", "--format", "json").stdout)[0]["count"] == 1


# -- export and reindex -------------------------------------------------------------------------
def test_export_jsonl_and_csv(dlq, cli, tmp_path):
    r = cli("dlq", "export", "--status", "active")
    lines = r.stdout.splitlines()
    assert len(lines) == 11 and all(json.loads(line)["status"] == "active" for line in lines)
    assert "exported 11 entries" in r.stderr
    out = tmp_path / "all.csv"
    r = cli("dlq", "export", "--format", "csv", "--output", str(out))
    assert r.exit_code == 0 and r.stdout == ""
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(table) == 16 and {"id", "status", "workflow_type", "last_error"} <= set(table[0])
    assert not list(tmp_path.glob(".all.csv.*"))  # the temporary file was renamed into place


def test_export_to_an_unwritable_place_is_one_line(dlq, cli, tmp_path):
    r = cli("dlq", "export", "--output", str(tmp_path / "no" / "such" / "dir" / "x.jsonl"))
    assert r.exit_code == 2  # the core's export_to_file: a directory that does not exist is invalid input
    assert "does not exist" in r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1


def test_reindex_lists_unreadable_files(dlq, cli):
    (dlq / "dlq_broken.json").write_text("[]")
    r = cli("dlq", "reindex")
    assert r.exit_code == 0
    assert r.stdout.startswith("dlq_broken.json: ")
    assert "indexed 16 entries" in r.stderr
    data = json.loads(cli("dlq", "reindex", "--format", "json").stdout)
    assert data["entries"] == 16 and data["skipped"][0]["name"] == "dlq_broken.json"


def test_reindex_of_a_missing_directory_fails(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("MOVA_DLQ_PATH", str(tmp_path / "nope"))
    r = cli("dlq", "reindex")
    assert r.exit_code == 1 and "does not exist" in r.stderr


def test_spec_entry_show_json_roundtrips(spec_dlq, cli):
    r = cli("dlq", "show", "12345678", "--format", "json")
    assert json.loads(r.stdout)["id"] == SPEC_ID


def test_stats_and_groups_report_unreadable_files(dlq, cli):
    (dlq / "dlq_broken.json").write_text("{not json")
    (dlq / "dlq_wrong.json").write_text('{"id": 5}')
    r = cli("dlq", "stats", "--format", "json")
    data = json.loads(r.stdout)
    assert data["total_entries"] == 16 and data["skipped"] == 2
    assert sorted(s["name"] for s in data["skipped_files"]) == ["dlq_broken.json", "dlq_wrong.json"]
    assert "skipped 2 unreadable files" in r.stderr
    for fmt in ("table", "json"):
        r = cli("dlq", "groups", "--format", fmt)
        assert r.exit_code == 0 and "skipped 2 unreadable files" in r.stderr


def test_dlq_path_is_accepted_after_every_command(sample_dlq, tmp_path, cli):
    """`mova dlq list --dlq-path X` as well as `mova --dlq-path X dlq list` (the later one wins)."""
    elsewhere = str(tmp_path / "nowhere")
    r = cli("dlq", "list", "--dlq-path", str(sample_dlq), "--format", "json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 16 and r.stderr == ""
    r = cli("--dlq-path", elsewhere, "dlq", "stats", "--format", "json", "--dlq-path", str(sample_dlq))
    assert json.loads(r.stdout)["total_entries"] == 16
    r = cli("dlq", "--dlq-path", str(sample_dlq), "show", "1d6f08b3", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["id"].startswith("dlq_1d6f08b3")
    r = cli("dlq", "archive", "1d6f08b3", f"--dlq-path={sample_dlq}")
    assert r.exit_code == 0 and "archived dlq_1d6f08b3" in r.stderr


def test_run_takes_dlq_path_after_the_command(tmp_path, cli):
    from tests.support import ROOT

    target = tmp_path / "elsewhere" / "deadletter"
    r = cli("run", str(ROOT / "sample_state" / "workflows" / "flaky-local.json"), "--dlq-path", str(target))
    assert r.exit_code == 1  # dead-lettered, into the directory given after the command
    assert [p.stem for p in target.glob("*.json")] == [r.stdout.strip()]


def test_piped_show_prints_json_whole_so_it_can_be_copied_back(dlq, cli):
    """Not a terminal: the envelope is not wrapped at 80 columns mid-string (its payload has a long one)."""
    stale = "dlq_d4e8a61b-2f7c-4c95-8a03-b6e9d15f2c70"
    out = cli("dlq", "show", stale).stdout
    envelope = out[out.index("Envelope ─"):].split("\n", 1)[1]
    expected = json.loads(cli("dlq", "show", stale, "--format", "json").stdout)["envelope"]
    assert json.loads(envelope) == expected
    raw = json.dumps(expected["payload"]["raw"])
    assert f'    "raw": {raw}' in envelope.splitlines() and len(raw) > 70  # one line, as long as it is
    failed = out[out.index("Failed action: ingest"):out.index("Context ─")].split("\n", 1)[1]
    assert json.loads(failed) == expected["actions"][1]["params"]
