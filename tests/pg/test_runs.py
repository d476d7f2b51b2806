"""Run records and their logs in PostgreSQL: the file store's records as rows, redacted the same way,
one log shared by its writers, and a run started on one host followed from another."""

from __future__ import annotations

import json
import re
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from mova_core.model.errors import InvalidId, StoreError
from mova_core.model.run import RunRecord
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.store.pg.runs import close_pools
from mova_core.store.runs import RunNotFound, RunStore, find_run, store_for
from tests.core.httpservers import LocalServer
from tests.pg.fixtures import PgTarget
from tests.pg.processes import host, host_env, run_mova
from tests.reliability.support import closed_port_url, entry_doc, write_entries

SECRET = "sk-live-4417-never-stored"


@pytest.fixture(autouse=True)
def _pools_closed():
    """This process's run-record pools closed after each test (its schema is dropped)."""
    yield
    close_pools()


def _settings(target: PgTarget, tmp_path: Path) -> Settings:
    return Settings(dlq_path=tmp_path / "unused", store_url=target.url, store_schema=target.schema)


def _rows(target: PgTarget, query: str, *args) -> list[tuple]:
    with psycopg.connect(target.url, autocommit=True) as conn:
        return conn.execute(query.replace("{s}", f'"{target.schema}"'), args).fetchall()


def _host_env(home: Path) -> dict[str, str]:
    """A host's own run and sandbox directories, so a file written by the wrong store would show."""
    return {"MOVA_RUNS_PATH": str(home / "runs"), "MOVA_SANDBOX_PATH": str(home / "sandbox"),
            "MOVA_DLQ_PATH": str(home / "deadletter")}


def _record(run_id: str, **fields) -> RunRecord:
    return RunRecord(**{"run_id": run_id, "status": "running", "start_time": "2026-12-01T10:00:00Z", **fields})


def test_a_record_and_its_log_round_trip_as_the_file_store_writes_them(pg_target, tmp_path):
    settings = _settings(pg_target, tmp_path)
    context = {"run_id": "run_1", "status": "failed", "variables": {"n": 1}, "results": {}}
    record = _record("run_1", workflow="orders", dlq_id="dlq_x", override_secrets=["api_key"])
    runs = store_for(settings, sandbox_mode=False)
    runs.save(record, context=context)
    files = RunStore(tmp_path / "files")
    files.save(record, context=context)
    ((text, sandbox, status, dlq_id),) = _rows(pg_target, "SELECT record, sandbox, status, dlq_id FROM {s}.runs")
    assert text.encode() == files.path("run_1").read_bytes()  # the file's bytes, exactly
    assert (sandbox, status, dlq_id) == (False, "running", "dlq_x")
    assert runs.load("run_1") == files.load("run_1")
    log = runs.open_log("run_1")
    for n in range(3):
        log.append({"event": "log", "n": n, "text": "caf\u00e9 \u0000"})
    log.close()
    assert [e["n"] for e in runs.read_log("run_1")] == [0, 1, 2]
    assert runs.read_log("run_1", 2) == [{"event": "log", "n": 2, "text": "caf\u00e9 \u0000"}]
    assert runs.read_log("run_unknown") == []
    # the mode is a column: a production run is not the sandbox's
    sandbox = store_for(settings, sandbox_mode=True)
    assert runs.exists("run_1") and not sandbox.exists("run_1")
    with pytest.raises(RunNotFound):
        sandbox.load("run_1")
    sandbox.save(_record("run_2", start_time="2026-12-01T11:00:00Z", sandbox_mode=True))
    assert [r.run_id for r in sandbox.list()] == ["run_2"] and [r.run_id for r in runs.list()] == ["run_1"]
    found, again = find_run(settings, "run_2")
    assert again.sandbox_mode and found.sandbox_mode
    with pytest.raises(StoreError, match="already recorded as a sandbox run"):
        runs.save(_record("run_2"))


