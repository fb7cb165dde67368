"""Prometheus metrics on netiso's own registry, with bounded cardinality.

Reporting layer. Per-namespace series exist only while a namespace is drifted, errored,
missing its profile or pending in DryRun; everything else is counted per profile, so 10,000
healthy namespaces cost a handful of series. Built in the startup handler, never at import.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Mapping
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
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from netiso.observed.drifts import Drift

CONTENT_TYPE = CONTENT_TYPE_LATEST
# The profile label of series about namespaces whose profile does not exist: the name in a
# namespace's label is anybody's to choose, and must not mint series.
UNKNOWN_PROFILE = "unknown"

NAMESPACE_STATES = ("isolated", "drifted", "dry_run", "error", "missing_profile", "protected")
RECONCILE_RESULTS = ("unchanged", "changed", "error", "skipped")
# States that deserve a per-namespace series: someone should look at this namespace.
OUT_OF_SYNC_STATES = frozenset({"drifted", "dry_run", "error", "missing_profile"})


@dataclass(frozen=True)
class NamespaceView:
    """What the metrics show of one namespace: its profile, state and drifted policies."""

    profile: str
    state: str
    drifts: frozenset[Drift] = frozenset()


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
        self.policy_drift = Gauge(
            "netiso_policy_drift",
            "1 while a managed NetworkPolicy differs from what netiso wrote.",
            ["namespace", "profile", "policy", "reason"],
            registry=r,
        )
        self.out_of_sync = Gauge(
            "netiso_namespace_out_of_sync",
            "1 while an opted-in namespace is not isolated as its profile says.",
            ["namespace", "profile", "state"],
            registry=r,
        )
        self.namespaces = Gauge(
            "netiso_namespaces",
            "Opted-in namespaces by profile and state.",
            ["profile", "state"],
            registry=r,
        )
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
        self.pending_changes = Gauge(
            "netiso_dry_run_pending_changes",
            "Writes a DryRun profile would make, by action.",
            ["profile", "action"],
            registry=r,
        )
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
        # Guardrails: per-namespace series only while a namespace owner's policy breaks one
        # without an exception; exceptions are counted per profile.
        self.guardrail_violations = Gauge(
            "netiso_guardrail_violations",
            "NetworkPolicies netiso does not manage that break a guardrail of their "
            "namespace's profile without an exception (isolation drift), by rule.",
            ["namespace", "profile", "rule"],
            registry=r,
        )
        self.guardrail_exceptions = Gauge(
            "netiso_guardrail_exceptions",
            "NetworkPolicies that break a guardrail and carry the netiso.io/exception "
            "annotation (admitted, still counted), by profile and rule.",
            ["profile", "rule"],
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
        build = Gauge("netiso_build_info", "netiso version.", ["version"], registry=r)
        build.labels(version=version).set(1)
        self._views: dict[str, NamespaceView] = {}
        self._counts: Counter[tuple[str, str]] = Counter()
        self._pending: dict[str, tuple[str, Counter[str]]] = {}
        self._drift_reasons: dict[str, set[str]] = {}
        self._violations: dict[str, tuple[str, dict[str, int]]] = {}
        self._exceptions: dict[str, dict[tuple[str, str], int]] = {}
        self._exception_counts: Counter[tuple[str, str]] = Counter()

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

    def show_namespace(self, namespace: str, view: NamespaceView | None) -> None:
        """Make the per-namespace series and per-profile counts reflect `view`.

        None forgets the namespace (opted out or deleted): its series disappear.
        """
        old = self._views.get(namespace)
        if old == view:
            return
        if old is not None:
            self._counts[(old.profile, old.state)] -= 1
            self._set_count(old.profile, old.state)
            if old.state in OUT_OF_SYNC_STATES and (
                view is None or (view.profile, view.state) != (old.profile, old.state)
            ):
                self._remove(self.out_of_sync, namespace, old.profile, old.state)
            for drift in old.drifts - (view.drifts if view else frozenset()):
                self._remove(self.policy_drift, namespace, old.profile, drift.policy, drift.reason)
            if view is not None and view.profile != old.profile:
                for drift in old.drifts & view.drifts:
                    self._remove(
                        self.policy_drift, namespace, old.profile, drift.policy, drift.reason
                    )
        if view is None:
            self._views.pop(namespace, None)
            return
        self._views[namespace] = view
        self._counts[(view.profile, view.state)] += 1
        self._set_count(view.profile, view.state)
        if view.state in OUT_OF_SYNC_STATES:
            self.out_of_sync.labels(
                namespace=namespace, profile=view.profile, state=view.state
            ).set(1)
        for drift in view.drifts:
            self.policy_drift.labels(
                namespace=namespace, profile=view.profile, policy=drift.policy, reason=drift.reason
            ).set(1)

    def show_pending(self, namespace: str, profile: str, actions: Iterable[str]) -> None:
        """Record the writes a DryRun namespace is waiting for (empty: none)."""
        old = self._pending.pop(namespace, None)
        new: Counter[str] = Counter(actions)
        touched: set[tuple[str, str]] = set()
        if old is not None:
            for action in old[1]:
                touched.add((old[0], action))
        if new:
            self._pending[namespace] = (profile, new)
            touched.update((profile, action) for action in new)
        for prof, action in touched:
            total = sum(c[action] for p, c in self._pending.values() if p == prof)
            if total:
                self.pending_changes.labels(profile=prof, action=action).set(total)
            else:
                self._remove(self.pending_changes, prof, action)

    def show_guardrails(
        self,
        namespace: str,
        *,
        profile: str,
        violations: Mapping[str, int],
        exceptions: Mapping[str, int],
    ) -> None:
        """Set the namespace's share of the guardrail series: policies breaking each rule
        without an exception (a series per namespace: it needs attention) and with one
        (counted per profile: an exception is accepted, and one series per excepted namespace
        would cost 10,000 namespaces 10,000s of series). Empty mappings remove its share."""
        new_violations = {rule: n for rule, n in violations.items() if n > 0}
        new_exceptions = {(profile, rule): n for rule, n in exceptions.items() if n > 0}
        old_profile, old_violations = self._violations.get(namespace, ("", {}))
        if (old_profile, old_violations) != (profile, new_violations):
            for rule in old_violations:
                if old_profile != profile or rule not in new_violations:
                    self._remove(self.guardrail_violations, namespace, old_profile, rule)
            for rule, count in new_violations.items():
                self.guardrail_violations.labels(
                    namespace=namespace, profile=profile, rule=rule
                ).set(count)
            if new_violations:
                self._violations[namespace] = (profile, new_violations)
            else:
                self._violations.pop(namespace, None)
        old_exceptions = self._exceptions.get(namespace, {})
        if old_exceptions == new_exceptions:
            return
        self._exception_counts.subtract(old_exceptions)
        self._exception_counts.update(new_exceptions)
        for prof, rule in old_exceptions.keys() | new_exceptions.keys():
            total = self._exception_counts[(prof, rule)]
            if total > 0:
                self.guardrail_exceptions.labels(profile=prof, rule=rule).set(total)
            else:
                del self._exception_counts[(prof, rule)]
                self._remove(self.guardrail_exceptions, prof, rule)
        if new_exceptions:
            self._exceptions[namespace] = new_exceptions
        else:
            self._exceptions.pop(namespace, None)

    def _set_count(self, profile: str, state: str) -> None:
        # A count that reaches 0 describes nothing live: the series goes, so relabelling a
        # namespace through any number of profile names leaves no trail of zero series.
        count = self._counts[(profile, state)]
        if count <= 0:
            del self._counts[(profile, state)]
            self._remove(self.namespaces, profile, state)
        else:
            self.namespaces.labels(profile=profile, state=state).set(count)

    def forget_profile(self, profile: str) -> None:
        """The profile is gone: its counters describe nothing live any more."""
        for counter, labels in (
            (self.drift_repaired, (profile,)),
            (self.repair_unconverged, (profile,)),
        ):
            self._remove(counter, *labels)
        for reason in tuple(self._drift_reasons.pop(profile, ())):
            self._remove(self.drift_detected, profile, reason)

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
