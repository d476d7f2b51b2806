"""Valid input nested too deeply, on every face: the HTTP shim answers 400 and the CLI exits 2 with
"nested too deeply" before anything runs (no run record, no claim, the entry unchanged), where a
900-level override used to answer 500 and leave its retry's run id to be used again. Numeric
settings past their bounds are refused too (MOVA_LEASE_SECONDS=1e12 used to overflow a date)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mova_core.http import create_app
from mova_core.settings import Settings
from mova_tui.cli.main import app as cli_app
from tests.support import SAMPLE_DLQ

from .support import bug_lines, snapshot_tree

with warnings.catch_warnings():  # starlette nudges towards httpx2; the test client works as is
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.reliability

ENTRY = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"


def _nested(levels: int, leaf: Any = "x") -> Any:
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


DEEP = _nested(900)  # about 6 KB of JSON, as a hostile tester sent it
TOO_DEEP_TO_PARSE = "[" * 50_000 + "]" * 50_000  # past the JSON parser's own stack


@pytest.fixture
def state(tmp_path) -> Path:
    dlq = tmp_path / "state" / "deadletter"
    shutil.copytree(SAMPLE_DLQ, dlq, ignore=shutil.ignore_patterns(".mova"))
    return tmp_path / "state"


def _unchanged(state: Path, before: dict) -> None:
    """No run record, no log, no claim: only the index and audit bookkeeping may have been touched."""
    after = snapshot_tree(state, skip=state / "deadletter" / ".mova")
    assert after == before, sorted(set(after) ^ set(before)) or "a file changed"


@pytest.mark.parametrize("overrides", [
    {"variables": {"x": DEEP}},
    {"secrets": {"api_key": DEEP}},
    {"variables": {"ok": 1, "list": [[[_nested(250)]]]}},
])
def test_http_retry_with_deep_overrides_is_400_and_runs_nothing(state, figures, overrides):
    client = TestClient(create_app(Settings(dlq_path=state / "deadletter")))
    figures.add("deep_input_bugs", 0)
    before = snapshot_tree(state, skip=state / "deadletter" / ".mova")
    for _ in range(2):  # twice: the refused request must leave nothing behind for the next one
        answer = client.post(f"/v1/dlq/{ENTRY}/retry", json={"overrides": overrides})
        figures.add("deep_inputs")
        if answer.status_code != 400 or "nested too deeply" not in answer.json()["error"]:
            figures.add("deep_input_bugs")
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_input", answer.text
        assert "nested too deeply" in answer.json()["error"] and "x" * 3 not in answer.text
    _unchanged(state, before)
    first = client.post(f"/v1/dlq/{ENTRY}/retry", json={"overrides": {"variables": {"x": _nested(150)}}}).json()
    assert first["retry_run_id"] and first["execution_result"]["run_id"] == first["retry_run_id"]
    records = sorted(p.name for p in (state / "sandbox").glob("*.json"))
    assert records == [f"{first['retry_run_id']}.json"]


def test_http_body_too_deep_to_parse_is_400(state, figures):
    client = TestClient(create_app(Settings(dlq_path=state / "deadletter")))
    body = '{"overrides": {"variables": {"x": ' + TOO_DEEP_TO_PARSE + "}}}"
    answer = client.post(f"/v1/dlq/{ENTRY}/retry", content=body, headers={"content-type": "application/json"})
    figures.add("deep_inputs")
    figures.add("deep_input_bugs", 0 if answer.status_code == 400 else 1)
    assert answer.status_code == 400, answer.text


def _cli(state: Path, *args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(cli_app, list(args), env={"MOVA_DLQ_PATH": str(state / "deadletter"), "NO_COLOR": "1",
                                                          "COLUMNS": "120", **(env or {})})
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def _cases(tmp_path: Path) -> dict[str, list[str]]:
    files = tmp_path / "inputs"
    files.mkdir()
    (files / "deep-overrides.json").write_text(json.dumps({"secrets": {"token": DEEP}}))
    (files / "wf.json").write_text(json.dumps({"intent": {"name": "deep"}, "actions": []}))
    for field in ("variables", "payload", "secrets"):
        value = {"v": DEEP} if field != "payload" else DEEP
        (files / f"wf-{field}.json").write_text(json.dumps({"intent": {"name": "deep"}, "actions": [], field: value}))
    deep_params = [{"id": "s", "type": "set", "params": {"variable": "v", "value": DEEP}}]
    (files / "wf-params.json").write_text(json.dumps({"intent": {"name": "deep"}, "actions": deep_params}))
    return {
        "retry --var": ["dlq", "retry", ENTRY, "--wait", "--var", f"x={json.dumps(DEEP)}"],
        "retry --var unparsable": ["dlq", "retry", ENTRY, "--wait", "--var", f"x={TOO_DEEP_TO_PARSE}"],
        "retry --overrides": ["dlq", "retry", ENTRY, "--wait", "--overrides", str(files / "deep-overrides.json")],
        "retry --all --var": ["dlq", "retry", "--all", "--yes", "--var", f"x={json.dumps(DEEP)}"],
        "run --var": ["run", str(files / "wf.json"), "--var", f"x={json.dumps(DEEP)}"],
        **{f"run {field}": ["run", str(files / f"wf-{field}.json")] for field in ("variables", "payload", "secrets", "params")},
    }


def test_cli_refuses_deep_input_with_exit_2(state, tmp_path, figures):
    failures = []
    figures.add("deep_input_bugs", 0)
    for name, args in _cases(tmp_path).items():
        before = snapshot_tree(state, skip=state / "deadletter" / ".mova")
        code, output = _cli(state, *args)
        figures.add("deep_inputs")
        if code != 2 or "nested too deeply" not in output or bug_lines(output):
            figures.add("deep_input_bugs")
            failures.append(f"{name}: exit {code}: {output[-300:]}")
        _unchanged(state, before)
    assert failures == []


@pytest.mark.parametrize("name, value", [
    ("MOVA_LEASE_SECONDS", "1e12"), ("MOVA_LEASE_SECONDS", "inf"), ("MOVA_LEASE_SECONDS", "nan"),
    ("MOVA_RETRY_DEFAULT_DELAY", "1e400"), ("MOVA_RETRY_DEFAULT_MAX_DELAY", "1e9"),
    ("MOVA_RETRY_DEFAULT_MAX_ATTEMPTS", "1000000000"), ("MOVA_DLQ_RETENTION_DAYS", "1e7"),
    ("MOVA_ALERT_MAX_ACTIVE", str(2**64)),
])
def test_numeric_settings_past_their_bounds_are_refused_naming_the_setting(monkeypatch, name, value):
    from mova_core.settings import InvalidSetting

    monkeypatch.setenv(name, value)
    settings = Settings()  # an invalid value fails the commands that read that setting, and only those
    with pytest.raises(InvalidSetting) as info:
        getattr(settings, name.removeprefix("MOVA_").lower())
    assert name in str(info.value)


@pytest.mark.parametrize("env, args", [
    ({"MOVA_LEASE_SECONDS": "1e12"}, ("dlq", "retry", "dlq_07b5c3ae", "--sandbox", "--wait")),
    ({"MOVA_DLQ_RETENTION_DAYS": "1e7"}, ("dlq", "purge", "--dry-run")),
])
def test_cli_names_an_out_of_range_setting_and_exits_2(state, env, args):
    code, output = _cli(state, *args, env=env)
    assert code == 2 and next(iter(env)) in output and not bug_lines(output), output
    code, output = _cli(state, "dlq", "list", env=env)  # a command that does not read the setting still works
    assert code == 0 and not bug_lines(output), output