def test_many_writers_append_to_one_log_without_a_gap_or_a_line_out_of_order(pg_target, tmp_path):
    runs = store_for(_settings(pg_target, tmp_path), sandbox_mode=False)
    start = threading.Barrier(6)

    def write(writer: int) -> None:
        log = runs.open_log("run_shared")
        start.wait()
        for n in range(40):
            log.append({"event": "log", "writer": writer, "n": n})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = [r[0] for r in _rows(pg_target, "SELECT line_no FROM {s}.run_log ORDER BY line_no")]
    assert numbers == list(range(240))
    events = runs.read_log("run_shared")
    for writer in range(6):
        assert [e["n"] for e in events if e["writer"] == writer] == list(range(40))
    assert len(runs.read_log("run_shared", 200)) == 40


def test_close_failed_ends_only_a_run_that_has_not_ended(pg_target, tmp_path):
    runs = store_for(_settings(pg_target, tmp_path), sandbox_mode=True)
    runs.close_failed("run_missing", "gone", "2026-12-01T12:00:00Z", create=False)
    assert not runs.exists("run_missing")
    runs.close_failed("run_new", "never started", "2026-12-01T12:00:00Z", dlq_id="dlq_y", sandbox_mode=True)
    made = runs.load("run_new")
    assert (made.status, made.error, made.dlq_id, made.end_time) == ("failed", "never started", "dlq_y",
                                                                     "2026-12-01T12:00:00Z")
    runs.save(_record("run_live", sandbox_mode=True))
    runs.close_failed("run_live", "abandoned: lease lost", "2026-12-01T12:01:00Z", failure_reason="abandoned")
    closed = runs.load("run_live")
    assert (closed.status, closed.failure_reason, closed.updated_at) == ("failed", "abandoned", "2026-12-01T12:01:00Z")
    runs.save(_record("run_done", sandbox_mode=True).model_copy(update={"status": "completed"}))
    runs.close_failed("run_done", "too late", "2026-12-01T12:02:00Z")
    assert runs.load("run_done").status == "completed" and runs.load("run_done").error is None


@pytest.mark.parametrize("run_id", ["../../etc/passwd", "run/../x", "", "a\u0000b"])
def test_a_run_id_that_could_escape_is_refused_before_any_statement(pg_target, tmp_path, run_id):
    settings = _settings(pg_target, tmp_path)
    runs = store_for(settings, sandbox_mode=False)
    for attempt in (lambda: runs.save(RunRecord(run_id=run_id)), lambda: runs.load(run_id),
                    lambda: runs.open_log(run_id), lambda: runs.read_log(run_id), lambda: runs.exists(run_id),
                    lambda: find_run(settings, run_id), lambda: runs.log_location(run_id)):
        with pytest.raises(InvalidId):
            attempt()
    assert _rows(pg_target, "SELECT count(*) FROM {s}.runs") == [(0,)]


def test_a_log_line_on_a_dead_connection_is_a_store_error_and_the_log_goes_on_after(pg_target, tmp_path):
    runs = store_for(_settings(pg_target, tmp_path), sandbox_mode=False)
    log = runs.open_log("run_cut")
    log.append({"event": "log", "n": 0})
    with psycopg.connect(pg_target.url, autocommit=True) as admin:  # the server drops this process's connections
        pids = [r[0] for r in admin.execute("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                                            "AND datname = current_database() AND backend_type = 'client backend'")]
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)).fetchone()[0]:
            pass  # terminating is asynchronous: the next line must meet a dead connection, not a dying one
    outcomes: dict[int, str] = {}
    for n in range(1, 6):  # each dead connection the pool held refuses one line, then it has live ones
        try:
            log.append({"event": "log", "n": n})
            outcomes[n] = "written"
        except StoreError as exc:
            assert f"could not write the run log {pg_target.schema}.run_log" in str(exc)
            outcomes[n] = "refused"
    assert outcomes[1] == "refused" and outcomes[5] == "written"
    written = [n for n, what in outcomes.items() if what == "written"]
    assert [e["n"] for e in runs.read_log("run_cut")] == [0, *written]  # a refused line is not half there


