"""Reporting one reconcile: metrics, the namespace's record, and transition-only Events.

Reporting layer. A reconcile ends in exactly one call to `Reporter.report`; it counts what
happened (drift detected, repairs), keeps the record (which the metrics collector reads at
scrape time and the profile status tallies), then queues the Events the transition deserves.
Nothing here waits on the API server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace

from netiso.observed.drifts import Drift
from netiso.observed.entries import NamespaceEntry, NamespaceState, Outcome, Record
from netiso.reporting.events import WARNING, Events, namespace_ref
from netiso.reporting.logfields import log_fields
from netiso.reporting.metrics import UNKNOWN_PROFILE, Metrics, Repairing, series_profile
from netiso.reporting.statuses import Tally, shown_exposures
from netiso.reporting.transitions import transition_events

log = logging.getLogger(__name__)


class Reporter:
    """Keeps each namespace's last record and reports every change of it."""

    def __init__(self, *, metrics: Metrics, events: Events) -> None:
        self._metrics = metrics
        self._events = events
        self._records: dict[str, Record] = {}
        self._repairing: dict[str, Repairing] = {}
        self.dirty_profiles: set[str] = set()
        metrics.collect_namespaces(records=lambda: self._records, repairing=lambda: self._repairing)

    def repairing(self, namespace: str, *, profile: str, drifts: frozenset[Drift]) -> None:
        """Show drift while its repair is under way, so even a quick repair is visible."""
        if drifts:
            self._repairing[namespace] = Repairing(
                profile=profile or UNKNOWN_PROFILE, drifts=drifts
            )

    def report(
        self,
        outcome: Outcome,
        *,
        entry: NamespaceEntry | None,
        repaired: int,
        detected: frozenset[Drift] = frozenset(),
    ) -> None:
        """Report one reconcile's outcome: metrics, record, Events."""
        namespace = outcome.namespace
        new = outcome.record
        old = self._records.get(namespace)
        profile = series_profile(new) if new.profile else (series_profile(old) if old else "")
        if not profile:
            profile = UNKNOWN_PROFILE
        if old is not None and old.profile:
            self.dirty_profiles.add(old.profile)
        if new.profile:
            self.dirty_profiles.add(new.profile)

        # Metrics first: they are what alerts read.
        self._repairing.pop(namespace, None)
        fresh = detected - (old.drifts if old else frozenset())
        if fresh:
            self._metrics.count_drifts(profile=profile, reasons=[d.reason for d in fresh])
        self._metrics.count_repairs(profile=profile, repaired=repaired)
        if new.state == NamespaceState.RELEASED:
            self._records.pop(namespace, None)
        else:
            self._records[namespace] = new

        named = new.profile or (old.profile if old else "")
        uid = entry.uid if entry else ""
        for reason, type_, message in transition_events(
            old, new, outcome=outcome, fresh_drifts=fresh, repaired=repaired
        ):
            # The log says what the Event says, with its subject as fields of the JSON line.
            log.log(
                logging.WARNING if type_ == WARNING else logging.INFO,
                "namespace %s: %s: %s",
                namespace,
                reason,
                message,
                extra=log_fields(namespace=namespace, profile=named, reason=reason),
            )
            self._events.emit(
                involved=namespace_ref(namespace, uid), reason=reason, message=message, type_=type_
            )

    def forget(self, namespace: str) -> None:
        """Drop the namespace's record and series without an Event: another replica leads it
        now, and its series would be stale here."""
        self._repairing.pop(namespace, None)
        old = self._records.pop(namespace, None)
        if old is not None:
            self.dirty_profiles.add(old.profile)

    def tally(self, profile: str, *, dry_run: bool = False) -> Tally:
        """Count a profile's namespaces by state (for status and `netiso status`)."""
        mine = {name: r for name, r in self._records.items() if r.profile == profile}
        return replace(shown_tallies(mine).get(profile, Tally()), dry_run=dry_run)

    def records(self) -> Mapping[str, Record]:
        """The current record of every known namespace."""
        return dict(self._records)


def shown_tallies(records: Mapping[str, Record]) -> dict[str, Tally]:
    """Per profile, its namespaces' counts and its first weakened ones in words: what a
    replica says of the namespaces it leads (`records` by namespace name)."""
    by_profile: dict[str, dict[str, Record]] = {}
    for name, record in records.items():
        by_profile.setdefault(record.profile, {})[name] = record
    return {
        profile: replace(Tally.of(group.values()), exposures=shown_exposures(group))
        for profile, group in by_profile.items()
    }


def tallies_by_profile(records: Iterable[Record]) -> dict[str, Tally]:
    """Count namespaces by profile and state: what a profile's status says."""
    by_profile: dict[str, list[Record]] = {}
    for record in records:
        by_profile.setdefault(record.profile, []).append(record)
    return {profile: Tally.of(group) for profile, group in by_profile.items()}
