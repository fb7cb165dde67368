"""The Grafana dashboard queries only contract metrics and shows what operators need.

Reads manifests/components/monitoring/grafana/netiso-dashboard.json, scans every panel query
and template variable with the contract's PromQL scanner, and checks the panels the issue asks
for exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .contract import (
    METRICS,
    PROCESS_METRICS,
    SCRAPE_LABELS,
    contract_violations,
    exposed_series,
    scan_promql,
)

Obj = dict[str, Any]
DASHBOARD = Path("manifests/components/monitoring/grafana/netiso-dashboard.json")


@pytest.fixture(scope="module")
def dashboard(repo: Path) -> Obj:
    loaded: Obj = json.loads((repo / DASHBOARD).read_text())
    return loaded


def panels(container: Obj) -> Iterator[Obj]:
    """Every panel, including those nested in collapsed rows."""
    for panel in container.get("panels", []):
        yield panel
        yield from panels(panel)


def queries(dashboard: Obj) -> list[str]:
    return [
        target["expr"]
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def test_panel_queries_use_only_contract_metrics(dashboard: Obj) -> None:
    found = queries(dashboard)
    assert found
    allowed = {**exposed_series(), **PROCESS_METRICS}
    for expr in found:
        assert contract_violations(expr, allowed=allowed) == [], expr


def test_template_variables_use_only_contract_metrics(dashboard: Obj) -> None:
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = re.fullmatch(r"label_values\((?P<metric>\w+),\s*(?P<label>\w+)\)", text)
        assert match is not None, f"unexpected variable query {text!r}"
        metric = METRICS[match.group("metric")]
        assert match.group("label") in set(metric.labels) | SCRAPE_LABELS


def test_dashboard_shows_what_the_issue_asks_for(dashboard: Obj) -> None:
    scans = [(expr, scan_promql(expr)) for expr in queries(dashboard)]

    def uses(metric: str, *, grouped_by: set[str] | None = None) -> list[str]:
        return [
            expr
            for expr, scan in scans
            if metric in scan.metrics and (grouped_by is None or grouped_by <= scan.grouping)
        ]

    assert uses("netiso_namespaces", grouped_by={"state"}), "namespaces by state"
    assert uses("netiso_policy_drift"), "drift over time"
    assert uses("netiso_drift_detected_total"), "drift detections"
    latency = uses("netiso_reconcile_duration_seconds_bucket", grouped_by={"le"})
    assert any(expr.startswith("histogram_quantile(0.5,") for expr in latency), "p50"
    assert any(expr.startswith("histogram_quantile(0.99,") for expr in latency), "p99"
    assert uses("netiso_api_requests_total", grouped_by={"verb", "code"}), "API requests"
    assert uses("netiso_queue_depth"), "queue depth"
    assert uses("process_cpu_seconds_total"), "operator CPU"
    assert uses("process_resident_memory_bytes"), "operator memory"
    assert uses("netiso_dependency_unresolved", grouped_by={"profile", "reason"}), "dependencies"


def test_every_query_goes_to_the_selected_data_source(dashboard: Obj) -> None:
    names = [variable["name"] for variable in dashboard["templating"]["list"]]
    assert "datasource" in names
    ids = []
    for panel in panels(dashboard):
        ids.append(panel["id"])
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_dashboard_ships_in_the_install_as_a_sidecar_config_map(
    monitored: list[Obj], dashboard: Obj
) -> None:
    (config_map,) = [
        obj
        for obj in monitored
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "netiso-grafana-dashboard"
    ]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["netiso-dashboard.json"]) == dashboard