# -- through the service and the CLI, on "hosts" of their own ---------------------------------
def _seed(target: PgTarget, tmp_path: Path, doc: dict) -> str:
    source = tmp_path / "source"
    source.mkdir()
    (source / f"{doc['id']}.json").write_text(json.dumps(doc))
    with DLQService(_settings(target, tmp_path)) as service:
        assert service.import_dir(source).imported == 1
    return doc["id"]


def _secret_entry(url: str) -> dict:
    doc = entry_doc("dlq_5e0c1d2e-0000-4000-8000-00000000beef", url)
    for action in (doc["envelope"]["actions"][0], doc["failed_action"]):
        action["params"]["headers"] = {"X-Api-Key": "{{ secrets.api_key }}"}
    return doc


def _every_text(target: PgTarget) -> str:
    """Every value of every table in the schema, as text."""
    tables = [r[0] for r in _rows(target, "SELECT tablename FROM pg_tables WHERE schemaname = %s", target.schema)]
    assert {"runs", "run_log", "entries", "audit"} <= set(tables)
    return "\n".join(str(row) for t in tables for row in _rows(target, f'SELECT * FROM {{s}}."{t}"'))


def test_a_sandbox_retry_keeps_its_record_and_log_in_the_database_and_no_secret_in_any_table(pg_target, tmp_path):
    with LocalServer() as server:
        entry_id = _seed(pg_target, tmp_path, _secret_entry(f"{server.url}/echo/secret"))
        home = host(tmp_path, "host-a")
        done = run_mova(pg_target, home, "dlq", "retry", entry_id, "--secret", f"api_key={SECRET}", "--wait",
                        **_host_env(home))
        assert done.returncode == 0, done.stderr
        assert server.requests[-1].headers["X-Api-Key"] == SECRET  # the run had it, and the echo sent it back
    run_id = done.stdout.split()[0]
    where = re.search(r"sandbox run log: (.+) \(one JSON object per event\)", done.stderr).group(1)
    assert where.startswith(f"{pg_target.schema}.run_log (SELECT line FROM {pg_target.schema}.run_log ")
    query = where.removeprefix(f"{pg_target.schema}.run_log (").removesuffix(")")
    lines = [json.loads(r[0]) for r in _rows(pg_target, query)]  # the printed query prints the log
    assert lines and lines[-1]["event"] == "run_finished" and any(e["event"] == "log" for e in lines)
    (sandbox, record), = _rows(pg_target, "SELECT sandbox, record FROM {s}.runs WHERE run_id = %s", run_id)
    assert sandbox and json.loads(record)["status"] == "completed"
    everything = _every_text(pg_target)
    assert SECRET not in everything and "api_key" in everything  # names stay, values never
    assert not (home / "runs").exists() and not (home / "sandbox").exists()


def test_mova_run_that_dead_letters_into_postgresql_records_its_run_there(pg_target, tmp_path):
    doc = entry_doc("dlq_unused", closed_port_url())
    envelope = tmp_path / "envelope.json"
    envelope.write_text(json.dumps(doc["envelope"]))
    a, b = host(tmp_path, "host-a"), host(tmp_path, "host-b")
    ran = run_mova(pg_target, a, "run", str(envelope), **_host_env(a))
    assert ran.returncode != 0
    ((run_id, sandbox, status, record),) = _rows(pg_target, "SELECT run_id, sandbox, status, record FROM {s}.runs")
    assert (sandbox, status) == (False, "failed")
    ((entry_run,),) = _rows(pg_target, "SELECT run_id FROM {s}.entries")
    assert entry_run == run_id and json.loads(record)["dead_letter_id"]
    assert not (a / "runs").exists()
    seen = _python(pg_target, b, "from mova_core.ops.service import DLQService; import sys\n"
                   "print(DLQService().find_run(sys.argv[1]).status)", run_id)
    assert seen == "failed"


def _python(target: PgTarget, home: Path, code: str, *args: str) -> str:
    import subprocess

    done = subprocess.run([sys.executable, "-c", code, *args], cwd=home, check=False, capture_output=True,
                          text=True, timeout=60, env=host_env(target, home, **_host_env(home)))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


