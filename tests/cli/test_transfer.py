"""`mova dlq import DIR` and `mova dlq export --to-dir DIR`, through the real command line."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tests.support import GO_ENTRY, ROOT, SAMPLE_DLQ

ONE = "dlq_1d6f08b3-9a4e-4e27-8c15-f0b7a3e6d249"


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.json"))}


def test_import_then_export_gives_the_sample_back_byte_for_byte(cli, tmp_path):
    queue, back = tmp_path / "queue", tmp_path / "back"
    result = cli("--dlq-path", str(queue), "dlq", "import", str(SAMPLE_DLQ))
    assert result.exit_code == 0, result.output
    assert f"imported 16 entries from {SAMPLE_DLQ}: 0 already present, 0 conflicts, 0 skipped" in result.stderr
    result = cli("--dlq-path", str(queue), "dlq", "export", "--to-dir", str(back))
    assert result.exit_code == 0, result.output
    assert f"exported 16 entries to {back}" in result.stderr
    assert files_of(back) == files_of(SAMPLE_DLQ)


def test_importing_twice_adds_nothing_and_says_so_in_json(cli, tmp_path):
    queue = tmp_path / "queue"
    cli("--dlq-path", str(queue), "dlq", "import", str(SAMPLE_DLQ))
    result = cli("--dlq-path", str(queue), "dlq", "import", str(SAMPLE_DLQ), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"directory": str(SAMPLE_DLQ), "dry_run": False, "imported": 0,
                                         "already_present": 16, "conflicts": [], "skipped": []}
    assert len(files_of(queue)) == 16


def test_a_dry_run_says_what_it_would_import(cli, tmp_path):
    queue = tmp_path / "queue"
    result = cli("--dlq-path", str(queue), "dlq", "import", str(SAMPLE_DLQ), "--dry-run")
    assert result.exit_code == 0 and "would import 16 entries" in result.stderr
    assert not files_of(queue)


def test_conflicts_and_broken_files_are_named_and_exit_1(cli, sample_dlq, tmp_path):
    queue = tmp_path / "queue"
    cli("--dlq-path", str(queue), "dlq", "import", str(SAMPLE_DLQ))
    doc = json.loads((sample_dlq / f"{ONE}.json").read_text())
    (sample_dlq / f"{ONE}.json").write_text(json.dumps({**doc, "status": "archived"}))
    (sample_dlq / "dlq_torn.json").write_text('{"id": ')
    (sample_dlq / "dlq_\x1b[2Jwiped.json").write_text("{}")  # a hostile name reaches no terminal as is

    result = cli("--dlq-path", str(queue), "dlq", "import", str(sample_dlq))
    assert result.exit_code == 1
    assert f"warning: conflict {ONE}: the store holds different content for this id (left as it is)" in result.stderr
    assert "warning: skipped dlq_torn.json: not valid JSON" in result.stderr
    assert "\x1b" not in result.stderr and "wiped.json" in result.stderr
    assert "imported 0 entries" in result.stderr and "15 already present, 1 conflict, 2 skipped" in result.stderr
    assert json.loads((queue / f"{ONE}.json").read_text())["status"] == doc["status"]

    as_json = json.loads(cli("--dlq-path", str(queue), "dlq", "import", str(sample_dlq), "--format", "json").stdout)
    assert as_json["conflicts"] == [{"id": ONE, "reason": "the store holds different content for this id"}]
    assert sorted(s["name"] for s in as_json["skipped"]) == ["dlq_\x1b[2Jwiped.json", "dlq_torn.json"]


def test_an_empty_directory_imports_nothing_and_a_missing_one_is_a_usage_error(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("--dlq-path", str(tmp_path / "queue"), "dlq", "import", str(tmp_path / "empty"))
    assert result.exit_code == 0 and "imported 0 entries" in result.stderr
    result = cli("--dlq-path", str(tmp_path / "queue"), "dlq", "import", str(tmp_path / "missing"))
    assert result.exit_code == 2 and "not a directory" in result.stderr


def test_export_to_dir_refusals_are_usage_errors_and_write_nothing(cli, dlq, tmp_path):
    out = tmp_path / "out"
    assert cli("dlq", "export", "--to-dir", str(out), "--status", "archived").exit_code == 0
    assert len(files_of(out)) == 2
    result = cli("dlq", "export", "--to-dir", str(out))
    assert result.exit_code == 2 and "already holds entry files; give --overwrite" in result.stderr
    result = cli("dlq", "export", "--to-dir", str(tmp_path / "other"), "--format", "csv")
    assert result.exit_code == 2 and "does not take --format" in result.stderr
    result = cli("dlq", "export", "--overwrite")
    assert result.exit_code == 2 and "--overwrite goes with --to-dir" in result.stderr
    result = cli("dlq", "export", "--to-dir", str(dlq), "--overwrite")
    assert result.exit_code == 2 and "own directory" in result.stderr
    assert not (tmp_path / "other").exists() and len(files_of(out)) == 2
    assert cli("dlq", "export", "--to-dir", str(out), "--overwrite").exit_code == 0
    assert files_of(out) == files_of(SAMPLE_DLQ)


def test_the_go_engine_file_moves_through_real_processes(mova, tmp_path):
    source, queue, back = tmp_path / "go", tmp_path / "queue", tmp_path / "back"
    source.mkdir()
    name = json.loads(GO_ENTRY.read_text())["id"] + ".json"
    shutil.copyfile(GO_ENTRY, source / name)
    result = mova("--dlq-path", str(queue), "dlq", "import", str(source))
    assert result.returncode == 0, result.stderr
    result = mova("--dlq-path", str(queue), "dlq", "export", "--to-dir", str(back))
    assert result.returncode == 0, result.stderr
    assert (back / name).read_bytes() == GO_ENTRY.read_bytes()


def test_the_readme_example_works_on_a_copy_of_the_sample(sh, tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"\*\*Moving a queue.*?```bash\n(.*?)```", readme, re.S)
    assert block, "the README's import/export example"
    script = block.group(1).replace("/tmp/", f"{tmp_path}/").replace("cp -r sample_state", f"cp -r {ROOT}/sample_state")
    result = sh("set -e\n" + script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "identical" in result.stdout
    assert files_of(tmp_path / "mova-back") == files_of(SAMPLE_DLQ)


def test_a_large_import_shows_the_progress_bar_on_a_terminal(tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from mova_core.ops.service import build_service
    from mova_tui.cli import output, state

    class FakeTTY(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = FakeTTY()
    monkeypatch.setattr("sys.stderr", screen)
    monkeypatch.setattr(state, "PROGRESS_MIN_FILES", 10)  # the sample's 16 files count as large here
    monkeypatch.setattr(output, "console", lambda err=False: Console(file=screen, force_terminal=True, width=80))
    with state.stderr_progress("importing") as progress:
        build_service(str(tmp_path / "queue")).import_dir(SAMPLE_DLQ, progress=progress)
    assert "importing entries" in screen.getvalue() and "16/16" in screen.getvalue()
