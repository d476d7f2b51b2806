"""Errors end a command with one line and an exit code, mapped in one place (MovaGroup)."""

from __future__ import annotations

import pytest

from mova_core.model import errors
from mova_core.ops.service import DLQService
from mova_tui.cli.output import exit_code_for
from tests.support import ROOT


@pytest.mark.parametrize("exc, code", [
    (errors.EntryNotFound("x"), 1),
    (errors.AmbiguousId("x", ["a", "b"]), 1),
    (errors.InvalidTransition("x", "resolved", "retrying"), 1),
    (errors.AlreadyRetrying("x"), 1),
    (errors.CorruptEntry("x.json", "bad"), 1),
    (errors.StoreError("disk full"), 1),
    (errors.InvalidInput("bad"), 2),
    (errors.PolicyError("actions[0].retry.delay: bad"), 2),
    (errors.InvalidId("../x"), 2),
    (errors.InvalidSetting("MOVA_LEASE_SECONDS", "x", "a number"), 2),
    (errors.MovaError("other"), 1),
])
def test_exit_codes(exc, code):
    assert exit_code_for(exc) == code


def _boom(*args, **kwargs):
    raise RuntimeError("kaboom")


def test_a_bug_is_one_line_not_a_traceback(dlq, cli, monkeypatch):
    monkeypatch.setattr(DLQService, "stats", _boom)
    r = cli("dlq", "stats")
    assert r.exit_code == 1
    assert r.stderr == "error: unexpected RuntimeError: kaboom (this is a bug; MOVA_DEBUG=1 shows the traceback)\n"


def test_mova_debug_shows_the_traceback(dlq, cli, monkeypatch):
    monkeypatch.setattr(DLQService, "stats", _boom)
    monkeypatch.setenv("MOVA_DEBUG", "1")
    with pytest.raises(RuntimeError, match="kaboom"):
        cli("dlq", "stats")


def test_ctrl_c_exits_130(dlq, cli, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(DLQService, "stats", interrupt)
    r = cli("dlq", "stats")
    assert r.exit_code == 130 and "interrupted" in r.stderr


def test_store_errors_are_one_line(dlq, cli, monkeypatch):
    def full(*args, **kwargs):
        raise errors.StoreError("could not write x.json: the disk is full; the previous version is intact")

    monkeypatch.setattr(DLQService, "archive_changed", full)
    r = cli("dlq", "archive", "1d6f08b3")
    assert r.exit_code == 1
    assert r.stderr == "error: could not write x.json: the disk is full; the previous version is intact\n"


def test_an_invalid_setting_fails_only_the_commands_that_use_it(dlq, mova, monkeypatch):
    """One line naming the variable and what it accepts, exit 2; a command that does not read it works."""
    from .conftest import entry_status

    for value in ("abc", "0", "5000"):
        monkeypatch.setenv("MOVA_RETRY_DEFAULT_MAX_ATTEMPTS", value)
        expected = [(f"error: MOVA_RETRY_DEFAULT_MAX_ATTEMPTS='{value}' is not valid: use a whole number, "
                     "at least 1 and at most 1000 (default 3)")]
        r = mova("dlq", "list", "--limit", "1")
        assert r.returncode == 0 and r.stderr == "", r.stderr
        r = mova("run", "sample_state/workflows/hello.json", cwd=ROOT)
        assert (r.returncode, r.stderr.splitlines(), r.stdout) == (2, expected, "")
        r = mova("dlq", "retry", "5c91d7e4")  # refused before the claim, in the background or not
        assert (r.returncode, r.stderr.splitlines()) == (2, expected)
        assert entry_status(dlq, "5c91d7e4-3a0b-4f62-8d17-e4b2a96c0f38") == "active"


def test_an_invalid_retention_fails_purge_not_stats(dlq, cli, monkeypatch):
    monkeypatch.setenv("MOVA_DLQ_RETENTION_DAYS", "a month")
    assert cli("dlq", "stats").exit_code == 0
    r = cli("dlq", "purge", "--dry-run")
    assert r.exit_code == 2
    assert r.stderr == ("error: MOVA_DLQ_RETENTION_DAYS='a month' is not valid: use a number, at least 0 and at most "
                        "36500 (default 30)\n")
    assert cli("dlq", "purge", "--dry-run", "--older-than", "7").exit_code == 0  # the option needs no setting