class GateServer(LocalServer):
    """The test server, whose `/gated` requests say they arrived and wait until the test opens the gate."""

    def __post_init__(self):
        super().__post_init__()
        self.arrived, self.gate = threading.Event(), threading.Event()

    def route(self, h, parts, n: int, body: bytes) -> None:
        if parts.path == "/gated":
            self.arrived.set()
            self.gate.wait(60)
            parts = parts._replace(path="/ok")
        super().route(h, parts, n, body)

    def __exit__(self, *exc) -> None:
        self.gate.set()  # a test that failed before opening it leaves no request waiting
        super().__exit__(*exc)


_FOLLOW = """
import json, sys
from mova_core.settings import Settings
from mova_core.store.runs import follow_log, wait_for_run
settings = Settings()
print("following", flush=True)
for event in follow_log(settings, sys.argv[1], poll=0.02, timeout=60):
    print(json.dumps(event), flush=True)
record = wait_for_run(settings, sys.argv[1], timeout=30, poll=0.02)
print("final", record.status, record.sandbox_mode, flush=True)
"""


def test_a_background_retry_on_host_a_is_shown_and_followed_from_host_b(pg_target, tmp_path):
    import subprocess

    with GateServer() as gate:
        entry_id = _seed(pg_target, tmp_path, entry_doc("dlq_0b5e7a31-1111-4000-8000-0000000000aa", f"{gate.url}/gated"))
        a, b = host(tmp_path, "host-a"), host(tmp_path, "host-b")
        started = run_mova(pg_target, a, "dlq", "retry", entry_id, **_host_env(a))
        assert started.returncode == 0, started.stderr
        run_id = started.stdout.split()[0]
        assert gate.arrived.wait(60), "the background retry never reached the upstream"
        shown = run_mova(pg_target, b, "dlq", "show", entry_id, **_host_env(b))
        assert shown.returncode == 0, shown.stderr
        assert run_id in shown.stdout and re.search(r"progress\s+running", shown.stdout), shown.stdout
        follower = subprocess.Popen([sys.executable, "-c", _FOLLOW, run_id], cwd=b, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=host_env(pg_target, b, **_host_env(b)))
        assert follower.stdout.readline().strip() == "following"
        gate.gate.set()
        out, err = follower.communicate(timeout=60)
        assert follower.returncode == 0, err
    lines = out.strip().splitlines()
    assert lines[-1] == "final completed True"
    events = [json.loads(line) for line in lines[:-1]]
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "run_finished"
    assert events == [json.loads(r[0]) for r in _rows(
        pg_target, "SELECT line FROM {s}.run_log WHERE run_id = %s ORDER BY line_no", run_id)]
    for home in (a, b):  # neither host kept a run file
        assert not (home / "runs").exists() and not (home / "sandbox").exists()


def test_the_file_store_still_prints_its_log_file(tmp_path):
    with LocalServer() as server:
        dlq = tmp_path / "deadletter"
        (entry_id,) = write_entries(dlq, 1, f"{server.url}/ok")
        home = host(tmp_path, "host-a")
        done = run_mova(None, home, "dlq", "retry", entry_id, "--wait", **{**_host_env(home), "MOVA_DLQ_PATH": str(dlq)})
    assert done.returncode == 0, done.stderr
    path = Path(re.search(r"sandbox run log: (\S+) \(one JSON", done.stderr).group(1))
    assert path == home / "sandbox" / f"{done.stdout.split()[0]}.log.jsonl" and path.read_text().count("\n") > 1
    assert DLQService(Settings(dlq_path=dlq, sandbox_path=home / "sandbox")).run_log_path(
        done.stdout.split()[0], True) == path
    assert DLQService(Settings(dlq_path=dlq)).run_log_location("run_x", False).endswith("run_x.log.jsonl")


def test_the_service_names_no_log_file_over_postgresql(pg_target, tmp_path):
    with DLQService(_settings(pg_target, tmp_path)) as service:
        assert service.run_log_path("run_x", False) is None
        assert service.run_log_location("run_x", True).startswith(f"{pg_target.schema}.run_log ")
