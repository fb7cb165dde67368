"""The PromQL scanner in contract.py finds what the dashboard and alert checks rely on.

Table-driven: metric names, grouping labels and matcher problems it must and must not report.
"""

from __future__ import annotations

import pytest

from .contract import METRICS, UP, contract_violations, exposed_series, scan_promql

ALLOWED = {**exposed_series(), UP.name: UP}


@pytest.mark.parametrize(
    ("expr", "metrics", "grouping"),
    [
        (
            "sum by (verb, code) (rate(netiso_api_requests_total[5m]))",
            {"netiso_api_requests_total"},
            {"verb", "code"},
        ),
        (
            "histogram_quantile(0.99, sum by (le) "
            '(rate(netiso_reconcile_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))',
            {"netiso_reconcile_duration_seconds_bucket"},
            {"le"},
        ),
        ('absent(up{job="netiso-metrics"} == 1)', {"up"}, set()),
        ("count(netiso_policy_drift) or vector(0)", {"netiso_policy_drift"}, set()),
        (
            "max without (instance) (netiso_queue_depth) / on (job) netiso_ready",
            {"netiso_queue_depth", "netiso_ready"},
            {"instance", "job"},
        ),
    ],
)
def test_scan_finds_metrics_and_grouping(expr: str, metrics: set[str], grouping: set[str]) -> None:
    scan = scan_promql(expr)
    assert scan.metrics == metrics
    assert scan.grouping == grouping


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        (
            "rate(netiso_reconcile_errors_total[5m])",
            "unknown metric 'netiso_reconcile_errors_total'",
        ),
        ('netiso_policy_drift{reson="missing"}', "netiso_policy_drift has no label 'reson'"),
        (
            'netiso_namespace_out_of_sync{state=~"drifted|broken"}',
            "netiso_namespace_out_of_sync{state} has no value 'broken'",
        ),
        (
            'netiso_reconcile_total{result="failed"}',
            "netiso_reconcile_total{result} has no value 'failed'",
        ),
        ("sum by (pod_name) (netiso_queue_depth)", "groups by unknown label 'pod_name'"),
        ("vector(1)", "no metric at all"),
    ],
)
def test_violations_are_reported(expr: str, problem: str) -> None:
    assert problem in contract_violations(expr, allowed=ALLOWED)


def test_contract_queries_pass() -> None:
    assert (
        contract_violations(
            'sum by (state) (netiso_namespaces{state!="protected", job=~".+"})', allowed=ALLOWED
        )
        == []
    )


def test_histogram_series_and_counters_are_exposed_as_prometheus_client_names_them() -> None:
    series = exposed_series()
    assert "netiso_reconcile_duration_seconds_bucket" in series
    assert "netiso_reconcile_duration_seconds" not in series
    assert all(name.endswith("_total") for name, m in METRICS.items() if m.kind == "counter")
