"""Isolation drift: a namespace owner's own policy that breaks a guardrail re-opens the namespace.

Unit tests of the pure path from a foreign NetworkPolicy to what netiso says: the view keeps
foreign policies apart from managed ones (observed/view.py, observed/foreign.py), assess()
evaluates them against the profile's guardrails, and the record drives the metric, the Events
and the profile counts. No server.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from netiso.model.guardrails import Rule, Violation
from netiso.model.namespaces import NamespaceFacts
from netiso.observed.drifts import LivePolicy, PolicyWrite, Verb
from netiso.observed.entries import NamespaceEntry, NamespaceState, Outcome, ProfileEntry, Record
from netiso.observed.foreign import ForeignPolicy
from netiso.observed.view import ClusterView
from netiso.reconciling.assessments import Assessment, assess, evaluate_guardrails
from netiso.rendering.bodies import render_policies
from netiso.rendering.environment import make_environment
from netiso.reporting.events import NORMAL, WARNING
from netiso.reporting.metrics import Metrics
from netiso.reporting.reports import tallies_by_profile
from netiso.reporting.statuses import profile_status, shown_exposures
from netiso.reporting.transitions import transition_events

PROTECTED = frozenset({"kube-system"})
NS = "team-a"


def profile(spec: dict[str, Any] | None = None, **guardrails: Any) -> ProfileEntry:
    spec = dict(spec or {})
    if guardrails:
        spec["guardrails"] = guardrails
    return ProfileEntry.from_body(
        {
            "apiVersion": "netiso.io/v1alpha1",
            "kind": "IsolationProfile",
            "metadata": {"name": "base", "uid": "u", "generation": 1},
            "spec": spec,
        }
    )


def namespace() -> NamespaceEntry:
    return NamespaceEntry.from_body(
        {"metadata": {"name": NS, "labels": {"netiso.io/profile": "base"}}}
    )


def policy_body(
    name: str,
    *,
    ingress: list[Any] | None = None,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    version: str = "1",
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NS,
        "uid": f"uid-{name}",
        "resourceVersion": version,
    }
    if annotations:
        metadata["annotations"] = annotations
    if labels:
        metadata["labels"] = labels
    return {
        "metadata": metadata,
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": ingress or []},
    }


ALLOW_ALL: list[Any] = [{}]  # one rule, no peers, no ports: every source, every port
NARROW = [
    {
        "from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
        "ports": [{"protocol": "TCP", "port": 8080}],
    }
]


def in_place(entry: ProfileEntry) -> list[LivePolicy]:
    assert entry.profile is not None
    return [
        LivePolicy.from_body(p.body)
        for p in render_policies(make_environment(), entry.profile, NamespaceFacts(name=NS))
    ]


def assessed(
    *foreign: dict[str, Any], entry: ProfileEntry | None = None, now: datetime | None = None
) -> Assessment:
    prof = entry or profile()
    return assess(
        name=NS,
        entry=namespace(),
        profile=prof,
        live=in_place(prof),
        environment=make_environment(),
        protected=PROTECTED,
        foreign=[ForeignPolicy.from_body(body) for body in foreign],
        now=now,
    )


def test_a_conforming_policy_leaves_the_namespace_isolated() -> None:
    result = assessed(policy_body("web", ingress=NARROW))
    assert result.state == NamespaceState.ISOLATED
    assert result.violations == ()


def test_an_allow_all_policy_makes_the_namespace_drifted_and_is_never_written() -> None:
    result = assessed(policy_body("open", ingress=ALLOW_ALL), policy_body("web", ingress=NARROW))
    assert result.state == NamespaceState.DRIFTED
    assert result.changes.empty  # netiso never writes to a foreign policy
    assert {(v.policy, v.rule, v.path) for v in result.weakened} == {
        ("open", Rule.NO_PEERS, "spec.ingress[0].from"),
        ("open", Rule.NO_PORTS, "spec.ingress[0].ports"),
    }
    assert "open (no-peers, no-ports)" in result.message
    assert "not isolated" in result.message


def test_an_excepted_policy_is_admitted_but_still_reported() -> None:
    excepted = policy_body(
        "open", ingress=ALLOW_ALL, annotations={"netiso.io/exception": "OPS-42 load test"}
    )
    result = assessed(excepted)
    # Not plain isolated: excepted, said at Warning level on every signal.
    assert result.state == NamespaceState.EXCEPTED
    assert result.weakened == ()
    assert {v.exception for v in result.violations} == {"OPS-42 load test"}
    assert "NetworkPolicy open (OPS-42 load test)" in result.message


def test_the_profile_guardrails_decide_what_counts() -> None:
    relaxed = profile(allowRulesWithoutPeers=True, allowRulesWithoutPorts=True)
    assert assessed(policy_body("open", ingress=ALLOW_ALL), entry=relaxed).state == (
        NamespaceState.ISOLATED
    )
    annotated = profile(requiredAnnotations=["example.com/owner"])
    result = assessed(policy_body("web", ingress=NARROW), entry=annotated)
    assert [(v.rule, v.path) for v in result.weakened] == [
        (Rule.REQUIRED_ANNOTATION, "metadata.annotations[example.com/owner]")
    ]


def test_dry_run_reports_violations_without_changing_its_state() -> None:
    dry = profile({"mode": "DryRun"})
    result = assessed(policy_body("open", ingress=ALLOW_ALL), entry=dry)
    assert result.state == NamespaceState.DRY_RUN
    assert len(result.weakened) == 2


def test_the_kubectl_copy_of_the_object_is_not_kept() -> None:
    body = policy_body(
        "web",
        ingress=NARROW,
        annotations={
            "kubectl.kubernetes.io/last-applied-configuration": "x" * 5000,
            "owner": "team-a",
        },
    )
    body["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    kept = ForeignPolicy.from_body(body)
    assert len(kept.document) < 300
    assert kept.body()["metadata"]["annotations"] == {"owner": "team-a"}
    assert kept.body()["spec"]["ingress"] == NARROW


def test_the_view_moves_a_policy_when_netisos_label_is_added_or_removed() -> None:
    view = ClusterView()
    view.merge_listing(namespaces=(), policies=(), profiles=())
    foreign, was_managed = view.foreign_seen(policy_body("p", ingress=NARROW), deleted=False)
    assert (foreign.name, was_managed) == ("p", False)
    assert [p.name for p in view.foreign_policies(NS)] == ["p"]
    labelled = policy_body(
        "p", ingress=NARROW, labels={"app.kubernetes.io/managed-by": "netiso"}, version="2"
    )
    view.policy_seen(labelled, deleted=False)
    assert view.foreign_policies(NS) == []
    assert [p.name for p in view.live_policies(NS)] == ["p"]
    _, was_managed = view.foreign_seen(
        policy_body("p", ingress=ALLOW_ALL, version="3"), deleted=False
    )
    assert was_managed
    assert view.live_policies(NS) == []
    assert [p.name for p in view.foreign_policies(NS)] == ["p"]
    view.foreign_seen(policy_body("p", version="4"), deleted=True)
    assert view.foreign_policies(NS) == []
    assert view.policy_keys() == []


def test_an_older_listing_does_not_bring_back_a_policy_that_moved_stores() -> None:
    view = ClusterView()
    # Watch events arrive before the (older) listing is merged: the policy became netiso's
    # at version 5; the listing still has it as foreign at version 3.
    labelled = policy_body(
        "p", ingress=NARROW, labels={"app.kubernetes.io/managed-by": "netiso"}, version="5"
    )
    view.policy_seen(labelled, deleted=False)
    older = ForeignPolicy.from_body(policy_body("p", ingress=ALLOW_ALL, version="3"))
    view.merge_listing(namespaces=(), policies=(), profiles=(), foreign=[("3", older)])
    assert view.foreign_policies(NS) == []
    assert [p.name for p in view.live_policies(NS)] == ["p"]


def record(*bodies: dict[str, Any]) -> Record:
    result = assessed(*bodies)
    return Record(profile="base", state=result.state, violations=frozenset(result.violations))


def events(old: Record | None, new: Record, *written: PolicyWrite) -> list[tuple[str, str]]:
    out = Outcome(namespace=NS, record=new, written=written)
    found = transition_events(old, new, outcome=out, fresh_drifts=frozenset(), repaired=0)
    return [(reason, type_) for reason, type_, _ in found]


def test_events_come_on_change_only() -> None:
    clean = record(policy_body("web", ingress=NARROW))
    weakened = record(policy_body("open", ingress=ALLOW_ALL))
    assert events(clean, weakened) == [("GuardrailViolated", WARNING)]
    assert events(weakened, weakened) == []  # steady state: nothing
    worse = record(
        policy_body("open", ingress=ALLOW_ALL),
        policy_body("wide", ingress=[{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]),
    )
    assert ("GuardrailViolated", WARNING) in events(weakened, worse)
    assert ("GuardrailsSatisfied", NORMAL) in events(worse, clean)
    excepted = record(
        policy_body("open", ingress=ALLOW_ALL, annotations={"netiso.io/exception": "OPS-1"})
    )
    assert ("GuardrailException", WARNING) in events(weakened, excepted)
    assert ("Excepted", WARNING) in events(weakened, excepted)
    assert events(excepted, excepted) == []


def test_a_restart_posts_nothing_but_a_new_opt_in_does() -> None:
    weakened = record(policy_body("open", ingress=ALLOW_ALL))
    # A new process (or leader) sees the namespace as it was: the Events were posted before.
    assert events(None, weakened) == []
    # The namespace was just isolated (netiso wrote its policies): its owner hears of it.
    assert ("GuardrailViolated", WARNING) in events(
        None, weakened, PolicyWrite(verb=Verb.CREATE, name="d")
    )


def test_the_metric_counts_policies_per_rule_and_goes_when_fixed() -> None:
    metrics = Metrics(version="test")
    records: dict[str, Record] = {}
    metrics.collect_namespaces(records=lambda: records, repairing=dict)
    records[NS] = record(
        policy_body("open", ingress=ALLOW_ALL),
        policy_body("open2", ingress=[{}, {}]),
        policy_body("ok", ingress=ALLOW_ALL, annotations={"netiso.io/exception": "OPS-1"}),
    )

    def value(name: str, rule: str, namespace: str | None = NS) -> float | None:
        labels = {"profile": "base", "rule": rule}
        if namespace is not None:
            labels["namespace"] = namespace
        return metrics.registry.get_sample_value(name, labels)

    # open2 breaks no-peers in two rules: it still counts as one policy.
    assert value("netiso_guardrail_violations", "no-peers") == 2
    assert value("netiso_guardrail_violations", "no-ports") == 2
    # Exceptions are accepted: counted per profile, not per namespace.
    assert value("netiso_guardrail_exceptions", "no-peers", None) == 1
    records["team-b"] = Record(
        profile="base",
        state=NamespaceState.ISOLATED,
        violations=frozenset(
            Violation(Rule.NO_PEERS, "spec.ingress[0]", "open", "team-b", f"x{i}", "OPS-2")
            for i in range(3)
        ),
    )
    assert value("netiso_guardrail_exceptions", "no-peers", None) == 4
    records[NS] = record()
    assert value("netiso_guardrail_violations", "no-peers") is None
    assert value("netiso_guardrail_exceptions", "no-peers", None) == 3
    del records["team-b"]
    assert value("netiso_guardrail_exceptions", "no-peers", None) is None


def test_profile_counts_say_how_many_namespaces_are_weakened() -> None:
    tally = tallies_by_profile(
        [record(policy_body("open", ingress=ALLOW_ALL)), record(policy_body("w", ingress=NARROW))]
    )["base"]
    assert (tally.namespaces, tally.in_sync, tally.drifted) == (2, 1, 1)
    assert (tally.weakened, tally.guardrail_violations, tally.guardrail_exceptions) == (1, 1, 0)


def test_the_same_policy_in_two_namespaces_is_reported_in_each() -> None:
    open_policy = policy_body("open", ingress=ALLOW_ALL)
    elsewhere = {**open_policy, "metadata": {**open_policy["metadata"], "namespace": "team-b"}}
    guardrails = profile().profile
    assert guardrails is not None
    found = {
        namespace: evaluate_guardrails(
            [ForeignPolicy.from_body(body)], guardrails.guardrails, namespace=namespace
        )
        for namespace, body in ((NS, open_policy), ("team-b", elsewhere))
    }
    assert [(v.namespace, v.rule) for v in found[NS]] == [
        (NS, Rule.NO_PEERS),
        (NS, Rule.NO_PORTS),
    ]
    assert [(v.namespace, v.rule) for v in found["team-b"]] == [
        ("team-b", Rule.NO_PEERS),
        ("team-b", Rule.NO_PORTS),
    ]


NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def listing(*entries: dict[str, Any]) -> ProfileEntry:
    return profile(exceptions=list(entries))


def grant(policy: str, *rules: str, expires: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "namespace": NS,
        "policy": policy,
        "rules": list(rules),
        "reason": f"OPS-9 {policy}",
    }
    if expires:
        entry["expires"] = expires
    return entry


def assessed_at(now: datetime, *foreign: dict[str, Any], entry: ProfileEntry) -> Assessment:
    return assessed(*foreign, entry=entry, now=now)


def test_a_listed_exception_excepts_its_rules_and_only_those() -> None:
    open_all = policy_body("open", ingress=ALLOW_ALL)
    covered = listing(grant("open", "no-peers", "no-ports"))
    result = assessed_at(NOON, open_all, entry=covered)
    assert result.state == NamespaceState.EXCEPTED
    assert {v.exception for v in result.violations} == {"OPS-9 open"}
    assert "NetworkPolicy open (OPS-9 open)" in result.message
    # One rule listed, the other not: still weakened by the other.
    partly = assessed_at(NOON, open_all, entry=listing(grant("open", "no-peers")))
    assert partly.state == NamespaceState.DRIFTED
    assert {v.rule for v in partly.weakened} == {Rule.NO_PORTS}
    # Another namespace's or another policy's entry covers nothing here.
    other = {**grant("open", "no-peers", "no-ports"), "namespace": "team-b"}
    assert assessed_at(NOON, open_all, entry=listing(other)).state == NamespaceState.DRIFTED


def test_an_expired_listed_exception_stops_counting_and_says_so() -> None:
    open_all = policy_body("open", ingress=ALLOW_ALL)
    entry = listing(grant("open", "no-peers", "no-ports", expires="2026-12-07T12:00:00Z"))
    before = assessed_at(NOON - timedelta(milliseconds=1), open_all, entry=entry)
    after = assessed_at(NOON, open_all, entry=entry)
    assert before.state == NamespaceState.EXCEPTED
    assert after.state == NamespaceState.DRIFTED
    assert {v.lapsed for v in after.weakened} == {"OPS-9 open (expired 2026-12-07T12:00:00Z)"}
    assert "exception expired for open: OPS-9 open (expired 2026-12-07T12:00:00Z)" in after.message

    def as_record(result: Assessment) -> Record:
        return Record(profile="base", state=result.state, violations=frozenset(result.violations))

    # The Warning comes once, with the change; a restart (no old record) posts nothing.
    changed = events(as_record(before), as_record(after))
    assert ("ExceptionExpired", WARNING) in changed
    assert ("GuardrailViolated", WARNING) in changed
    assert events(as_record(after), as_record(after)) == []
    assert events(None, as_record(after)) == []


def test_a_listed_exception_leaves_its_policy_out_of_the_sums_of_its_rules() -> None:
    def egress(name: str, cidr: str) -> dict[str, Any]:
        body = policy_body(name)
        body["spec"] = {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"port": 443}]}],
        }
        return body

    low, high = egress("low", "10.0.0.0/8"), egress("high", "11.0.0.0/8")
    together = assessed_at(NOON, low, high, entry=profile())
    assert {(v.policy, v.rule) for v in together.weakened} == {
        ("low", Rule.BROAD_CIDR),
        ("high", Rule.BROAD_CIDR),
    }
    granted = assessed_at(NOON, low, high, entry=listing(grant("high", "broad-cidr")))
    assert granted.state == NamespaceState.ISOLATED
    # Granted for another rule only: the sum still counts it.
    other = assessed_at(NOON, low, high, entry=listing(grant("high", "no-ports")))
    assert {v.policy for v in other.weakened} == {"low", "high"}


def test_the_profile_status_names_the_first_weakened_namespaces_with_their_exposure() -> None:
    weakened = assessed(policy_body("open", ingress=ALLOW_ALL), policy_body("web", ingress=NARROW))
    # Only what the weakening policy takes part in: not the narrow policy, not netiso's DNS.
    assert weakened.weakened_exposure == (
        "reachable from everywhere on every port of every protocol",
    )
    assert assessed(policy_body("web", ingress=NARROW)).weakened_exposure == ()
    record = Record(
        profile="base",
        state=weakened.state,
        violations=frozenset(weakened.violations),
        exposure=weakened.weakened_exposure,
    )
    records = {f"ns-{index:02d}": record for index in range(12)}
    records["clean"] = Record(profile="base", state=NamespaceState.ISOLATED)
    shown = shown_exposures(records)
    assert [name for name, _ in shown] == [f"ns-{index:02d}" for index in range(10)]
    tally = replace(tallies_by_profile(records.values())["base"], exposures=shown)
    status = profile_status(generation=1, tally=tally, problems=(), previous=None, now=NOON)
    assert status["weakened"] == 12
    assert status["weakenedNamespaces"][0] == {
        "namespace": "ns-00",
        "exposure": ["reachable from everywhere on every port of every protocol"],
    }
    assert len(status["weakenedNamespaces"]) == 10
    # None weakened: the field goes (a merge patch removes it; absent compares equal).
    clean = tallies_by_profile([records["clean"]])["base"]
    assert (
        profile_status(generation=1, tally=clean, problems=(), previous=None, now=NOON)[
            "weakenedNamespaces"
        ]
        is None
    )
