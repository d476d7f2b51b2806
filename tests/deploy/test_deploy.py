"""deploy/: the alerting rules pass promtool's check and unit tests, the scrape example is a valid
configuration, and every PromQL expression of the Grafana dashboard parses and names only metrics
that mova exports (compared with the exposition of a real run)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mova_core.ops.service import DLQService
from mova_core.settings import Settings
from tests.support import ROOT

DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "mova-alerts.rules.yml"
DASHBOARD = DEPLOY / "grafana" / "mova-dlq.json"
#: Grafana's variables, replaced by values promtool can parse.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "1d", "$__interval": "1m", "$instance": ".*"}
METRIC_NAME = re.compile(r"\b((?:dlq|workflow)_[a-z0-9_]+)\b")
#: What names labels, not metrics: `by (...)` clauses and `{...}` selectors.
LABEL_PARTS = re.compile(r"\b(?:by|without)\s*\([^)]*\)|\{[^}]*\}")


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package for it")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def run(promtool: str, *args: str) -> str:
    proc = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def exported_names(tmp_path: Path) -> set[str]:
    """Every sample name of a real exposition (histograms with their _bucket, _sum and _count)."""
    dlq = tmp_path / "deadletter"
    shutil.copytree(ROOT / "sample_state" / "deadletter", dlq, ignore=shutil.ignore_patterns(".mova"))
    with DLQService(Settings(dlq_path=dlq)) as svc:
        text = svc.metrics_text()
    return {re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0) for line in text.splitlines()
            if line and not line.startswith("#")}


def dashboard_expressions() -> list[tuple[str, str]]:
    """(panel title, expression) of every query of the dashboard, Grafana's variables replaced."""
    out = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(name, value)
            assert "$" not in expr, (panel["title"], expr)
            out.append((panel["title"], expr))
    return out


def test_the_alerting_rules_pass_promtools_check(promtool):
    assert "SUCCESS: 4 rules found" in run(promtool, "check", "rules", str(RULES))


def test_each_alert_fires_and_resolves_in_promtools_unit_tests(promtool):
    tests = DEPLOY / "prometheus" / "tests" / "mova-alerts.test.yml"
    doc = yaml.safe_load(tests.read_text())
    tested = {t["alertname"] for case in doc["tests"] for t in case["alert_rule_test"]}
    rules = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert tested == rules == {"MovaDLQGrowthHigh", "MovaRetryFailureRateHigh", "MovaSandboxRetryLongRunning",
                               "MovaDLQEntryTooOld"}
    for name in rules:  # each one is seen firing and then not firing
        checks = [t for case in doc["tests"] for t in case["alert_rule_test"] if t["alertname"] == name]
        assert any(t["exp_alerts"] for t in checks) and any(not t["exp_alerts"] for t in checks), name
    assert "SUCCESS" in run(promtool, "test", "rules", str(tests))


def test_the_scrape_example_is_a_valid_configuration(promtool):
    assert "is valid prometheus config file syntax" in run(promtool, "check", "config",
                                                           str(DEPLOY / "prometheus" / "scrape.yml"))


def test_the_dashboard_has_the_specifications_four_panels_and_the_alerts():
    titles = [p["title"] for p in json.loads(DASHBOARD.read_text())["panels"]]
    for wanted in ("DLQ entry trends", "Retry success / failure rate", "Top failing workflow types",
                   "Average time to resolution"):
        assert wanted in titles
    assert sum(1 for t in titles if t.startswith(("Growth", "Retry failure rate", "Longest running", "Oldest"))) == 4


def test_every_dashboard_expression_parses_and_names_exported_metrics(promtool, tmp_path):
    exprs = dashboard_expressions()
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"mova:dashboard_query_{n}", "expr": expr} for n, (_, expr) in enumerate(exprs)]}]}
    path = tmp_path / "dashboard-queries.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    assert f"SUCCESS: {len(exprs)} rules found" in run(promtool, "check", "rules", str(path))
    exported = exported_names(tmp_path)
    alert_exprs = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    for title, expr in [*exprs, *(("rules", e) for e in alert_exprs)]:
        used = set(METRIC_NAME.findall(LABEL_PARTS.sub(" ", expr)))
        assert used, (title, expr)
        assert used <= exported, (title, sorted(used - exported))
