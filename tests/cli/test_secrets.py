"""What a retry needs in secrets: said up front by `retry` and `show`, and typed without shell history
(`--secret NAME` asked on a terminal, `NAME=-` from stdin, `--secrets-file`)."""

from __future__ import annotations

import json
import os
import pty
import select
import sys
import time

import pytest

from .conftest import (
    MOVA,
    SPEC_ID,
    entry_status,
    load_entry,
    make_entry,
    subprocess_env,
    write_entry,
)

SECRET = "s3cr3t-value-from-the-operator"


def keyed_entry(url: str) -> dict:
    """The spec's example entry, fetching `url` with `Authorization: Bearer {{ secrets.api_key }}`."""
    entry = make_entry(SPEC_ID, url=url)
    entry["envelope"]["actions"][0]["params"]["headers"] = {"Authorization": "Bearer {{ secrets.API_KEY }}"}
    return entry


@pytest.fixture
def keyed(dlq, recorder):
    url, seen = recorder
    write_entry(dlq, keyed_entry(url))
    return dlq, seen


def untouched(dlq) -> bool:
    """No claim was taken: still active, no retry counted, nothing audited."""
    entry = load_entry(dlq, SPEC_ID)
    return (entry["status"] == "active" and entry["metadata"]["retry_count"] == 0
            and not (dlq / ".mova" / "audit.jsonl").exists())


def test_a_sandbox_retry_missing_a_secret_fails_before_claiming(keyed, cli, monkeypatch):
    dlq, seen = keyed
    monkeypatch.setenv("MOVA_SECRET_API_KEY", SECRET)  # production's: a sandbox retry never reads it
    r = cli("dlq", "retry", "dlq_12345678", "--wait")
    assert r.exit_code == 2
    assert f"{SPEC_ID} uses secret API_KEY (in fetch_data)" in r.stderr
    assert "add --secret API_KEY=…" in r.stderr and "never from MOVA_SECRET_*" in r.stderr
    assert SECRET not in r.stderr + r.stdout
    assert untouched(dlq) and seen == []
    assert cli("dlq", "retry", SPEC_ID).exit_code == 2  # in the background too
    assert untouched(dlq)


def test_a_production_retry_names_the_variable_and_finds_it(keyed, cli, monkeypatch):
    dlq, seen = keyed
    r = cli("dlq", "retry", SPEC_ID, "--sandbox=false", "--wait")
    assert r.exit_code == 2 and "or set MOVA_SECRET_API_KEY" in r.stderr and untouched(dlq)
    monkeypatch.setenv("MOVA_SECRET_API_KEY", SECRET)
    r = cli("dlq", "retry", SPEC_ID, "--sandbox=false", "--wait")
    assert r.exit_code == 0, r.stderr
    assert seen == [f"Bearer {SECRET}"] and entry_status(dlq, SPEC_ID) == "resolved"


def test_a_secret_named_in_any_case_is_provided(keyed, cli):
    _, seen = keyed
    r = cli("dlq", "retry", SPEC_ID, "--wait", "--secret", f"api_key={SECRET}")
    assert r.exit_code == 0, r.stderr
    assert seen == [f"Bearer {SECRET}"]


def test_secret_from_stdin_with_name_dash(keyed, mova):
    dlq, seen = keyed
    r = mova("--dlq-path", str(dlq), "dlq", "retry", SPEC_ID, "--wait", "--secret", "api_key=-", input=SECRET + "\n")
    assert r.returncode == 0, r.stderr
    assert seen == [f"Bearer {SECRET}"]  # the newline that ends the line is not part of it
    assert SECRET not in r.stdout + r.stderr


def test_secrets_file_lines_comments_quotes_and_stdin(keyed, cli, mova, tmp_path):
    dlq, seen = keyed
    path = tmp_path / "secrets.env"
    path.write_text(f"# staging credentials\n\napi_key = \"{SECRET}\"\nunused=x\n")
    r = cli("dlq", "retry", SPEC_ID, "--wait", "--secrets-file", str(path))
    assert r.exit_code == 0, r.stderr
    r = mova("--dlq-path", str(dlq), "dlq", "retry", SPEC_ID, "--wait", "--secrets-file", "-",
             input=f"api_key={SECRET}-2\n")
    assert r.returncode == 0, r.stderr
    assert seen == [f"Bearer {SECRET}", f"Bearer {SECRET}-2"]
    record = load_entry(dlq, SPEC_ID)["retry_history"][-1]
    assert record["override_secrets"] == ["api_key"]


def test_a_bad_secrets_file_line_is_named_never_quoted(keyed, cli, tmp_path):
    dlq, _ = keyed
    path = tmp_path / "secrets.env"
    path.write_text(f"api_key={SECRET}\n{SECRET}\n")
    r = cli("dlq", "retry", SPEC_ID, "--secrets-file", str(path))
    assert r.exit_code == 2 and f"secrets file {path}, line 2: expected NAME=VALUE" in r.stderr
    assert SECRET not in r.stderr and untouched(dlq)
    r = cli("dlq", "retry", SPEC_ID, "--secrets-file", str(tmp_path / "missing.env"))
    assert r.exit_code == 2 and "cannot read secrets file" in r.stderr


