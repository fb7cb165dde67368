"""Metrics show per-namespace series only while something is wrong, and counts always."""

from __future__ import annotations

from netiso.observed.drifts import Drift, DriftReason, PolicyWrite, Verb
from netiso.observed.entries import NamespaceState, Record
from netiso.reporting.metrics import Metrics, Repairing


class Shown:
    """Metrics over records the test sets, as the Reporter's are read at scrape time."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.repairing: dict[str, Repairing] = {}
        self.metrics = Metrics(version="test")
        self.metrics.collect_namespaces(
            records=lambda: self.records, repairing=lambda: self.repairing
        )

    def sample(self, name: str, **labels: str) -> float | None:
        return sample(self.metrics, name, **labels)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    value = metrics.registry.get_sample_value(name, labels)
    return value


def test_drifted_namespace_has_series_until_it_is_in_sync_again() -> None:
    shown = Shown()
    drift = Drift("team-a", "netiso-default-deny", DriftReason.MODIFIED)
    shown.records["team-a"] = Record(
        profile="base", state=NamespaceState.DRIFTED, drifts=frozenset({drift})
    )
    labels = {"namespace": "team-a", "profile": "base", "policy": "netiso-default-deny"}
    assert shown.sample("netiso_policy_drift", **labels, reason="modified") == 1
    out_of_sync = {"namespace": "team-a", "profile": "base", "state": "drifted"}
    assert shown.sample("netiso_namespace_out_of_sync", **out_of_sync) == 1
    assert shown.sample("netiso_namespaces", profile="base", state="drifted") == 1

    shown.records["team-a"] = Record(profile="base", state=NamespaceState.ISOLATED)
    assert shown.sample("netiso_policy_drift", **labels, reason="modified") is None
    assert shown.sample("netiso_namespace_out_of_sync", **out_of_sync) is None
    # The count reached 0 and describes nothing live: the series is gone, not left at 0.
    assert shown.sample("netiso_namespaces", profile="base", state="drifted") is None
    assert shown.sample("netiso_namespaces", profile="base", state="isolated") == 1


def test_a_repair_under_way_shows_the_drift_until_it_is_reported() -> None:
    shown = Shown()
    shown.records["team-a"] = Record(profile="base", state=NamespaceState.ISOLATED)
    drift = Drift("team-a", "netiso-default-deny", DriftReason.MISSING)
    shown.repairing["team-a"] = Repairing(profile="base", drifts=frozenset({drift}))
    labels = {"namespace": "team-a", "profile": "base", "policy": "netiso-default-deny"}
    assert shown.sample("netiso_policy_drift", **labels, reason="missing") == 1
    assert shown.sample("netiso_namespaces", profile="base", state="drifted") == 1
    assert shown.sample("netiso_namespaces", profile="base", state="isolated") is None
    del shown.repairing["team-a"]
    assert shown.sample("netiso_policy_drift", **labels, reason="missing") is None
    assert shown.sample("netiso_namespaces", profile="base", state="isolated") == 1


def test_healthy_namespaces_cost_no_per_namespace_series() -> None:
    shown = Shown()
    for index in range(1000):
        shown.records[f"ns-{index}"] = Record(profile="base", state=NamespaceState.ISOLATED)
    exposition = shown.metrics.exposition().decode()
    assert "ns-1" not in exposition
    assert shown.sample("netiso_namespaces", profile="base", state="isolated") == 1000


def test_forgetting_a_namespace_removes_its_series_and_count() -> None:
    shown = Shown()
    shown.records["gone"] = Record(profile="p", state=NamespaceState.MISSING_PROFILE)
    assert "gone" in shown.metrics.exposition().decode()
    # The profile a namespace names but that does not exist never becomes a label value.
    assert shown.sample("netiso_namespaces", profile="p", state="missing_profile") is None
    assert shown.sample("netiso_namespaces", profile="unknown", state="missing_profile") == 1
    del shown.records["gone"]
    assert "gone" not in shown.metrics.exposition().decode()
    assert shown.sample("netiso_namespaces", profile="unknown", state="missing_profile") is None


def test_moving_to_another_profile_moves_drift_series() -> None:
    shown = Shown()
    drift = frozenset({Drift("ns", "netiso-allow-dns-egress", DriftReason.MISSING)})
    shown.records["ns"] = Record(profile="a", state=NamespaceState.DRIFTED, drifts=drift)
    shown.records["ns"] = Record(profile="b", state=NamespaceState.DRIFTED, drifts=drift)
    labels = {"namespace": "ns", "policy": "netiso-allow-dns-egress", "reason": "missing"}
    assert shown.sample("netiso_policy_drift", profile="a", **labels) is None
    assert shown.sample("netiso_policy_drift", profile="b", **labels) == 1


def test_dry_run_pending_changes_are_summed_per_profile_and_action() -> None:
    shown = Shown()

    def dry_run(*verbs: Verb) -> Record:
        pending = tuple(PolicyWrite(verb=verb, name=f"p{i}") for i, verb in enumerate(verbs))
        return Record(profile="p", state=NamespaceState.DRY_RUN, pending=pending)

    shown.records["a"] = dry_run(Verb.CREATE, Verb.CREATE)
    shown.records["b"] = dry_run(Verb.CREATE, Verb.DELETE)
    assert shown.sample("netiso_dry_run_pending_changes", profile="p", action="create") == 3
    shown.records["a"] = dry_run()
    assert shown.sample("netiso_dry_run_pending_changes", profile="p", action="create") == 1
    shown.records["b"] = dry_run()
    assert shown.sample("netiso_dry_run_pending_changes", profile="p", action="create") is None


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
