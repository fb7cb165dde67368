"""Prometheus metrics on netiso's own registry, with bounded cardinality.

Reporting layer. Events (requests, reconciles, drift detected and repaired) are counters and
histograms bumped as they happen. How namespaces stand is read from the Reporter's current
records at scrape time by a custom collector (`NamespaceCollector`): per-namespace series only
for namespaces that are drifted, errored, missing their profile or in DryRun; everything else
is counted per profile, so 10,000 healthy namespaces cost a handful of series. Built in the
startup handler, never at import.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from netiso.model.enforcement import EnforcementState
from netiso.model.guardrails import Violation
from netiso.observed.drifts import Drift
from netiso.observed.entries import NamespaceState, Record
from netiso.reporting.resolutions import TRACKED_REASONS

CONTENT_TYPE = CONTENT_TYPE_LATEST
# The profile label of series about namespaces whose profile does not exist: the name in a
# namespace's label is anybody's to choose, and must not mint series.
UNKNOWN_PROFILE = "unknown"

NAMESPACE_STATES = (
    "isolated",
    "excepted",
    "drifted",
    "dry_run",
    "error",
    "missing_profile",
    "protected",
)
ENFORCEMENT_STATES = tuple(str(state) for state in EnforcementState)
DEPENDENCY_REASONS = tuple(str(reason) for reason in TRACKED_REASONS)
RECONCILE_RESULTS = ("unchanged", "changed", "error", "skipped")
# States that deserve a per-namespace series: someone should look at this namespace.
# An excepted namespace gets one: exceptions are the platform's, but never silent.
OUT_OF_SYNC_STATES = frozenset(
    {
        NamespaceState.EXCEPTED,
        NamespaceState.DRIFTED,
        NamespaceState.DRY_RUN,
        NamespaceState.ERROR,
        NamespaceState.MISSING_PROFILE,
    }
)


def series_profile(record: Record) -> str:
    """The profile label of a namespace's series: its profile, unless that does not exist."""
    if not record.profile or record.state == NamespaceState.MISSING_PROFILE:
        return UNKNOWN_PROFILE
    return record.profile


@dataclass(frozen=True)
class Repairing:
    """A namespace whose drift is being repaired right now: shown drifted until the reconcile
    is reported, so even a quick repair is visible."""

    profile: str
    drifts: frozenset[Drift]


