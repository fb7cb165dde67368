"""Metrics show per-namespace series only while something is wrong, and counts always."""

from __future__ import annotations

from netiso.observed.drifts import Drift, DriftReason
from netiso.reporting.metrics import Metrics, NamespaceView


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    value = metrics.registry.get_sample_value(name, labels)
    return value


def test_drifted_namespace_has_series_until_it_is_in_sync_again() -> None:
    metrics = Metrics(version="test")
    drifted = NamespaceView(
        profile="base",
        state="drifted",
        drifts=frozenset({Drift("team-a", "netiso-default-deny", DriftReason.MODIFIED)}),
    )
    metrics.show_namespace("team-a", drifted)
    drift = {"namespace": "team-a", "profile": "base", "policy": "netiso-default-deny"}
    assert sample(metrics, "netiso_policy_drift", **drift, reason="modified") == 1
    assert (
        sample(
            metrics,
            "netiso_namespace_out_of_sync",
            namespace="team-a",
            profile="base",
            state="drifted",
        )
        == 1
    )
    assert sample(metrics, "netiso_namespaces", profile="base", state="drifted") == 1

    metrics.show_namespace("team-a", NamespaceView(profile="base", state="isolated"))
    assert sample(metrics, "netiso_policy_drift", **drift, reason="modified") is None
    assert (
        sample(
            metrics,
            "netiso_namespace_out_of_sync",
            namespace="team-a",
            profile="base",
            state="drifted",
        )
        is None
    )
    # The count reached 0 and describes nothing live: the series is gone, not left at 0.
    assert sample(metrics, "netiso_namespaces", profile="base", state="drifted") is None
    assert sample(metrics, "netiso_namespaces", profile="base", state="isolated") == 1


def test_healthy_namespaces_cost_no_per_namespace_series() -> None:
    metrics = Metrics(version="test")
    for index in range(1000):
        metrics.show_namespace(f"ns-{index}", NamespaceView(profile="base", state="isolated"))
    exposition = metrics.exposition().decode()
    assert "ns-1" not in exposition
    assert sample(metrics, "netiso_namespaces", profile="base", state="isolated") == 1000


def test_forgetting_a_namespace_removes_its_series_and_count() -> None:
    metrics = Metrics(version="test")
    metrics.show_namespace("gone", NamespaceView(profile="p", state="missing_profile"))
    metrics.show_namespace("gone", None)
    assert "gone" not in metrics.exposition().decode()
    assert sample(metrics, "netiso_namespaces", profile="p", state="missing_profile") is None


def test_moving_to_another_profile_moves_drift_series() -> None:
    metrics = Metrics(version="test")
    drift = frozenset({Drift("ns", "netiso-allow-dns-egress", DriftReason.MISSING)})
    metrics.show_namespace("ns", NamespaceView(profile="a", state="drifted", drifts=drift))
    metrics.show_namespace("ns", NamespaceView(profile="b", state="drifted", drifts=drift))
    labels = {"namespace": "ns", "policy": "netiso-allow-dns-egress", "reason": "missing"}
    assert sample(metrics, "netiso_policy_drift", profile="a", **labels) is None
    assert sample(metrics, "netiso_policy_drift", profile="b", **labels) == 1


def test_dry_run_pending_changes_are_summed_per_profile_and_action() -> None:
    metrics = Metrics(version="test")
    metrics.show_pending("a", "p", ["create", "create"])
    metrics.show_pending("b", "p", ["create", "delete"])
    assert sample(metrics, "netiso_dry_run_pending_changes", profile="p", action="create") == 3
    metrics.show_pending("a", "p", [])
    assert sample(metrics, "netiso_dry_run_pending_changes", profile="p", action="create") == 1
    metrics.show_pending("b", "p", [])
    assert sample(metrics, "netiso_dry_run_pending_changes", profile="p", action="create") is None


def test_requests_reconciles_and_drift_counters() -> None:
    metrics = Metrics(version="1.2.3")
    metrics.observe_request("apply", "200")
    metrics.observe_request("apply", "200")
    metrics.observe_reconcile(result="changed", seconds=0.02)
    metrics.count_drifts(profile="p", reasons=["missing", "missing", "modified"])
    metrics.count_repairs(profile="p", repaired=2)
    assert sample(metrics, "netiso_api_requests_total", verb="apply", code="200") == 2
    assert sample(metrics, "netiso_reconcile_total", result="changed") == 1
    assert sample(metrics, "netiso_reconcile_duration_seconds_count") == 1
    assert sample(metrics, "netiso_drift_detected_total", profile="p", reason="missing") == 2
    assert sample(metrics, "netiso_drift_repaired_total", profile="p") == 2
    assert sample(metrics, "netiso_build_info", version="1.2.3") == 1


def test_process_series_are_exported_and_created_series_are_not() -> None:
    text = Metrics(version="test").exposition().decode()
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names
    assert not any(name.endswith("_created") for name in names)
