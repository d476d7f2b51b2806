"""schemathesis against the shim's own OpenAPI document, in process, over a copy of the sample
directory with hostile files beside the entries: no 5xx, and every answer as the document says.

Every default check runs (server errors, status codes, content types, headers and bodies against
the document, schema-valid requests accepted and invalid ones refused, undocumented methods
answered 405 with `Allow`), in positive and negative generation, at a small budget for CI.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from mova_core.http import create_app
from mova_core.model.errors import InvalidId
from mova_core.model.ids import validate_id
from mova_core.settings import Settings
from tests.support import FROZEN_NOW, SAMPLE_DLQ

#: Per operation: small enough that the whole document runs in well under a minute on a busy machine.
MAX_EXAMPLES = 20
#: A schema-valid request may also meet a missing entry (404), a lease or a forbidden transition
#: (409), an If-Match tag that is not the entry's version (412), or an entry file that is unreadable
#: (422): none of those is a rejection of the request.
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "404", "409", "412", "422"]}}})


def _closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/closed"


def _harmless(value: Any, closed: str) -> Any:
    """The sample's workflows made quick and local: one attempt, no sleep, every URL a closed loopback port."""
    if isinstance(value, dict):
        out = {k: _harmless(v, closed) for k, v in value.items()}
        if isinstance(out.get("retry"), dict):
            out["retry"] = {"max_attempts": 1}
        if out.get("type") == "sleep":
            out["params"] = {"seconds": 0}
        return out
    if isinstance(value, list):
        return [_harmless(v, closed) for v in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return closed
    return value


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def _sample(dlq: Path) -> dict[str, Any]:
    return json.loads((dlq / "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249.json").read_text())


def _unreadable_files(dlq: Path) -> None:
    """Files a shared directory may hold beside real entries, which every view reports or skips."""
    sample = _sample(dlq)
    (dlq / "dlq_torn.json").write_text('{"id": "dlq_torn", "run_id": ')
    (dlq / "dlq_latin1.json").write_bytes(b'{"id": "dlq_latin1", "x": "\xe9"}')
    (dlq / "dlq_list.json").write_text("[1, 2, 3]")
    deep = dict(sample, id="dlq_deep")
    deep["context"] = dict(sample["context"], variables={"deep": _nested(300)})
    (dlq / "dlq_deep.json").write_text(json.dumps(deep))
    odd = dict(sample, id="dlq_odd-text")
    odd["error_details"] = dict(sample["error_details"], last_error="\x1b]2;PWNED\x07 <b>[red]x[/red]</b> \u202e")
    odd["context"] = dict(sample["context"], variables={"big": 2**70, "neg": -(2**70)})
    (dlq / "dlq_odd-text.json").write_text(json.dumps(odd))
    # An id no entry may have, and fields of the wrong types: skipped and named, never served raw.
    (dlq / "dlq_run:1642588245.json").write_text(json.dumps(dict(sample, id="dlq_run:1642588245")))
    (dlq / "dlq_wrong-types.json").write_text(json.dumps(dict(sample, id="dlq_wrong-types", context=[],
                                                              error_details="oops")))


@pytest.fixture
def api_schema(tmp_path) -> schemathesis.BaseSchema:
    """The document of an app over the copy, with hooks that point half the ids at real entries."""
    dlq = tmp_path / "state" / "deadletter"
    shutil.copytree(SAMPLE_DLQ, dlq, ignore=shutil.ignore_patterns(".mova"))
    closed = _closed_url()
    for path in dlq.glob("*.json"):
        path.write_text(json.dumps(_harmless(json.loads(path.read_text()), closed)))
    _unreadable_files(dlq)
    api = schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings(dlq_path=dlq), clock=lambda: FROZEN_NOW),
                                         config=CONFIG)
    ids = [p.stem for p in sorted(dlq.glob("*.json")) if _valid(p.stem)]
    known = [*ids, *(i[:12] for i in ids if i.startswith("dlq_"))]

    @api.hook("flatmap_path_parameters")
    def mostly_known_ids(context, path_parameters):
        # Generated ids almost never name an entry: half the cases use the directory's own, or prefixes.
        if not isinstance(path_parameters, dict) or "dlq_id" not in path_parameters:
            return st.just(path_parameters)
        return st.sampled_from([path_parameters["dlq_id"], *known]).map(lambda i: {**path_parameters, "dlq_id": i})

    @api.hook("map_case")
    def retries_wait(context, case):
        # A background retry starts a detached worker process (tests/http/test_retry.py has those):
        # here every retry waits, in process.
        if case.operation.path.endswith("/retry"):
            for part in (case.query, case.body):
                if isinstance(part, dict):
                    part.pop("wait", None)
        return case

    return api


def _valid(entry_id: str) -> bool:
    try:
        validate_id(entry_id)
    except InvalidId:
        return False
    return True


FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@schemathesis.pytest.from_fixture("api_schema").parametrize()
@FUZZ
def test_every_answer_conforms_to_the_document(case):
    case.call_and_validate()


# -- what the document says, beyond what the framework generates -----------------------------------


@pytest.fixture
def document() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def _parameter(document: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    operation = document["paths"][path][method]
    return next(p for p in operation["parameters"] if p["name"] == name)


def test_the_id_parameter_has_the_id_rule(document):
    import re

    for path, method in (("/v1/dlq/{dlq_id}", "get"), ("/v1/dlq/{dlq_id}/retry", "post")):
        schema = _parameter(document, path, method, "dlq_id")["schema"]
        assert schema["pattern"] == r"^[A-Za-z0-9_](?:\.?[A-Za-z0-9_-])*\.?$" and schema["maxLength"] == 200
    pattern = re.compile(_parameter(document, "/v1/dlq/{dlq_id}", "delete", "dlq_id")["schema"]["pattern"])
    for ok in ("dlq_3f9a2c71", "5c91d7e4-3a0b", "a.b", "x."):
        assert pattern.match(ok)
    for bad in ("..", "a..b", ".hidden", "a/b", "a b", ""):
        assert not pattern.match(bad)


def test_times_document_the_three_forms_the_cli_takes(document):
    for path in ("/v1/dlq", "/v1/dlq/groups"):
        for name in ("since", "until"):
            forms = _parameter(document, path, "get", name)["schema"]["anyOf"]
            assert [f.get("format") for f in forms] == ["date-time", "date", None]
            age = re.compile(forms[2]["pattern"])
            assert all(age.match(ok) for ok in ("7d", "2h", "1.5w", "99999w"))
            assert not any(age.match(bad) for bad in ("", "7", "d", "999999w", "7 d"))


def test_every_endpoint_documents_the_bearer_token(document):
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"bearer": []}, {}]  # needed only when a token is configured
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "401" in operation["responses"], (method, path)
    assert "bearer token" in document["paths"]["/healthz"]["get"]["description"]


def test_unreadable_entries_and_store_failures_are_documented(document):
    for method in ("get", "delete"):
        assert {"422", "503"} <= set(document["paths"]["/v1/dlq/{dlq_id}"][method]["responses"])
    assert "HTTPValidationError" not in json.dumps(document)