class Metrics:
    """Every netiso metric. One instance per operator process."""

    def __init__(self, *, version: str) -> None:
        # `_created` series double every counter's series count and nothing here reads them.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # The standard process_* and python_info series: CPU, memory, open files of the
        # operator itself, for the dashboard and for capacity alerts.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.drift_detected = PromCounter(
            "netiso_drift_detected_total",
            "Drifted managed policies detected.",
            ["profile", "reason"],
            registry=r,
        )
        self.repair_unconverged = PromCounter(
            "netiso_repair_not_converged_total",
            "Writes whose result still differed from the rendering (something changes the "
            "policy on every write).",
            ["profile"],
            registry=r,
        )
        self.drift_repaired = PromCounter(
            "netiso_drift_repaired_total",
            "Drifted managed policies repaired.",
            ["profile"],
            registry=r,
        )
        self.reconciles = PromCounter(
            "netiso_reconcile_total",
            "Namespace reconciles by result.",
            ["result"],
            registry=r,
        )
        # Every result starts at 0 so rate() sees the first error after a restart.
        for result in RECONCILE_RESULTS:
            self.reconciles.labels(result=result)
        self.reconcile_seconds = Histogram(
            "netiso_reconcile_duration_seconds",
            "Time to reconcile one namespace, API writes included.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.api_requests = PromCounter(
            "netiso_api_requests_total",
            "Requests netiso sent to the API server, by verb and HTTP code.",
            ["verb", "code"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "netiso_queue_depth", "Namespaces waiting to be reconciled.", registry=r
        )
        self.ready = Gauge("netiso_ready", "1 once the initial reconcile has finished.", registry=r)
        self.leader = Gauge(
            "netiso_leader",
            "1 while this replica holds a leader election Lease (and writes), 0 on a standby.",
            registry=r,
        )
        # Only with NETISO_SHARDS > 1: which shards this replica leads.
        self.shard_leader = Gauge(
            "netiso_shard_leader",
            "1 while this replica leads the shard (only with NETISO_SHARDS above 1).",
            ["shard"],
            registry=r,
        )
        self.lease_requests = PromCounter(
            "netiso_lease_requests_total",
            "Requests for the leader election Leases, by verb and HTTP code (renewals are "
            "updates); not in netiso_api_requests_total.",
            ["verb", "code"],
            registry=r,
        )
        # The admission keeper (admission/keeper.py); no series with NETISO_ADMISSION=off.
        # One series per object netiso owns, named: the six policies, five bindings and one
        # binding per profile, so cardinality follows the profiles (as netiso_namespaces does)
        # and the alert names the object that is missing or changed.
        self.guardrail_installed = Gauge(
            "netiso_guardrail_installed",
            "1 while a ValidatingAdmissionPolicy or binding netiso owns is present and as "
            "rendered, 0 while it is missing, changed or cannot be written.",
            ["kind", "name"],
            registry=r,
        )
        self.enforcement = Gauge(
            "netiso_enforcement",
            "1 for the state the profile's last enforcement probe round concluded (enforced, "
            "not-enforced, inconclusive, unavailable), 0 for the others; only for profiles "
            "with spec.enforcementProbe enabled.",
            ["profile", "state"],
            registry=r,
        )
        # The dependency tracker (tracking/tracker.py): one series per profile and tracked
        # reason (reporting/resolutions.py), so cardinality follows the profiles.
        self.dependency_unresolved = Gauge(
            "netiso_dependency_unresolved",
            "1 while the profile depends on something the cluster does not provide, by reason "
            "(DnsNoReadyEndpoint: its DNS selector matches no ready endpoint of the DNS Service; "
            "GatewayMatchesNothing, MonitoringMatchesNothing: no running pod matches; ...), "
            "0 for the other reasons; the DependenciesResolved condition says the same.",
            ["profile", "reason"],
            registry=r,
        )
        build = Gauge("netiso_build_info", "netiso version.", ["version"], registry=r)
        build.labels(version=version).set(1)
        self._drift_reasons: dict[str, set[str]] = {}

    def collect_namespaces(
        self,
        *,
        records: Callable[[], Mapping[str, Record]],
        repairing: Callable[[], Mapping[str, Repairing]],
    ) -> None:
        """Export how namespaces stand from `records()` (and `repairing()`), read at every
        scrape; called once, by the Reporter that keeps them."""
        self.registry.register(NamespaceCollector(records=records, repairing=repairing))

    def observe_request(self, verb: str, code: str) -> None:
        """Count one API request attempt."""
        self.api_requests.labels(verb=verb, code=code).inc()

    def observe_lease_request(self, verb: str, code: str) -> None:
        """Count one leader election request attempt."""
        self.lease_requests.labels(verb=verb, code=code).inc()

    def observe_reconcile(self, *, result: str, seconds: float) -> None:
        """Count one reconcile and its duration."""
        self.reconciles.labels(result=result).inc()
        self.reconcile_seconds.observe(seconds)

    def count_drifts(self, *, profile: str, reasons: Iterable[str]) -> None:
        """Count newly detected drift, one per drifted policy."""
        for reason in reasons:
            self._drift_reasons.setdefault(profile, set()).add(reason)
            self.drift_detected.labels(profile=profile, reason=reason).inc()

    def count_repairs(self, *, profile: str, repaired: int) -> None:
        """Count drifted policies put back."""
        if repaired:
            self.drift_repaired.labels(profile=profile).inc(repaired)

    def count_unconverged(self, *, profile: str) -> None:
        """Count a repair that did not take."""
        self.repair_unconverged.labels(profile=profile or UNKNOWN_PROFILE).inc()

    def forget_profile(self, profile: str) -> None:
        """The profile is gone: its counters describe nothing live any more."""
        for counter, labels in (
            (self.drift_repaired, (profile,)),
            (self.repair_unconverged, (profile,)),
        ):
            self._remove(counter, *labels)
        for reason in tuple(self._drift_reasons.pop(profile, ())):
            self._remove(self.drift_detected, profile, reason)
        self.forget_enforcement(profile=profile)

    # ----- enforcement probe -------------------------------------------------------------------

    def show_enforcement(self, *, profile: str, state: str) -> None:
        """The profile's last probe verdict: its state 1, every other state 0."""
        for known in ENFORCEMENT_STATES:
            self.enforcement.labels(profile=profile, state=known).set(1 if known == state else 0)

    def forget_enforcement(self, *, profile: str) -> None:
        """The profile's probe is off or the profile is gone: its series go."""
        for known in ENFORCEMENT_STATES:
            self._remove(self.enforcement, profile, known)

    # ----- dependency tracker -----------------------------------------------------------------

    def show_dependencies(self, *, profile: str, unresolved: Collection[str]) -> None:
        """The profile's tracked reasons: 1 for each found now, 0 for the others."""
        for reason in DEPENDENCY_REASONS:
            self.dependency_unresolved.labels(profile=profile, reason=reason).set(
                1 if reason in unresolved else 0
            )

    def forget_dependencies(self, *, profile: str) -> None:
        """The profile is gone, or its dependencies are not known: its series go."""
        for reason in DEPENDENCY_REASONS:
            self._remove(self.dependency_unresolved, profile, reason)

    # ----- admission keeper ------------------------------------------------------------------

    def show_installed(self, *, kind: str, name: str, installed: bool) -> None:
        """Whether one of netiso's admission objects is in place."""
        self.guardrail_installed.labels(kind=kind, name=name).set(1 if installed else 0)

    def forget_installed(self, *, kind: str, name: str) -> None:
        """netiso no longer owns the object (its profile is gone): its series goes."""
        self._remove(self.guardrail_installed, kind, name)

    @staticmethod
    def _remove(metric: Gauge | PromCounter, *labels: str) -> None:
        with contextlib.suppress(KeyError):
            metric.remove(*labels)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)


