"""Disk full and permission errors: ENOSPC or EACCES at every write call an operation makes (injected
in-process), then a real full file system (a small tmpfs, when one can be mounted), then the HTTP
shim. Each failure is a clear error; the previous files stay as they were; nothing stored is lost."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest

from mova_core.model.errors import MovaError
from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from mova_core.store.audit import AuditLog

from .support import (
    assert_sound,
    bug_lines,
    check_directory,
    child_env,
    closed_port_url,
    finish,
    mova_command,
    start,
    write_entries,
)

pytestmark = pytest.mark.reliability

REASONS = {errno.ENOSPC: "the disk is full", errno.EACCES: "permission denied"}
OPERATIONS = ("archive", "set_status", "delete", "claim", "retry", "run", "purge")


@contextmanager
def failing_writes(after: int, err: int):
    """Every write call (open for writing, write, replace, rename) after the first `after` fails with `err`."""
    real_open, real_write, real_replace, real_rename = os.open, os.write, os.replace, os.rename
    calls = {"n": 0, "failed": 0}

    def tick():
        calls["n"] += 1
        if calls["n"] > after:
            calls["failed"] += 1
            raise OSError(err, os.strerror(err))

    def fake_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            tick()
        return real_open(path, flags, *args, **kwargs)

    def fake_write(fd, data):
        tick()
        return real_write(fd, data)

    def fake_replace(src, dst, **kwargs):
        tick()
        return real_replace(src, dst, **kwargs)

    def fake_rename(src, dst, **kwargs):
        # Moving a file back to where it was a moment ago needs nothing the first move did not:
        # failing it too would test the injector, not the store.
        if not str(src).endswith(".deleting"):
            tick()
        return real_rename(src, dst, **kwargs)

    os.open, os.write, os.replace, os.rename = fake_open, fake_write, fake_replace, fake_rename
    try:
        yield calls
    finally:
        os.open, os.write, os.replace, os.rename = real_open, real_write, real_replace, real_rename


def _operation(name: str, svc: DLQService, target: str, url: str):
    workflow = {"intent": {"name": "disk", "retry": {"max_attempts": 1}},
                "actions": [{"id": "fetch", "type": "http_fetch", "params": {"url": url}}]}
    return {
        "archive": lambda: svc.archive(target),
        "set_status": lambda: svc.set_status(target, "resolved"),
        "delete": lambda: svc.delete(target),
        "claim": lambda: svc.claim(target, f"retry_{uuid.uuid4().hex[:8]}", True),
        "retry": lambda: svc.retry(target, wait=True),
        "run": lambda: svc.run_workflow(workflow),
        "purge": lambda: svc.purge(older_than_days=0),
    }[name]


def _files(dlq: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in dlq.iterdir() if p.is_file()}


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EACCES], ids=["ENOSPC", "EACCES"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_write_failing_at_any_call_is_a_clear_error_and_loses_nothing(tmp_path, figures, operation, err):
    url = closed_port_url()
    for after in range(40):
        root = tmp_path / f"case{after}"
        dlq = root / "state" / "deadletter"
        target, other = write_entries(dlq, 2, url, status="resolved" if operation == "purge" else "active")
        svc = DLQService(Settings(dlq_path=dlq), actor="disk@test")
        svc.list()
        before = _files(dlq)
        audit_before = len(AuditLog(dlq / ".mova" / "audit.jsonl").read().records)
        error = None
        with failing_writes(after, err) as calls:
            try:
                result = _operation(operation, svc, target, url)()
            except MovaError as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001  (what the test is looking for)
                pytest.fail(f"{operation}, write call {after + 1} failing: {type(exc).__name__}: {exc}")
        figures.add("disk_faults", calls["failed"])
        after_files = _files(dlq)
        assert_sound(check_directory(dlq))
        errors = [error] if error is not None else []
        if operation == "purge" and error is None:  # (a purge that could not take its lock stops at once)
            errors += list(result.failed.values())
        for message in errors:
            assert REASONS[err] in message, f"{operation}: unclear error: {message}"
        # Nothing changed that the audit log does not account for: replayed from the statuses before,
        # it ends where each file is (a record written before its change failed is followed by one
        # taking it back), and an entry without records is byte for byte what it was.
        records = AuditLog(dlq / ".mova" / "audit.jsonl").read().records[audit_before:]
        unrecorded = any("could not record that the change was not made" in m for m in errors)
        lost = []
        for entry_id in (target, other):
            name = f"{entry_id}.json"
            own = [r for r in records if r["entry_id"] == entry_id]
            if not own:
                if after_files.get(name) != before[name] and not (operation in ("retry", "claim") and entry_id == target):
                    lost.append(name)
                continue
            status = json.loads(before[name])["status"]
            for rec in own:
                assert rec["old_status"] == status, own
                status = rec["new_status"]
            on_disk = json.loads(after_files[name])["status"] if name in after_files else None
            if status != on_disk and not unrecorded:
                lost.append(name)
        figures.add("disk_lost", len(lost))
        assert lost == [], f"{operation}: changed without a matching audit record: {lost}; {errors}"
        if error is not None:
            if operation == "retry" and "stays retrying" in error:
                # Claimed, but neither the run nor the release could be written: the entry waits,
                # whole, for its lease to expire, and the error says so.
                assert json.loads(after_files[f"{target}.json"])["status"] == "retrying"
            elif operation == "run":
                assert set(after_files) - set(before) <= {"index.sqlite"}, "a failed run left a new entry"
            else:
                assert after_files.get(f"{target}.json") == before[f"{target}.json"], f"{operation}: {error}"
        if calls["failed"] == 0:
            break  # the operation ran to the end without reaching a failing call: all cases covered
    else:
        pytest.fail(f"{operation} made more than 40 write calls")
    assert error is None and (operation != "purge" or sorted(result.removed) == sorted([target, other]))


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                              capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _fill(directory: Path) -> Path:
    """Fill the file system holding `directory` until a write fails; returns the filler file."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for size in (1 << 16, 4096, 512, 1):
            while True:
                try:
                    fh.write(b"\0" * size)
                except OSError:
                    break
    return filler


