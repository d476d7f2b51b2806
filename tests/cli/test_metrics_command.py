"""`mova dlq metrics`: the same text as GET /metrics, printed or written atomically for node_exporter."""

from __future__ import annotations

import os
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from mova_tui.cli.main import app
from tests.support import ROOT


def test_prints_the_exposition_and_writes_a_textfile(sample_dlq, tmp_path):
    runner = CliRunner()
    printed = runner.invoke(app, ["--dlq-path", str(sample_dlq), "dlq", "metrics"])
    assert printed.exit_code == 0, printed.output
    names = {f.name for f in text_string_to_metric_families(printed.stdout)}
    assert {"dlq_entries_total", "dlq_retry_attempts", "workflow_retry_duration_seconds"} <= names  # a counter loses _total
    target = tmp_path / "textfile" / "mova.prom"
    target.parent.mkdir()
    target.write_text("old contents\n")
    written = runner.invoke(app, ["--dlq-path", str(sample_dlq), "dlq", "metrics", "--textfile", str(target)])
    assert written.exit_code == 0, written.output
    text = target.read_text()
    assert 'dlq_entries_total{status="active"} 11.0' in text and "old contents" not in text
    assert [p.name for p in target.parent.iterdir()] == ["mova.prom"]  # no temporary file left


def test_a_textfile_in_a_missing_directory_is_refused(sample_dlq, tmp_path):
    result = CliRunner().invoke(app, ["--dlq-path", str(sample_dlq), "dlq", "metrics", "--textfile",
                                      str(tmp_path / "absent" / "mova.prom")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_without_prometheus_client_it_says_which_extra_to_install(sample_dlq, tmp_path):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "prometheus_client.py").write_text("raise ImportError('blocked for the test')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker), "MOVA_DLQ_PATH": str(sample_dlq)}
    proc = subprocess.run([sys.executable, "-c", "from mova_tui.cli.main import run; run()", "dlq", "metrics"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "mova[http]" in proc.stderr
