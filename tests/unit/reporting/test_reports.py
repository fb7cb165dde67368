"""Reporting a reconcile: one call updates metrics, the record and the Events together."""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import pytest
from kopf._core.actions.loggers import LogFormat, make_formatter

from netiso.observed.drifts import Drift, DriftReason, PolicyWrite, Verb
from netiso.observed.entries import NamespaceState, Outcome, Record
from netiso.reporting.events import Events
from netiso.reporting.metrics import Metrics
from netiso.reporting.reports import Reporter
from netiso.reporting.statuses import Tally
from netiso.runtime.client import ApiClient
from netiso.runtime.posting import EventPoster
from tests.unit.reporting.fakes import RecordingApi


class Queued(EventPoster):
    """The real poster, never started: what it was asked to send stays in `queued`."""

    def __init__(self) -> None:
        super().__init__(cast(ApiClient, RecordingApi()))
        self.queued: list[dict[str, Any]] = []

    def submit(self, body: dict[str, Any]) -> None:
        self.queued.append(body)


def reporter() -> tuple[Reporter, Metrics, Queued]:
    metrics = Metrics(version="test")
    poster = Queued()
    return Reporter(metrics=metrics, events=Events(poster)), metrics, poster


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_first_isolation_reports_counts_record_and_one_event() -> None:
    reporting, metrics, poster = reporter()
    record = Record(profile="base", state=NamespaceState.ISOLATED)
    reporting.report(
        Outcome(
            namespace="team-a",
            record=record,
            written=(PolicyWrite(verb=Verb.CREATE, name="netiso-default-deny"),),
        ),
        entry=None,
        repaired=0,
    )
    assert value(metrics, "netiso_namespaces", profile="base", state="isolated") == 1
    assert reporting.records() == {"team-a": record}
    assert [e["reason"] for e in poster.queued] == ["Isolated"]
    assert reporting.dirty_profiles == {"base"}


def test_drift_is_counted_once_and_repairs_are_counted() -> None:
    reporting, metrics, poster = reporter()
    isolated = Record(profile="base", state=NamespaceState.ISOLATED)
    reporting.report(Outcome(namespace="team-a", record=isolated), entry=None, repaired=0)
    drift = frozenset({Drift("team-a", "netiso-default-deny", DriftReason.MODIFIED)})
    update = PolicyWrite(verb=Verb.UPDATE, name="netiso-default-deny")
    outcome = Outcome(namespace="team-a", record=isolated, written=(update,))
    reporting.report(outcome, entry=None, repaired=1, detected=drift)
    assert value(metrics, "netiso_drift_detected_total", profile="base", reason="modified") == 1
    assert value(metrics, "netiso_drift_repaired_total", profile="base") == 1
    assert [e["reason"] for e in poster.queued] == ["DriftDetected", "DriftRepaired"]


def test_released_namespace_leaves_no_record_and_no_series() -> None:
    reporting, metrics, _ = reporter()
    drifted = Record(
        profile="base",
        state=NamespaceState.DRIFTED,
        drifts=frozenset({Drift("team-a", "netiso-default-deny", DriftReason.MODIFIED)}),
    )
    reporting.report(Outcome(namespace="team-a", record=drifted), entry=None, repaired=0)
    assert value(
        metrics,
        "netiso_policy_drift",
        namespace="team-a",
        profile="base",
        policy="netiso-default-deny",
        reason="modified",
    )
    released = Record(profile="", state=NamespaceState.RELEASED)
    reporting.report(Outcome(namespace="team-a", record=released), entry=None, repaired=0)
    assert reporting.records() == {}
    assert "team-a" not in metrics.exposition().decode()


def test_tally_counts_a_profiles_namespaces_by_state() -> None:
    reporting, _, _ = reporter()
    for namespace, state in (
        ("a", NamespaceState.ISOLATED),
        ("b", NamespaceState.DRIFTED),
        ("c", NamespaceState.ERROR),
    ):
        record = Record(profile="base", state=state, message="x")
        reporting.report(Outcome(namespace=namespace, record=record), entry=None, repaired=0)
    other = Record(profile="other", state=NamespaceState.ISOLATED)
    reporting.report(Outcome(namespace="d", record=other), entry=None, repaired=0)
    assert reporting.tally("base") == Tally(namespaces=3, in_sync=1, drifted=1, errors=1)


def test_a_thousand_relabels_leave_a_bounded_number_of_series() -> None:
    """The profile in a namespace label is anybody's to choose: it must not mint series."""
    reporting, metrics, _ = reporter()

    def series() -> int:
        return sum(
            1
            for line in metrics.exposition().decode().splitlines()
            if line.startswith("netiso_") and not line.startswith("#")
        )

    isolated = Record(profile="base", state=NamespaceState.ISOLATED)
    reporting.report(Outcome(namespace="team-a", record=isolated), entry=None, repaired=0)
    before = series()
    for index in range(1000):
        missing = Record(
            profile=f"typo-{index}",
            state=NamespaceState.MISSING_PROFILE,
            message=f"IsolationProfile 'typo-{index}' does not exist",
        )
        reporting.report(Outcome(namespace="team-b", record=missing), entry=None, repaired=0)
        assert series() <= before + 2
    exposition = metrics.exposition().decode()
    assert "typo-" not in exposition
    assert value(metrics, "netiso_namespaces", profile="unknown", state="missing_profile") == 1
    released = Record(profile="", state=NamespaceState.RELEASED)
    reporting.report(Outcome(namespace="team-b", record=released), entry=None, repaired=0)
    assert series() == before


def test_operator_json_logs_carry_namespace_profile_and_reason_as_keys(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Kopf's own formatter for `kopf run --log-format=json`, as the Deployment runs it.
    formatter = make_formatter(log_format=LogFormat.JSON)
    reporting, _, poster = reporter()
    isolated = Record(profile="base", state=NamespaceState.ISOLATED)
    reporting.report(Outcome(namespace="team-a", record=isolated), entry=None, repaired=0)
    drifted = Drift(namespace="team-a", policy="netiso-default-deny", reason=DriftReason.MISSING)
    with caplog.at_level(logging.INFO, logger="netiso.reporting.reports"):
        reporting.report(
            Outcome(namespace="team-a", record=isolated),
            entry=None,
            repaired=1,
            detected=frozenset({drifted}),
        )
    lines = [json.loads(formatter.format(record)) for record in caplog.records]
    assert [(line["namespace"], line["profile"], line["reason"]) for line in lines] == [
        ("team-a", "base", event["reason"]) for event in poster.queued
    ]
    assert {line["reason"] for line in lines} == {"DriftDetected", "DriftRepaired"}
    assert next(line for line in lines if line["reason"] == "DriftDetected")["severity"] == "warn"
    assert all("team-a" in line["message"] for line in lines)