def test_a_full_file_system_gives_clear_errors_and_keeps_every_entry(tmp_path, figures):
    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt, "2m"):
        pytest.skip("cannot mount a tmpfs here (not root, or no mount permission); the injected faults cover it")
    try:
        dlq = mnt / "state" / "deadletter"
        ids = write_entries(dlq, 8, closed_port_url())
        work = tmp_path / "work"
        work.mkdir()
        workflow = work / "wf.json"
        workflow.write_text(json.dumps({"intent": {"name": "full", "retry": {"max_attempts": 1}},
                                        "actions": [{"id": "f", "type": "http_fetch", "params": {"url": closed_port_url()}}]}))
        env = child_env(dlq)
        assert finish(start("list", mova_command("dlq", "list"), env, work)).returncode == 0  # builds the index
        filler = _fill(mnt)
        before = _files(dlq)
        commands = {
            ids[0]: ["dlq", "archive", ids[0]],
            ids[1]: ["dlq", "delete", ids[1], "--force"],
            ids[2]: ["dlq", "retry", ids[2], "--wait"],
            None: ["run", str(workflow)],
        }
        outcomes = {}
        for target, args in commands.items():
            proc = finish(start("full", mova_command(*args), env, work))
            figures.add("disk_faults")
            assert not bug_lines(proc.stderr), f"{args}: {proc.stderr}"
            assert proc.returncode in (0, 1), (args, proc.returncode, proc.stderr)
            outcomes[args[1] if args[0] == "dlq" else "run"] = proc
            if proc.returncode == 1 and target is not None and args[1] != "retry":
                assert (dlq / f"{target}.json").read_bytes() == before[f"{target}.json"], proc.stderr
        for args in (["dlq", "list"], ["dlq", "list", "--format", "json"], ["dlq", "stats"], ["dlq", "show", ids[3]]):
            proc = finish(start("read", mova_command(*args), env, work))
            assert proc.returncode == 0 and not bug_lines(proc.stderr), (args, proc.stderr)
        untouched = [i for i in ids[3:] if (dlq / f"{i}.json").read_bytes() != before[f"{i}.json"]]
        figures.add("disk_lost", len(untouched))
        assert untouched == []
        filler.unlink()
        # Space again: everything reads, and every operation works.
        assert_sound(check_directory(dlq))
        again = finish(start("archive", mova_command("dlq", "archive", ids[3]), env, work))
        assert again.returncode == 0, again.stderr
        assert json.loads((dlq / f"{ids[3]}.json").read_text())["status"] == "archived"
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, timeout=10)
        if os.path.ismount(mnt):
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=10)


def test_http_shim_answers_503_when_the_disk_is_full(sample_dlq, figures):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from mova_core.http import create_app

    client = TestClient(create_app(Settings(dlq_path=sample_dlq)), raise_server_exceptions=False)
    entry = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"
    client.get("/v1/dlq")  # the index exists before the disk fills
    before = (sample_dlq / f"{entry}.json").read_bytes()
    with failing_writes(0, errno.ENOSPC) as calls:
        answers = [
            client.post(f"/v1/dlq/{entry}/archive"),
            client.put(f"/v1/dlq/{entry}/status", json={"status": "resolved"}),
            client.delete(f"/v1/dlq/{entry}"),
            client.post(f"/v1/dlq/{entry}/retry", json={"sandbox_mode": True}),
        ]
        reads = [client.get(f"/v1/dlq/{entry}"), client.get("/v1/dlq/stats")]
    figures.add("disk_faults", calls["failed"])
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert "the disk is full" in answer.json()["error"]
    assert all(r.status_code == 200 for r in reads)
    assert (sample_dlq / f"{entry}.json").read_bytes() == before
    shutil.rmtree(sample_dlq / ".mova", ignore_errors=True)
