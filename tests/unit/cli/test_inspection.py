"""What `netiso status` and `netiso diff` make of a snapshot: the guardrail column and details.

Unit tests of inspection.py on a hand-built Snapshot (the shape read_snapshot returns); the
live reads are covered by tests/integration/test_isolation_drift.py.
"""

from __future__ import annotations

from typing import Any

from netiso.cli.inspection import Snapshot, diff_reports, status_lines
from netiso.model.namespaces import NamespaceFacts
from netiso.observed.entries import NamespaceEntry, ProfileEntry
from netiso.observed.foreign import ForeignPolicy
from netiso.rendering.bodies import render_policies
from netiso.rendering.environment import make_environment

PROFILE = ProfileEntry.from_body(
    {
        "apiVersion": "netiso.io/v1alpha1",
        "kind": "IsolationProfile",
        "metadata": {"name": "base", "uid": "u", "generation": 1},
        "spec": {},
    }
)


def foreign(name: str, namespace: str, *, exception: str = "") -> ForeignPolicy:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if exception:
        metadata["annotations"] = {"netiso.io/exception": exception}
    return ForeignPolicy.from_body(
        {"metadata": metadata, "spec": {"podSelector": {}, "ingress": [{}]}}
    )


def snapshot() -> Snapshot:
    assert PROFILE.profile is not None
    names = ("clean", "open", "waived")
    namespaces = {
        name: NamespaceEntry.from_body(
            {"metadata": {"name": name, "labels": {"netiso.io/profile": "base"}}}
        )
        for name in names
    }
    live = {
        name: [
            p.body
            for p in render_policies(make_environment(), PROFILE.profile, NamespaceFacts(name=name))
        ]
        for name in names
    }
    return Snapshot(
        namespaces=namespaces,
        profiles={"base": PROFILE},
        live=live,
        foreign={
            "open": [foreign("allow-all", "open"), foreign("also-open", "open")],
            "waived": [foreign("allow-all", "waived", exception="OPS-3")],
        },
    )


def test_the_status_column_counts_violating_and_excepted_policies() -> None:
    lines = {
        line.namespace: line
        for line in status_lines(snapshot(), environment=make_environment(), protected=frozenset())
    }
    assert {name: (line.state, line.guardrails) for name, line in lines.items()} == {
        "clean": ("isolated", "-"),
        "open": ("drifted", "2 violating"),
        "waived": ("excepted", "1 excepted"),
    }
    rows = lines["waived"].as_dict()["guardrailViolations"]
    assert {(row["policy"], row["rule"], row["exception"]) for row in rows} == {
        ("allow-all", "no-peers", "OPS-3"),
        ("allow-all", "no-ports", "OPS-3"),
    }


def test_diff_reports_a_violation_as_a_change_but_not_an_exception() -> None:
    reports = {
        report.assessment.namespace: report
        for report in diff_reports(
            snapshot(), environment=make_environment(), protected=frozenset()
        )
    }
    assert (reports["clean"].changes, reports["open"].changes, reports["waived"].changes) == (
        False,
        True,
        False,
    )
    assert reports["open"].diff == ""  # netiso would write nothing: the drift is the owner's


def test_a_namesake_made_before_netiso_is_a_conflict_in_status_and_diff() -> None:
    """An unlabelled policy holding one of netiso's names (made before the names were
    reserved) is a `conflict` for `netiso status` and `netiso diff` alike, as for the
    operator's metric: nothing is planned in its place, and the default-deny is held back."""
    base = snapshot()
    squatted = Snapshot(
        namespaces=base.namespaces,
        profiles=base.profiles,
        live={"clean": []},
        foreign={"clean": [foreign("netiso-allow-dns-egress", "clean")]},
    )
    environment = make_environment()
    (line,) = [
        line
        for line in status_lines(squatted, environment=environment, protected=frozenset())
        if line.namespace == "clean"
    ]
    assert (line.state, line.drift) == ("error", "netiso-allow-dns-egress:conflict")
    assert "kubectl -n clean delete networkpolicy netiso-allow-dns-egress" in line.message
    (report,) = [
        report
        for report in diff_reports(squatted, environment=environment, protected=frozenset())
        if report.assessment.namespace == "clean"
    ]
    shown = report.as_dict()
    assert shown["state"] == "error"
    assert shown["reportedDrift"] == ["netiso-allow-dns-egress:conflict"]
    # Neither the squatted allow nor the deny it holds back would be written.
    assert shown["changes"] == []
    assert "netiso-allow-dns-egress" not in report.diff
