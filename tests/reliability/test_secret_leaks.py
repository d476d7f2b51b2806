"""No recoverable secret: secrets with spaces, quotes, `<{|\\`, non-ASCII characters and nested
values, sent in URL paths and queries, headers and bodies to a local echo server, through
`mova run`, a sandbox retry, a production retry and the HTTP shim. Afterwards every file under the
state directory (entries, run records, logs, the index, the audit log, the sandbox directory,
`.mova`) and every output (the CLI's stdout and stderr, HTTP answers, `export`) is searched for
each secret in every encoded form (`tests/secret_forms.py`): none is found."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from mova_core.http import create_app
from mova_core.settings import Settings
from tests.core.httpservers import LocalServer
from tests.secret_forms import HOSTILE_SECRETS, encoded_forms, secrets_found, secrets_in_tree

from .support import ENTRY_ID, bug_lines, child_env, closed_port_url, finish, mova_command, start

with warnings.catch_warnings():  # starlette nudges towards httpx2; the test client works as is
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.reliability

#: Header values must be ASCII (a non-ASCII one is an invalid configuration): these go in headers.
ASCII_SECRET = 'hdr "quoted" <{|\\}> and spaces'
NESTED = {"inner": "n3sted sécret/value", "deeper": {"list": ["l1st-sëcret|x", 987654321]}}
#: Every scalar a run is given, as the leaves the redactor knows.
LEAVES = [*HOSTILE_SECRETS, ASCII_SECRET, NESTED["inner"], NESTED["deeper"]["list"][0], "987654321"]
NAMES = ["s0", "s1", "s2", "s3"]
FAST = {"max_attempts": 2, "backoff": "fixed", "delay": 0.01, "jitter": False}


def _secrets() -> dict[str, Any]:
    return {**dict(zip(NAMES, HOSTILE_SECRETS, strict=True)), "hdr": ASCII_SECRET, "nested": NESTED}


def _workflow(base: str, closed: str) -> dict[str, Any]:
    """Every place a secret can travel: path, query (in the URL and as params), a header, JSON and text bodies."""
    actions: list[dict[str, Any]] = [
        {"id": f"path{i}", "type": "http_fetch",
         "params": {"url": f"{base}/echo/{{{{ secrets.{n} }}}}?inline={{{{ secrets.{n} }}}}&n={i}",
                    "query": {"q": f"{{{{ secrets.{n} }}}}"}}}
        for i, n in enumerate(NAMES)
    ]
    actions += [
        {"id": "headers", "type": "http_fetch",
         "params": {"url": f"{base}/echo/h", "headers": {"X-Custom": "{{ secrets.hdr }}",
                                                         "Authorization": "Bearer {{ secrets.hdr }}"}}},
        {"id": "json_body", "type": "http_fetch",
         "params": {"url": f"{base}/echo/j", "method": "POST",
                    "json": {"all": [f"{{{{ secrets.{n} }}}}" for n in NAMES], "nested": "{{ secrets.nested }}"}}},
        {"id": "text_body", "type": "http_fetch",
         "params": {"url": f"{base}/echo/t", "method": "PUT",
                    "body": "a={{ secrets.s0 }}&b={{ secrets.s1 }}&n={{ secrets.nested }}"}},
        {"id": "note", "type": "print", "params": {"message": "using {{ secrets.s3 }} and {{ secrets.nested }}"}},
        {"id": "fail", "type": "http_fetch", "retry": FAST,
         "params": {"url": f"{closed}?k={{{{ secrets.s1 }}}}&n={{{{ secrets.nested.inner }}}}"}},
    ]
    return {"intent": {"name": "secret-leaks", "retry": FAST}, "actions": actions, "variables": {"base": base}}


def _check(figures, where: str, data: bytes | str) -> list[str]:
    figures.add("secret_forms_checked", sum(len(encoded_forms(s)) for s in LEAVES))
    found = [f"{where}: {hit}" for hit in secrets_found(data, LEAVES)]
    figures.add("secrets_found", len(found))
    return found


def _check_tree(figures, roots: list[Path]) -> list[str]:
    found = secrets_in_tree(roots, LEAVES)
    files = [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]
    figures.add("secret_files_searched", len(files))
    figures.add("secret_forms_checked", len(files) * sum(len(encoded_forms(s)) for s in LEAVES))
    figures.add("secrets_found", sum(len(v) for v in found.values()))
    return [f"{path}: {hit}" for path, hits in found.items() for hit in hits]


def _mova(env: dict[str, str], cwd: Path, *args: str):
    proc = finish(start("mova", mova_command(*args), env, cwd))
    assert not bug_lines(proc.stdout + proc.stderr), proc.stderr
    return proc


def test_no_form_of_any_secret_reaches_a_file_or_an_output(tmp_path: Path, figures):
    state = tmp_path / "state"
    dlq = state / "deadletter"
    dlq.mkdir(parents=True)
    inputs = tmp_path / "inputs"  # what the operator typed: outside the state directory
    inputs.mkdir()
    leaks: list[str] = []
    with LocalServer() as server:
        env = child_env(dlq)
        workflow = _workflow(server.url, closed_port_url())
        # `mova run`: scalar secrets by --secret, the nested one inline in the envelope.
        (inputs / "wf.json").write_text(json.dumps({**workflow, "secrets": {"nested": NESTED}}))
        secret_args = [a for n in [*NAMES, "hdr"] for a in ("--secret", f"{n}={_secrets()[n]}")]
        run = _mova(env, tmp_path, "run", str(inputs / "wf.json"), *secret_args)
        assert run.returncode == 1, run.stderr
        entry_id = run.stdout.strip().splitlines()[-1]
        assert ENTRY_ID.match(entry_id), run.stdout
        assert server.calls("/echo/h") == 1 and server.calls("/echo/j") == 1  # the secrets really travelled
        seen = json.dumps([s.path + s.body.decode("utf-8", "replace") + json.dumps(s.headers) for s in server.requests])
        assert secrets_found(seen, LEAVES), "the echo server should have received the secrets"
        leaks += _check(figures, "mova run stdout", run.stdout) + _check(figures, "mova run stderr", run.stderr)

        # Sandbox and production retries, every secret (the nested one too) in an overrides file.
        (inputs / "overrides.json").write_text(json.dumps({"secrets": _secrets(), "variables": {"base": server.url}}))
        for mode in ("--sandbox", "--no-sandbox"):
            for fmt in ("table", "json"):
                retry = _mova(env, tmp_path, "dlq", "retry", entry_id, mode, "--wait", "--format", fmt,
                              "--overrides", str(inputs / "overrides.json"))
                assert retry.returncode == 1, retry.stderr  # the last action still fails
                leaks += _check(figures, f"retry {mode} {fmt} stdout", retry.stdout)
                leaks += _check(figures, f"retry {mode} {fmt} stderr", retry.stderr)

        # The HTTP shim: a retry with secrets in the body, then what it serves.
        client = TestClient(create_app(Settings(dlq_path=dlq)))
        for sandbox in (True, False):
            answer = client.post(f"/v1/dlq/{entry_id}/retry",
                                 json={"sandbox_mode": sandbox, "overrides": {"secrets": _secrets()}})
            assert answer.status_code == 200, answer.text
            leaks += _check(figures, f"POST retry sandbox={sandbox}", answer.content)
        for path in ("/v1/dlq", f"/v1/dlq/{entry_id}", "/v1/dlq/groups", "/v1/dlq/stats", "/metrics"):
            leaks += _check(figures, f"GET {path}", client.get(path).content)

        # What other commands print, and export files.
        for args in (("dlq", "list", "--format", "json"), ("dlq", "show", entry_id), ("dlq", "show", entry_id, "--format", "json"),
                     ("dlq", "export", "--format", "jsonl", "-o", str(inputs / "export.jsonl")),
                     ("dlq", "export", "--format", "csv", "-o", str(inputs / "export.csv"))):
            shown = _mova(env, tmp_path, *args)
            leaks += _check(figures, " ".join(args[:3]), shown.stdout + shown.stderr)
        for name in ("export.jsonl", "export.csv"):
            leaks += _check(figures, name, (inputs / name).read_bytes())

    leaks += _check_tree(figures, [state])
    assert (state / "sandbox").is_dir() and (state / "runs").is_dir() and (dlq / ".mova").is_dir()
    assert leaks == [], f"{len(leaks)} recoverable secrets:\n" + "\n".join(leaks[:60])
