"""assess(): what netiso decides for a namespace in each situation a user can create."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netiso.model.namespaces import NamespaceFacts
from netiso.observed.drifts import Drift, DriftReason, LivePolicy, PolicyWrite, Verb
from netiso.observed.entries import (
    NamespaceEntry,
    NamespaceState,
    Outcome,
    ProfileEntry,
    Record,
)
from netiso.reconciling.assessments import assess
from netiso.rendering.bodies import render_policies
from netiso.rendering.environment import make_environment, shipped_templates_dir
from netiso.reporting.transitions import transition_events


def events_of(
    old: Record | None, new: Record, out: Outcome, fresh: frozenset[Drift], repaired: int
) -> list[tuple[str, str, str]]:
    return transition_events(old, new, outcome=out, fresh_drifts=fresh, repaired=repaired)


PROTECTED = frozenset({"kube-system", "netiso-system"})


def profile(name: str = "base", **spec: Any) -> ProfileEntry:
    metadata: dict[str, Any] = {"name": name, "uid": "u1", "generation": 1}
    if spec.pop("deleting", False):
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return ProfileEntry.from_body(
        {
            "apiVersion": "netiso.io/v1alpha1",
            "kind": "IsolationProfile",
            "metadata": metadata,
            "spec": spec,
        }
    )


def namespace(name: str = "team-a", profile_name: str = "base", **extra: Any) -> NamespaceEntry:
    return NamespaceEntry.from_body(
        {"metadata": {"name": name, "labels": {"netiso.io/profile": profile_name}, **extra}}
    )


def live_for(entry: ProfileEntry, ns: str = "team-a") -> list[LivePolicy]:
    assert entry.profile is not None
    return [
        LivePolicy.from_body(p.body)
        for p in render_policies(make_environment(), entry.profile, NamespaceFacts(name=ns))
    ]


def run(
    *,
    entry: NamespaceEntry | None,
    prof: ProfileEntry | None,
    live: list[LivePolicy] | None = None,
    environment: Any = None,
) -> Any:
    return assess(
        name=entry.facts.name if entry else "team-a",
        entry=entry,
        profile=prof,
        live=live or [],
        environment=environment or make_environment(),
        protected=PROTECTED,
    )


def test_opted_in_namespace_gets_the_profile_policies() -> None:
    result = run(entry=namespace(), prof=profile())
    assert result.state == NamespaceState.ISOLATED
    assert [s.name for s in result.changes.steps] == [
        "netiso-allow-dns-egress",
        "netiso-default-deny",
    ]


def test_namespace_without_label_gets_no_policies_and_loses_managed_ones() -> None:
    base = profile()
    result = run(entry=None, prof=None, live=live_for(base))
    assert result.state == NamespaceState.RELEASED
    assert result.changes.steps[0].name == "netiso-default-deny"
    assert {s.action for s in result.changes.steps} == {"delete"}


def test_protected_namespace_is_never_isolated_even_when_labelled() -> None:
    result = run(entry=namespace("kube-system"), prof=profile())
    assert result.state == NamespaceState.PROTECTED
    assert result.changes.empty
    assert "protected" in result.message


def test_missing_profile_changes_nothing_and_says_so() -> None:
    base = profile()
    result = run(entry=namespace(profile_name="nope"), prof=None, live=live_for(base))
    assert result.state == NamespaceState.MISSING_PROFILE
    assert result.changes.empty  # fail-closed: existing isolation stays
    assert "'nope' does not exist" in result.message


def test_invalid_profile_changes_nothing_and_names_the_field() -> None:
    bad = profile(dns={"ports": [{"protocol": "UDP", "port": 0}]})
    assert bad.problems
    result = run(entry=namespace(), prof=bad)
    assert result.state == NamespaceState.ERROR
    assert result.changes.empty
    assert "spec.dns.ports[0].port" in result.message


def test_broken_template_changes_nothing(tmp_path: Path) -> None:
    for template in shipped_templates_dir().glob("*.yaml.j2"):
        (tmp_path / template.name).write_text(template.read_text())
    (tmp_path / "allow-dns-egress.yaml.j2").write_text("podSelector: {{ no_such_variable }}\n")
    result = run(entry=namespace(), prof=profile(), environment=make_environment(tmp_path))
    assert result.state == NamespaceState.ERROR
    assert result.changes.empty
    assert "allow-dns-egress" in result.message


def test_dry_run_plans_but_marks_the_assessment() -> None:
    result = run(entry=namespace(), prof=profile(mode="DryRun"))
    assert result.state == NamespaceState.DRY_RUN
    assert result.dry_run
    assert result.changes.planned() == (
        PolicyWrite(verb=Verb.CREATE, name="netiso-allow-dns-egress"),
        PolicyWrite(verb=Verb.CREATE, name="netiso-default-deny"),
    )


def test_report_mode_with_drift_is_drifted() -> None:
    base = profile(driftAction="Report")
    live = [p for p in live_for(base) if p.name != "netiso-default-deny"]
    result = run(entry=namespace(), prof=base, live=live)
    assert result.state == NamespaceState.DRIFTED
    assert result.changes.empty


@pytest.mark.parametrize(("on_delete", "deletes"), [("Delete", True), ("Orphan", False)])
def test_deleting_profile_removes_policies_unless_orphan(on_delete: str, deletes: bool) -> None:
    base = profile()
    deleting = profile(onDelete=on_delete, deleting=True)
    result = run(entry=namespace(), prof=deleting, live=live_for(base))
    assert (not result.changes.empty) == deletes
    if deletes:
        assert result.changes.steps[0].name == "netiso-default-deny"


def test_terminating_namespace_is_left_to_the_garbage_collector() -> None:
    base = profile()
    entry = namespace(deletionTimestamp="2026-01-01T00:00:00Z")
    result = run(entry=entry, prof=base, live=live_for(base))
    assert result.state == NamespaceState.RELEASED
    assert result.changes.empty


def outcome(record: Record, *written: PolicyWrite) -> Outcome:
    return Outcome(namespace="team-a", record=record, written=written)


def test_events_only_on_transitions() -> None:
    isolated = Record(profile="base", state=NamespaceState.ISOLATED)
    # Restart with everything in sync: nothing to say.
    assert events_of(None, isolated, outcome(isolated), frozenset(), 0) == []
    # First isolation writes policies: one Isolated Event.
    events = events_of(
        None, isolated, outcome(isolated, PolicyWrite(verb=Verb.CREATE, name="x")), frozenset(), 0
    )
    assert [e[0] for e in events] == ["Isolated"]
    # Steady state: nothing.
    assert events_of(isolated, isolated, outcome(isolated), frozenset(), 0) == []
    # Drift repaired.
    fresh = frozenset({Drift("team-a", "netiso-default-deny", DriftReason.MISSING)})
    events = events_of(
        isolated, isolated, outcome(isolated, PolicyWrite(verb=Verb.CREATE, name="d")), fresh, 1
    )
    assert [e[0] for e in events] == ["DriftDetected", "DriftRepaired"]
    # A profile change applied to an isolated namespace: the profile status says it, not
    # an Event per namespace.
    events = events_of(
        isolated,
        isolated,
        outcome(isolated, PolicyWrite(verb=Verb.UPDATE, name="g")),
        frozenset(),
        0,
    )
    assert events == []
    missing = Record(profile="x", state=NamespaceState.MISSING_PROFILE, message="gone")
    assert [e[0] for e in events_of(None, missing, outcome(missing), frozenset(), 0)] == [
        "ProfileMissing"
    ]
    assert events_of(missing, missing, outcome(missing), frozenset(), 0) == []
