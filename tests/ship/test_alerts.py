"""The PrometheusRule's alerts are valid, fire when they should and stay quiet when they should.

The rules are taken from manifests/components/monitoring/prometheusrule.yaml (.spec.groups),
the one place they are written, and run through `promtool check rules` and `promtool test
rules` with tests/ship/alerts_test.yaml. Also checks labels, annotations, runbook links and that the
expressions only use contract metrics.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .contract import UP, contract_violations, exposed_series

HERE = Path(__file__).resolve().parent
RULES_NAME = "netiso-rules.yaml"
ALERTS = {
    "NetisoPolicyDrift": ("warning", "10m"),
    "NetisoNamespaceNotIsolated": ("warning", "10m"),
    # Judged over a 10-minute window, not a continuous `for` (which a flapping policy resets).
    "NetisoIsolationWeakened": ("warning", None),
    "NetisoReconcileErrors": ("warning", "15m"),
    "NetisoOperatorDown": ("critical", "5m"),
    "NetisoGuardrailsNotInstalled": ("warning", "5m"),
    "NetisoNoLeader": ("critical", "5m"),
    "NetisoOperatorNotReady": ("warning", "15m"),
    "NetisoIsolationNotEnforced": ("critical", "1m"),
    "NetisoDependencyUnresolved": ("warning", "5m"),
}
RUNBOOK_PREFIX = "https://github.com/netiso/netiso/blob/main/docs/runbook.md#"


def load_rules(repo: Path) -> list[dict[str, Any]]:
    """The rule groups of the PrometheusRule manifest, as a Prometheus rules file has them."""
    manifest = yaml.safe_load(
        (repo / "manifests" / "components" / "monitoring" / "prometheusrule.yaml").read_text()
    )
    assert manifest["kind"] == "PrometheusRule"
    groups: list[dict[str, Any]] = manifest["spec"]["groups"]
    return groups


def alert_rules(repo: Path) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in load_rules(repo) for rule in group["rules"]}


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.fixture
def rules_dir(repo: Path, tmp_path: Path) -> Path:
    (tmp_path / RULES_NAME).write_text(yaml.safe_dump({"groups": load_rules(repo)}))
    shutil.copy(HERE / "alerts_test.yaml", tmp_path / "alerts_test.yaml")
    return tmp_path


def run(command: list[str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_rules_pass_promtool_check(promtool: str, rules_dir: Path) -> None:
    result = run([promtool, "check", "rules", RULES_NAME], cwd=rules_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_alerts_fire_and_stay_quiet_as_unit_tests_expect(promtool: str, rules_dir: Path) -> None:
    result = run([promtool, "test", "rules", "alerts_test.yaml"], cwd=rules_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_firing_and_quiet_unit_tests() -> None:
    tests = yaml.safe_load((HERE / "alerts_test.yaml").read_text())
    assert tests["rule_files"] == [RULES_NAME]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing == set(ALERTS)
    assert quiet == set(ALERTS)


def test_every_alert_carries_severity_summary_description_and_runbook(repo: Path) -> None:
    rules = alert_rules(repo)
    assert set(rules) == set(ALERTS)
    for name, (severity, duration) in ALERTS.items():
        rule = rules[name]
        assert rule["labels"]["severity"] == severity, name
        assert rule.get("for") == duration, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert annotations["runbook_url"] == RUNBOOK_PREFIX + name.lower()


def runbook_anchors(repo: Path) -> set[str]:
    runbook = (repo / "docs" / "runbook.md").read_text()
    return {
        github_anchor(line.lstrip("#"))
        for line in runbook.splitlines()
        if re.match(r"^#{2,3} ", line)
    }


def runbook_urls(text: str) -> dict[str, str]:
    """alert name -> runbook_url of every alert rule in a stream of YAML documents."""
    found = {}
    for doc in yaml.safe_load_all(text):
        if not doc or doc.get("kind") != "PrometheusRule":
            continue
        for group in doc["spec"]["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[rule["alert"]] = rule["annotations"]["runbook_url"]
    return found


def chart_monitoring(repo: Path, helm: str, *values: str) -> str:
    """`helm template` of the chart with monitoring on and `values` (each for --set)."""
    sets = [arg for value in ("monitoring.enabled=true", *values) for arg in ("--set", value)]
    chart = str(repo / "charts" / "netiso")
    return subprocess.run(
        [helm, "template", "netiso", chart, "--kube-version", "1.35.4", *sets],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


def test_runbook_urls_land_on_a_runbook_section(repo: Path) -> None:
    anchors = runbook_anchors(repo)
    for name, rule in alert_rules(repo).items():
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor in anchors, f"{name}: docs/runbook.md has no section #{anchor}"


@pytest.mark.parametrize(
    "shipped",
    [
        "manifests/components/monitoring/prometheusrule.yaml",
        "dist/monitoring.yaml",
        "charts/netiso/values.yaml",
    ],
)
def test_every_shipped_runbook_url_is_the_documented_base_and_a_runbook_heading(
    repo: Path, helm: str, shipped: str
) -> None:
    if shipped.startswith("charts/"):
        text = chart_monitoring(repo, helm)
    else:
        text = (repo / shipped).read_text()
    urls = runbook_urls(text)
    assert set(urls) == set(ALERTS), shipped
    anchors = runbook_anchors(repo)
    for name, url in urls.items():
        assert url == RUNBOOK_PREFIX + name.lower(), (shipped, name, url)
        assert name.lower() in anchors, f"{name}: docs/runbook.md has no section #{name.lower()}"


def test_the_chart_points_runbooks_at_another_base(repo: Path, helm: str) -> None:
    base = "https://wiki.example.com/netiso/runbook"
    text = chart_monitoring(repo, helm, f"monitoring.runbookBaseURL={base}")
    assert runbook_urls(text) == {name: f"{base}#{name.lower()}" for name in ALERTS}


def test_alert_expressions_use_only_contract_metrics_and_up(repo: Path) -> None:
    allowed = {**exposed_series(), UP.name: UP}
    for name, rule in alert_rules(repo).items():
        assert contract_violations(rule["expr"], allowed=allowed) == [], name


def test_not_isolated_alert_ignores_dry_run(repo: Path) -> None:
    expr = alert_rules(repo)["NetisoNamespaceNotIsolated"]["expr"]
    assert "dry_run" not in expr
    assert 'state=~"drifted|error|missing_profile"' in expr


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("NetisoPolicyDrift", "netisopolicydrift"),
        ("Blocked DNS (UDP/TCP 53)", "blocked-dns-udptcp-53"),
    ],
)
def test_github_anchor_matches_githubs_slugs(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor
