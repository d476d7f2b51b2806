"""`mova dlq retry --wait` in the sandbox shows its detailed logging and says where the run's log is."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .conftest import SPEC_ID, make_entry, write_entry

SECRET = "s3cr3t-sandbox-key-0042"


def keyed(dlq, url: str) -> None:
    entry = make_entry(SPEC_ID, url=url)
    entry["envelope"]["actions"][0]["params"]["headers"] = {"Authorization": "Bearer {{ secrets.api_key }}"}
    write_entry(dlq, entry)


def after(lines: list[str], marker: str) -> str:
    """The line that follows the first line ending with `marker`."""
    index = next(i for i, line in enumerate(lines) if line.rstrip().endswith(marker))
    return lines[index + 1]


def test_sandbox_wait_shows_params_request_response_and_timings(dlq, cli, ok_server):
    keyed(dlq, ok_server)
    r = cli("dlq", "retry", SPEC_ID, "--wait", "--secret", f"api_key={SECRET}")
    assert r.exit_code == 0, r.stderr
    lines = r.stderr.splitlines()
    assert after(lines, "fetch_data: params").strip() == (
        f'{{"url": "{ok_server}/data", "headers": {{"Authorization": "[REDACTED]"}}}}')
    assert after(lines, "fetch_data: request").strip() == (
        f'GET {ok_server}/data headers {{"Authorization": "[REDACTED]"}}')
    assert re.fullmatch(r'200 in [\d.]+ ms body \{"ok": true, "items": \[1, 2, 3\]\}',
                        after(lines, "fetch_data: response").strip())
    assert re.fullmatch(r"[\d.]+ ms", after(lines, "fetch_data: attempt timing").strip())
    assert "secrets: api_key" in after(lines, "sandbox run")
    assert SECRET not in r.stderr + r.stdout
    log = Path(re.search(r"sandbox run log: (\S+) ", r.stderr).group(1))
    assert log.parent == dlq.parent / "sandbox"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"request", "response"} <= {e.get("message") for e in events}
    assert SECRET not in log.read_text()


def test_production_wait_names_its_log_and_prints_no_details(spec_dlq, cli):
    r = cli("dlq", "retry", SPEC_ID, "--wait", "--sandbox=false")
    assert r.exit_code == 0, r.stderr
    assert "fetch_data: request" not in r.stderr
    log = Path(re.search(r"production run log: (\S+) ", r.stderr).group(1))
    assert log.parent == spec_dlq.parent / "runs" and log.exists()