class NamespaceCollector(Collector):
    """The namespace series, computed from the current records whenever Prometheus scrapes.

    Runs in the scrape's worker thread: it copies the two mappings first (one C-level copy,
    atomic under the GIL) and only reads the frozen records after that.
    """

    def __init__(
        self,
        *,
        records: Callable[[], Mapping[str, Record]],
        repairing: Callable[[], Mapping[str, Repairing]],
    ) -> None:
        self._records = records
        self._repairing = repairing

    def describe(self) -> Iterator[Metric]:
        """The families, empty: what registration checks names against."""
        yield from _Families().all()

    def collect(self) -> Iterator[Metric]:
        """Every namespace series, from the records as they are now."""
        records = dict(self._records())
        repairing = dict(self._repairing())
        families = _Families()
        counts: Counter[tuple[str, str]] = Counter()
        pending: Counter[tuple[str, str]] = Counter()
        exceptions: Counter[tuple[str, str]] = Counter()
        for namespace, record in records.items():
            # The common case (an isolated namespace, nothing pending, nothing broken) costs
            # one count: this loop runs over every namespace at every scrape.
            label = series_profile(record)
            if namespace not in repairing:
                counts[(label, record.state)] += 1
                if record.state in OUT_OF_SYNC_STATES or record.drifts:
                    families.show(
                        namespace, profile=label, state=record.state, drifts=record.drifts
                    )
            for write in record.pending:
                pending[(label, write.verb)] += 1
            if record.violations:
                for rule, policies in policies_by_rule(record.weakened).items():
                    families.guardrail_violations.add_metric([namespace, label, rule], policies)
                for rule, policies in policies_by_rule(record.excepted).items():
                    exceptions[(label, rule)] += policies
        drifted = NamespaceState.DRIFTED
        for namespace, shown in repairing.items():
            families.show(namespace, profile=shown.profile, state=drifted, drifts=shown.drifts)
            counts[(shown.profile, drifted)] += 1
        for (profile, state), count in counts.items():
            families.namespaces.add_metric([profile, state], count)
        for (profile, verb), count in pending.items():
            families.pending_changes.add_metric([profile, verb], count)
        for (profile, rule), count in exceptions.items():
            families.guardrail_exceptions.add_metric([profile, rule], count)
        yield from families.all()


def policies_by_rule(violations: Iterable[Violation]) -> dict[str, int]:
    """How many distinct policies break each rule (a policy counts once per rule, however
    many of its fields do)."""
    pairs = {(str(v.rule), v.policy) for v in violations}
    return dict(Counter(rule for rule, _ in pairs))


class _Families:
    """One scrape's namespace metric families (names, help and labels are the contract in
    docs/metrics.md)."""

    def __init__(self) -> None:
        self.policy_drift = GaugeMetricFamily(
            "netiso_policy_drift",
            "1 while a managed NetworkPolicy differs from what netiso wrote.",
            labels=["namespace", "profile", "policy", "reason"],
        )
        self.out_of_sync = GaugeMetricFamily(
            "netiso_namespace_out_of_sync",
            "1 while an opted-in namespace is not isolated as its profile says.",
            labels=["namespace", "profile", "state"],
        )
        self.namespaces = GaugeMetricFamily(
            "netiso_namespaces",
            "Opted-in namespaces by profile and state.",
            labels=["profile", "state"],
        )
        self.pending_changes = GaugeMetricFamily(
            "netiso_dry_run_pending_changes",
            "Writes a DryRun profile would make, by action.",
            labels=["profile", "action"],
        )
        # Guardrails: per-namespace series only while a namespace owner's policy breaks one
        # without an exception; exceptions are counted per profile.
        self.guardrail_violations = GaugeMetricFamily(
            "netiso_guardrail_violations",
            "NetworkPolicies netiso does not manage that break a guardrail of their "
            "namespace's profile without an exception (isolation drift), by rule.",
            labels=["namespace", "profile", "rule"],
        )
        self.guardrail_exceptions = GaugeMetricFamily(
            "netiso_guardrail_exceptions",
            "NetworkPolicies that break a guardrail under a platform exception (listed in "
            "the profile, or the netiso.io/exception annotation; admitted, still counted), "
            "by profile and rule.",
            labels=["profile", "rule"],
        )

    def show(
        self, namespace: str, *, profile: str, state: NamespaceState, drifts: frozenset[Drift]
    ) -> None:
        """One namespace's own series: out of sync, and each drifted policy."""
        if state in OUT_OF_SYNC_STATES:
            self.out_of_sync.add_metric([namespace, profile, state], 1)
        for drift in drifts:
            self.policy_drift.add_metric([namespace, profile, drift.policy, drift.reason], 1)

    def all(self) -> tuple[GaugeMetricFamily, ...]:
        return (
            self.policy_drift,
            self.out_of_sync,
            self.namespaces,
            self.pending_changes,
            self.guardrail_violations,
            self.guardrail_exceptions,
        )
