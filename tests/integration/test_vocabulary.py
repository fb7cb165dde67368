"""One vocabulary on the real API server: for every kind of drift, the metric, the profile
status, `netiso status` and `netiso diff` name the same state and the same reason.

The operator runs as users run it; each case puts one namespace in one state (a managed policy
deleted or changed under Report, a namesake, a policy wearing netiso's label, a guardrail
violation, a platform exception, a missing profile, DryRun) and reads what each signal says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from netiso import conventions
from netiso_devkit.harness import GROUP, PLURAL, VERSION, OperatorProcess, parse_metrics, wait_for
from netiso_devkit.processes import WaitTimeout

from .conftest import MakeNamespace, unique_name
from .ship_cluster import label_namespace, netiso_cli

pytestmark = pytest.mark.integration

DENY = "netiso-default-deny"
ALLOW_ALL: dict[str, Any] = {"podSelector": {}, "ingress": [{}]}


@dataclass(frozen=True)
class World:
    """What a case may use to set its namespace up."""

    api: client.ApiClient
    make_namespace: MakeNamespace
    profiles: Any
    cleanups: list[Callable[[], None]]

    def opted_in(self, prefix: str, **spec: Any) -> tuple[str, str]:
        profile = self.profiles(prefix, **spec)
        ns = self.make_namespace(prefix, labels={conventions.PROFILE_LABEL: profile})
        wait_for(f"{DENY} in {ns}", lambda: DENY in policy_names(self.api, ns))
        return ns, profile

    def create(self, ns: str, name: str, spec: dict[str, Any], **metadata: Any) -> None:
        client.NetworkingV1Api(self.api).create_namespaced_network_policy(
            ns, {"metadata": {"name": name, **metadata}, "spec": spec}
        )


def policy_names(api: client.ApiClient, ns: str) -> set[str]:
    items = client.NetworkingV1Api(api).list_namespaced_network_policy(ns).items
    return {str(item.metadata.name) for item in items}


def missing(world: World) -> tuple[str, str]:
    ns, profile = world.opted_in("missing", driftAction="Report")
    client.NetworkingV1Api(world.api).delete_namespaced_network_policy(DENY, ns)
    return ns, profile


def modified(world: World) -> tuple[str, str]:
    ns, profile = world.opted_in("modified", driftAction="Report")
    client.NetworkingV1Api(world.api).patch_namespaced_network_policy(
        DENY, ns, {"spec": {"policyTypes": ["Ingress"]}}
    )
    return ns, profile


def conflict(world: World) -> tuple[str, str]:
    profile = world.profiles("conflict")
    ns = world.make_namespace("conflict")
    world.create(ns, DENY, {**ALLOW_ALL, "egress": [{}]})
    label_namespace(world.api, ns, profile=profile)
    return ns, profile


def foreign_claims_managed(world: World) -> tuple[str, str]:
    ns, profile = world.opted_in("claims")
    labels = {conventions.MANAGED_BY_LABEL: conventions.MANAGED_BY_VALUE}
    world.create(ns, "netiso-impostor", ALLOW_ALL, labels=labels)
    return ns, profile


def violation(world: World) -> tuple[str, str]:
    ns, profile = world.opted_in("violation")
    world.create(ns, "allow-all", ALLOW_ALL)
    return ns, profile


def excepted(world: World) -> tuple[str, str]:
    ns, profile = world.opted_in("excepted")
    world.create(
        ns, "allow-all", ALLOW_ALL, annotations={conventions.EXCEPTION_ANNOTATION: "OPS-3"}
    )
    return ns, profile


def unexpected(world: World) -> tuple[str, str]:
    gateway = {
        "enabled": True,
        "namespaces": ["ingress"],
        "allPods": True,
        "ports": [{"port": 8080}],
    }
    ns, profile = world.opted_in("unexpected", driftAction="Report", gateway=gateway)
    gate = "netiso-allow-gateway-ingress"
    wait_for(f"{gate} in {ns}", lambda: gate in policy_names(world.api, ns))
    # Edited, then no longer wanted: under Report netiso leaves it and says so.
    client.NetworkingV1Api(world.api).patch_namespaced_network_policy(
        gate, ns, {"spec": {"ingress": [{"ports": [{"port": 8081}]}]}}
    )
    client.CustomObjectsApi(world.api).patch_cluster_custom_object(
        GROUP, VERSION, PLURAL, profile, {"spec": {"gateway": {**gateway, "enabled": False}}}
    )
    return ns, profile


def protected(world: World) -> tuple[str, str]:
    profile = world.profiles("protected")
    label_namespace(world.api, "kube-system", profile=profile)
    world.cleanups.append(lambda: label_namespace(world.api, "kube-system", profile=None))
    return "kube-system", profile


def missing_profile(world: World) -> tuple[str, str]:
    profile = unique_name("absent")
    return world.make_namespace("orphan", labels={conventions.PROFILE_LABEL: profile}), profile


def dry_run(world: World) -> tuple[str, str]:
    profile = world.profiles("dryrun", mode="DryRun")
    return world.make_namespace("dryrun", labels={conventions.PROFILE_LABEL: profile}), profile


@dataclass(frozen=True)
class Case:
    setup: Callable[[World], tuple[str, str]]
    state: str
    drifts: frozenset[str]
    # The profile status count that must hold this namespace (None: no profile to hold it).
    counted: str | None


CASES: dict[str, Case] = {
    "missing": Case(missing, "drifted", frozenset({f"{DENY}:missing"}), "drifted"),
    "modified": Case(modified, "drifted", frozenset({f"{DENY}:modified"}), "drifted"),
    "conflict": Case(conflict, "error", frozenset({f"{DENY}:conflict"}), "errors"),
    "foreign_claims_managed": Case(
        foreign_claims_managed,
        "drifted",
        frozenset({"netiso-impostor:foreign_claims_managed"}),
        "drifted",
    ),
    "unexpected": Case(
        unexpected,
        "drifted",
        frozenset({"netiso-allow-gateway-ingress:unexpected"}),
        "drifted",
    ),
    "protected": Case(protected, "protected", frozenset(), None),
    "violation": Case(violation, "drifted", frozenset(), "weakened"),
    "excepted": Case(excepted, "excepted", frozenset(), "guardrailExceptions"),
    "missing_profile": Case(missing_profile, "missing_profile", frozenset(), None),
    "dry_run": Case(dry_run, "dry_run", frozenset(), "pendingChanges"),
}


def metric_view(operator: OperatorProcess, ns: str, profile: str) -> tuple[str, frozenset[str]]:
    """(state, {policy:reason}) of `ns` as /metrics says: the state of its
    netiso_namespace_out_of_sync series, which netiso_namespaces must count under the same
    profile label; netiso_namespaces{profile} alone for states without such a series (the
    profile holds this namespace alone)."""
    samples = parse_metrics(operator.metrics_text())
    own: dict[str, str] = {}
    drifts = set()
    for (name, labels), value in samples.items():
        found = dict(labels)
        if found.get("namespace") != ns or not value:
            continue
        if name == "netiso_namespace_out_of_sync":
            own[found["state"]] = found["profile"]
        if name == "netiso_policy_drift":
            drifts.add(f"{found['policy']}:{found['reason']}")
    # A namespace whose profile does not exist is counted under profile="unknown".
    label = next(iter(own.values()), profile)
    counted = {
        dict(labels)["state"]
        for (name, labels), value in samples.items()
        if name == "netiso_namespaces" and dict(labels).get("profile") == label and value
    }
    if not own:
        state = ",".join(sorted(counted)) or "no series"
    elif set(own) <= counted:
        state = ",".join(sorted(own))
    else:
        state = f"disagree: {sorted(own)} not counted in {sorted(counted)}"
    return state, frozenset(drifts)


def test_every_state_the_product_knows_has_a_case() -> None:
    from netiso.observed.drifts import DriftReason
    from netiso.observed.entries import NamespaceState

    shown = {case.state for case in CASES.values()} | {"isolated"}
    # RELEASED has no series and no row: the namespace is not netiso's any more.
    assert {str(state) for state in NamespaceState} - {str(NamespaceState.RELEASED)} <= shown
    reasons = {drift.split(":")[1] for case in CASES.values() for drift in case.drifts}
    assert {str(reason) for reason in DriftReason} <= reasons


@pytest.mark.parametrize("kind", list(CASES))
def test_metric_status_and_cli_name_the_same_state_and_reason(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
    admin_kubeconfig: Path,
    kind: str,
) -> None:
    case = CASES[kind]
    cleanups: list[Callable[[], None]] = []
    world = World(kube_api, make_namespace, profiles, cleanups)
    try:
        check(operator, kube_api, admin_kubeconfig, case=case, world=world)
    finally:
        for cleanup in cleanups:
            cleanup()


def check(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    admin_kubeconfig: Path,
    *,
    case: Case,
    world: World,
) -> None:
    """Set the case up, then compare what each signal says."""
    ns, profile = case.setup(world)
    try:
        wait_for(
            "the metric", lambda: metric_view(operator, ns, profile) == (case.state, case.drifts)
        )
    except WaitTimeout:
        assert metric_view(operator, ns, profile) == (case.state, case.drifts)
    (row,) = json.loads(netiso_cli(admin_kubeconfig, "status", "-n", ns, "-o", "json").stdout)[
        "items"
    ]
    (report,) = json.loads(netiso_cli(admin_kubeconfig, "diff", "-n", ns, "-o", "json").stdout)[
        "items"
    ]
    assert (row["state"], frozenset(row["drift"].split(",")) - {"-"}) == (case.state, case.drifts)
    assert (report["state"], frozenset(report["reportedDrift"])) == (case.state, case.drifts)
    if case.counted is not None:
        custom = client.CustomObjectsApi(kube_api)

        def counted() -> bool:
            status = custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, profile)
            return bool((status.get("status") or {}).get(case.counted))

        wait_for(f"{case.counted} in the profile status", counted)