def test_stdin_is_read_by_one_option_only(keyed, mova):
    dlq, _ = keyed
    r = mova("--dlq-path", str(dlq), "dlq", "retry", SPEC_ID, "--secrets-file", "-", "--secret", "b=-", input="a=1\n")
    assert r.returncode == 2 and "both read stdin" in r.stderr and untouched(dlq)
    r = mova("--dlq-path", str(dlq), "dlq", "retry", SPEC_ID, "--secret", "api_key=-", input="")
    assert r.returncode == 2 and "stdin was empty" in r.stderr


def test_a_bare_secret_name_is_asked_for_hidden(keyed, cli, monkeypatch):
    from mova_tui.cli import output

    _, seen = keyed
    monkeypatch.setattr(output, "can_ask", lambda: True)
    r = cli("dlq", "retry", SPEC_ID, "--wait", "--secret", "api_key", input=SECRET + "\n")
    assert r.exit_code == 0, r.stderr
    assert "secret api_key:" in r.stderr and SECRET not in r.stdout + r.stderr
    assert seen == [f"Bearer {SECRET}"]


def _read_until(fd: int, marker: bytes, timeout: float = 30) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while marker not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    return out


def _wait_for_echo_off(fd: int, timeout: float = 30) -> None:
    import termios

    deadline = time.monotonic() + timeout
    while termios.tcgetattr(fd)[3] & termios.ECHO:
        assert time.monotonic() < deadline, "the prompt never turned echo off"
        time.sleep(0.01)


def _reap(pid: int, timeout: float = 30) -> int:
    """The child's wait status; killed first if it has not ended within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, 9)
    return os.waitpid(pid, 0)[1]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_on_a_real_terminal_the_typed_secret_is_not_echoed(keyed):
    """`mova` on a pseudo-terminal: the prompt shows, the typed value does not, and the run gets it."""
    dlq, seen = keyed
    env = subprocess_env(MOVA_DLQ_PATH=str(dlq), NO_COLOR="1")
    pid, fd = pty.fork()
    if pid == 0:  # the child: mova with the terminal as its controlling tty
        os.execve(sys.executable, [*MOVA, "dlq", "retry", SPEC_ID, "--wait", "--secret", "api_key"], env)
    try:
        shown = _read_until(fd, b"secret api_key:")
        assert b"secret api_key:" in shown, shown
        _wait_for_echo_off(fd)  # as a person would: type once the prompt waits (getpass flushes earlier input)
        os.write(fd, SECRET.encode() + b"\n")
        shown += _read_until(fd, b"is now active")
    finally:
        status = _reap(pid)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, shown
    assert SECRET.encode() not in shown
    assert seen == [f"Bearer {SECRET}"]


def test_show_lists_the_secrets_by_name_and_where_each_comes_from(keyed, cli, monkeypatch):
    monkeypatch.setenv("MOVA_SECRET_API_KEY", SECRET)
    r = cli("dlq", "show", SPEC_ID)
    assert r.exit_code == 0
    section = r.stdout[r.stdout.index("Secrets ─"):r.stdout.index("Envelope ─")]
    lines = [line.rstrip() for line in section.splitlines()[1:]]
    assert lines == [
        "API_KEY (used by fetch_data)",
        "  sandbox retry     not provided: add --secret API_KEY=…",
        "  production retry  from MOVA_SECRET_API_KEY",
    ]
    assert SECRET not in r.stdout
    monkeypatch.delenv("MOVA_SECRET_API_KEY")
    assert "production retry  not provided: set MOVA_SECRET_API_KEY" in cli("dlq", "show", SPEC_ID).stdout


def test_show_has_no_secrets_section_when_the_envelope_uses_none(dlq, cli, ok_server):
    write_entry(dlq, make_entry(SPEC_ID, url=ok_server))
    assert "Secrets ─" not in cli("dlq", "show", SPEC_ID).stdout


def test_run_reads_secrets_from_a_file(cli, tmp_path, recorder):
    url, seen = recorder
    workflow = tmp_path / "w.json"
    workflow.write_text(json.dumps({
        "intent": {"name": "keyed"},
        "actions": [{"id": "get", "type": "http_fetch",
                     "params": {"url": f"{url}/x", "headers": {"Authorization": "Bearer {{ secrets.api_key }}"}}}],
    }))
    path = tmp_path / "s.env"
    path.write_text(f"api_key={SECRET}\n")
    r = cli("--dlq-path", str(tmp_path / "dlq"), "run", str(workflow), "--secrets-file", str(path))
    assert r.exit_code == 0, r.stderr
    assert seen == [f"Bearer {SECRET}"]
