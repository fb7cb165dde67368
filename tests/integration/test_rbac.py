"""netiso needs every permission of the shipped ClusterRole, and none is missing.

Baseline: the operator, as a plain user bound to exactly manifests/rbac.yaml's ClusterRole,
goes through every user-visible step of ship_scenario (opt in, Events, status, profile edit,
repair of deleted and edited policies, opt-out, refusing a foreign policy, profile deletion,
and a CRD installed after start), each within WINDOW seconds.

Ablation: once per permission, the operator runs under the role minus that permission. The
granularity is one verb on one resource, the smallest grant RBAC has short of resourceNames:
a rule's verbs are separate API permissions, so proving a rule needed as a whole would let an
unneeded verb hide behind a needed one. Each permission names the steps that must still work
without it (so the failure is that permission's, not a broken operator) and the one step that
must then fail. The API server confirms (SubjectAccessReview) that exactly that permission is
missing before the operator starts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import pytest
from kubernetes import client

from netiso_devkit.harness import (
    OperatorProcess,
    grant_lease_rbac,
    grant_operator_rbac,
    install_crd,
    operator_cluster_role,
    operator_lease_role,
)
from netiso_devkit.localcluster.controlplane import ControlPlane

from .conftest import MakeNamespace, unique_name
from .ship_cluster import create_profile, holds_within, managed_in, remove_profile
from .ship_keeper import KEEPER_STEPS, KeeperScenario, remove_everything_kept
from .ship_rbac import Permission, permissions, revoke, rules_without, wait_until_authorized
from .ship_scenario import CRD_LATE_STEPS, STEPS, Scenario, uninstall_crd

pytestmark = pytest.mark.integration

# How long a step may take before it counts as not happening. Every step is event-driven and
# takes well under a second with the full role; the baseline holds each step to this same
# bound, so a step that fails in an ablation had many times what the full role needed.
WINDOW: Final = 6.0
# Resync far beyond any run here: a periodic re-check must not stand in for a missing watch.
# Statuses written as soon as they change: a condition's step measures the watch behind it,
# not the per-profile write throttle.
OPERATOR_ENV: Final = {"NETISO_RESYNC_INTERVAL": "3600", "NETISO_STATUS_INTERVAL": "1"}

ROLE_RULES: Final[list[dict[str, Any]]] = operator_cluster_role()["rules"]
PERMISSIONS: Final = permissions(ROLE_RULES)


@dataclass(frozen=True)
class Proof:
    """What one permission is for: `needs` still work without it, then `fails` fails."""

    needs: tuple[str, ...]
    fails: str
    why: str
    crd_late: bool = False
    # Run with the admission keeper on, through ship_keeper's steps.
    keeper: bool = False


def steps_of(proof: Proof) -> tuple[str, ...]:
    """The steps a proof's run goes through."""
    if proof.keeper:
        return KEEPER_STEPS
    return CRD_LATE_STEPS if proof.crd_late else STEPS


NEEDS_POLICIES: Final = ("ready", "isolates")
NEEDS_DEPENDENCIES: Final = (*NEEDS_POLICIES, "reports_dependencies")

PROOFS: Final[dict[str, Proof]] = {
    "namespaces:list": Proof(
        (),
        "ready",
        "the startup listing of opted-in namespaces (netiso's, and Kopf's before its watch) is "
        "refused: nothing is reconciled and /readyz stays 503",
    ),
    "namespaces:watch": Proof(
        ("ready",),
        "watches_without_refusals",
        "Kopf's namespace watch is refused; it falls back to re-listing in a loop",
    ),
    "networkpolicies.networking.k8s.io:list": Proof(
        (),
        "ready",
        "the startup listing of managed policies is refused: nothing is reconciled and "
        "/readyz stays 503 (the same verb reads one policy by name after a refused create)",
    ),
    "networkpolicies.networking.k8s.io:watch": Proof(
        NEEDS_POLICIES,
        "repairs_deleted_policy",
        "a managed policy deleted by hand is noticed only through Kopf's watch",
    ),
    "networkpolicies.networking.k8s.io:create": Proof(
        ("ready",),
        "isolates",
        "new policies are POSTed (never applied, so a foreign namesake is not taken over)",
    ),
    "networkpolicies.networking.k8s.io:update": Proof(
        NEEDS_POLICIES,
        "follows_profile_edits",
        "existing policies are replaced whole (PUT), so nothing someone else added survives",
    ),
    "networkpolicies.networking.k8s.io:delete": Proof(
        NEEDS_POLICIES,
        "opt_out_removes_policies",
        "opting out prunes the namespace's managed policies",
    ),
    "isolationprofiles.netiso.io:list": Proof(
        (),
        "ready",
        "the startup listing of profiles is refused: nothing is reconciled and /readyz stays 503",
    ),
    "isolationprofiles.netiso.io:get": Proof(
        (),
        "keeps_guardrails",
        "the API server lets only a user who may get every IsolationProfile create a policy "
        "that takes them as parameters: netiso-guardrails is refused",
        keeper=True,
    ),
    "isolationprofiles.netiso.io:watch": Proof(
        ("ready",),
        "watches_without_refusals",
        "Kopf's profile watch is refused; it falls back to re-listing in a loop",
    ),
    "isolationprofiles.netiso.io:patch": Proof(
        NEEDS_POLICIES,
        "profile_deletion_removes_policies",
        "Kopf patches its finalizer onto the profile; without it the profile vanishes at once "
        "and onDelete: Delete cannot remove the policies",
    ),
    "isolationprofiles/status.netiso.io:patch": Proof(
        NEEDS_POLICIES,
        "writes_status",
        "the profile status (counts, conditions) is a merge patch of /status",
    ),
    "events:create": Proof(
        NEEDS_POLICIES,
        "posts_events",
        "netiso POSTs its Events (Isolated, DriftDetected, ...)",
    ),
    "pods:list": Proof(
        NEEDS_POLICIES,
        "reports_dependencies",
        "the dependency tracker lists the DNS namespace's pods before it judges the profile: "
        "refused, DependenciesResolved is Unknown (DependenciesUnreadable)",
    ),
    "pods:watch": Proof(
        NEEDS_DEPENDENCIES,
        "follows_dependencies",
        "a DNS pod that appears is seen only through the pod watch: the condition keeps "
        "saying DnsNoReadyEndpoint",
    ),
    "services:list": Proof(
        NEEDS_POLICIES,
        "reports_dependencies",
        "the tracker lists the DNS namespace's Services: refused, the condition is Unknown",
    ),
    "services:watch": Proof(
        NEEDS_DEPENDENCIES,
        "follows_dependencies",
        "a DNS Service that appears is seen only through the Service watch: the condition "
        "keeps saying DnsServiceNotFound",
    ),
    "endpointslices.discovery.k8s.io:list": Proof(
        NEEDS_POLICIES,
        "reports_dependencies",
        "the tracker lists the DNS namespace's EndpointSlices: refused, the condition is "
        "Unknown (the same verb reads the default/kubernetes slices an apiServer allow admits: "
        "refused, that allow admits nothing, test_api_server_access.py)",
    ),
    "endpointslices.discovery.k8s.io:watch": Proof(
        NEEDS_DEPENDENCIES,
        "follows_dependencies",
        "the DNS Service's endpoints are seen only through the EndpointSlice watch: the "
        "condition keeps saying DnsNoReadyEndpoint",
    ),
    "customresourcedefinitions.apiextensions.k8s.io:list": Proof(
        CRD_LATE_STEPS[:1],
        CRD_LATE_STEPS[1],
        "Kopf lists and watches CRDs to learn that the IsolationProfile API appeared",
        crd_late=True,
    ),
    "customresourcedefinitions.apiextensions.k8s.io:watch": Proof(
        CRD_LATE_STEPS[:1],
        CRD_LATE_STEPS[1],
        "Kopf learns of a CRD change only through the CRD watch",
        crd_late=True,
    ),
    "validatingadmissionpolicies.admissionregistration.k8s.io:list": Proof(
        (),
        "keeps_guardrails",
        "the keeper lists the policies before it writes any: nothing is installed",
        keeper=True,
    ),
    "validatingadmissionpolicies.admissionregistration.k8s.io:watch": Proof(
        ("keeps_guardrails", "binds_new_profile", "follows_profile_action"),
        "restores_deleted_policy",
        "a policy deleted by hand is noticed only through the policy watch",
        keeper=True,
    ),
    "validatingadmissionpolicies.admissionregistration.k8s.io:create": Proof(
        (),
        "keeps_guardrails",
        "missing policies are POSTed",
        keeper=True,
    ),
    "validatingadmissionpolicies.admissionregistration.k8s.io:update": Proof(
        ("keeps_guardrails", "binds_new_profile", "follows_profile_action"),
        "restores_edited_policy",
        "a changed policy is replaced whole (PUT)",
        keeper=True,
    ),
    "validatingadmissionpolicybindings.admissionregistration.k8s.io:list": Proof(
        (),
        "keeps_guardrails",
        "the keeper lists the bindings before it writes any: nothing is installed",
        keeper=True,
    ),
    "validatingadmissionpolicybindings.admissionregistration.k8s.io:watch": Proof(
        KEEPER_STEPS[:5],
        "restores_deleted_binding",
        "a binding deleted by hand is noticed only through the binding watch",
        keeper=True,
    ),
    "validatingadmissionpolicybindings.admissionregistration.k8s.io:create": Proof(
        (),
        "keeps_guardrails",
        "missing bindings are POSTed",
        keeper=True,
    ),
    "validatingadmissionpolicybindings.admissionregistration.k8s.io:update": Proof(
        ("keeps_guardrails", "binds_new_profile"),
        "follows_profile_action",
        "a profile's binding follows its action by a replace (PUT)",
        keeper=True,
    ),
    "validatingadmissionpolicybindings.admissionregistration.k8s.io:delete": Proof(
        KEEPER_STEPS[:6],
        "removes_binding_of_deleted_profile",
        "the binding of a deleted profile is deleted",
        keeper=True,
    ),
}


@dataclass
class Run:
    """One operator under one set of rules, with its scenario."""

    operator: OperatorProcess
    scenario: Scenario | KeeperScenario


class StartOperator(Protocol):
    """run_operator(without=None, *, crd_late=False, keeper=False) -> Run."""

    def __call__(
        self, without: Permission | None = ..., *, crd_late: bool = ..., keeper: bool = ...
    ) -> Run: ...


@pytest.fixture
def run_operator(
    control_plane: ControlPlane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    tmp_path: Path,
) -> Iterator[StartOperator]:
    """run_operator(without=None, crd_late=False) -> Run: an operator as a fresh user bound to
    the shipped rules minus `without`; stopped, its profile removed and its role revoked after
    the test (and the CRD reinstalled if the run started without it)."""
    started: list[tuple[Run, str, bool]] = []

    def start(
        without: Permission | None = None, *, crd_late: bool = False, keeper: bool = False
    ) -> Run:
        install_crd(kube_api)
        if keeper:
            remove_everything_kept(kube_api)
        user = unique_name("netiso-rbac")
        rules = ROLE_RULES if without is None else rules_without(ROLE_RULES, without)
        role = grant_operator_rbac(kube_api, user=user, rules=rules)
        wait_until_authorized(
            kube_api,
            user=user,
            granted=[p for p in PERMISSIONS if p != without],
            denied=[without] if without else [],
        )
        if crd_late:
            uninstall_crd(kube_api)
        operator = OperatorProcess(
            kubeconfig=control_plane.user_kubeconfig(user),
            log_path=tmp_path / f"{user}.log",
            env={**OPERATOR_ENV, "NETISO_ADMISSION": "on" if keeper else "off"},
        ).start(wait_ready=False)
        scenario: Scenario | KeeperScenario = (
            KeeperScenario(api=kube_api, operator=operator, window=WINDOW)
            if keeper
            else Scenario(
                api=kube_api, operator=operator, make_namespace=make_namespace, window=WINDOW
            )
        )
        run = Run(operator=operator, scenario=scenario)
        started.append((run, role, crd_late))
        return run

    yield start
    for run, role, crd_late in started:
        run.operator.stop()
        run.scenario.cleanup()
        revoke(kube_api, role)
        if crd_late:
            install_crd(kube_api)


def test_every_permission_of_the_cluster_role_has_a_proof() -> None:
    """A new verb in rbac.yaml needs a proof here; a proof without its verb is stale."""
    assert sorted(PROOFS) == sorted(p.id for p in PERMISSIONS)
    for proof in PROOFS.values():
        steps = steps_of(proof)
        assert all(step in steps for step in proof.needs), proof
        assert proof.fails in steps, proof


def test_shipped_role_passes_every_step(run_operator: StartOperator) -> None:
    run = run_operator()
    failures = {step: run.scenario.run(step) for step in STEPS}
    assert {step: f for step, f in failures.items() if f} == {}, run.operator.log()
    code = run.operator.stop()
    assert code == 0, f"operator exited with {code}:\n{run.operator.log()}"


def test_shipped_role_keeps_the_guardrails(run_operator: StartOperator) -> None:
    run = run_operator(keeper=True)
    failures = {step: run.scenario.run(step) for step in KEEPER_STEPS}
    assert {step: f for step, f in failures.items() if f} == {}, run.operator.log()
    code = run.operator.stop()
    assert code == 0, f"operator exited with {code}:\n{run.operator.log()}"


def test_shipped_role_serves_a_crd_installed_after_start(run_operator: StartOperator) -> None:
    run = run_operator(crd_late=True)
    for step in CRD_LATE_STEPS:
        failure = run.scenario.run(step)
        assert failure is None, f"{step}: {failure}\n{run.operator.log()}"
    code = run.operator.stop()
    assert code == 0, f"operator exited with {code}:\n{run.operator.log()}"


@pytest.mark.parametrize("permission", PERMISSIONS, ids=lambda p: p.id)
def test_without_the_permission_its_behaviour_fails(
    permission: Permission, run_operator: StartOperator
) -> None:
    proof = PROOFS[permission.id]
    run = run_operator(permission, crd_late=proof.crd_late, keeper=proof.keeper)
    for step in proof.needs:
        failure = run.scenario.run(step)
        assert failure is None, (
            f"without {permission.id}, {step} must still work (else the proof below proves "
            f"nothing): {failure}\n{run.operator.log()}"
        )
    failure = run.scenario.run(proof.fails)
    # Shown with `pytest -rP`: which behaviour each permission proved, in the user's terms.
    print(f"without {permission.id}: {proof.fails} fails ({proof.why}): {failure}")
    assert failure is not None, (
        f"without {permission.id}, {proof.fails} still works: {proof.why} does not hold, and "
        "the ClusterRole grants more than netiso needs"
    )


# --- the leader election Role ----------------------------------------------------------------

LEASE_ROLE: Final = operator_lease_role()
LEASE_PERMISSIONS: Final = permissions(LEASE_ROLE["rules"])
# Short terms (4/3/0.5 s) so a lapsed renewal shows within seconds; the rule is the same.
LEASE_ENV: Final = {
    **OPERATOR_ENV,
    "NETISO_LEASE_DURATION": "4",
    "NETISO_RENEW_DEADLINE": "3",
    "NETISO_RETRY_PERIOD": "0.5",
}


@dataclass(frozen=True)
class LeaseProof:
    """What a Lease permission is for: without it the replica never leads, or leads for its
    first term only."""

    first_term: bool
    why: str


LEASE_PROOFS: Final[dict[str, LeaseProof]] = {
    "leases.coordination.k8s.io:get": LeaseProof(
        False, "every round starts by reading the Lease; refused, the replica never leads"
    ),
    "leases.coordination.k8s.io:create": LeaseProof(
        False, "the first replica creates the Lease; refused, nobody ever leads"
    ),
    "leases.coordination.k8s.io:update": LeaseProof(
        True,
        "renewals are updates; refused, the replica leads for the term it created and is "
        "fenced at the renew deadline",
    ),
}


class StartLeaseOperator(Protocol):
    """lease_operator(without=None) -> (operator, profile)."""

    def __call__(self, without: Permission | None = ...) -> tuple[OperatorProcess, str]: ...


@pytest.fixture
def lease_operator(
    control_plane: ControlPlane, kube_api: client.ApiClient, tmp_path: Path
) -> Iterator[StartLeaseOperator]:
    """An operator under the shipped ClusterRole and the leader election Role minus `without`,
    with a profile of its own; both removed after the test."""
    started: list[tuple[OperatorProcess, str, str]] = []

    def start(without: Permission | None = None) -> tuple[OperatorProcess, str]:
        install_crd(kube_api)
        user = unique_name("netiso-lease")
        role = grant_operator_rbac(kube_api, user=user)
        rules = (
            LEASE_ROLE["rules"] if without is None else rules_without(LEASE_ROLE["rules"], without)
        )
        grant_lease_rbac(kube_api, user=user, rules=rules)
        wait_until_authorized(
            kube_api,
            user=user,
            granted=[p for p in LEASE_PERMISSIONS if p != without],
            denied=[without] if without else [],
            namespace=LEASE_ROLE["metadata"]["namespace"],
        )
        profile = unique_name("lease")
        create_profile(kube_api, profile)
        operator = OperatorProcess(
            kubeconfig=control_plane.user_kubeconfig(user),
            log_path=tmp_path / f"{user}.log",
            env=LEASE_ENV,
        ).start()
        started.append((operator, role, profile))
        return operator, profile

    yield start
    for operator, role, profile in started:
        operator.stop()
        remove_profile(kube_api, profile)
        revoke(kube_api, role)


def test_every_permission_of_the_lease_role_has_a_proof() -> None:
    assert sorted(LEASE_PROOFS) == sorted(p.id for p in LEASE_PERMISSIONS)


def leads(operator: OperatorProcess) -> bool:
    return operator.metric("netiso_leader") == 1.0


def test_with_the_lease_role_the_operator_leads_past_many_renewals(
    lease_operator: StartLeaseOperator, kube_api: client.ApiClient, make_namespace: MakeNamespace
) -> None:
    operator, profile = lease_operator()
    assert holds_within(WINDOW, lambda: leads(operator))
    time.sleep(3 * 3.0)  # three renew deadlines
    assert leads(operator), operator.log()
    ns = make_namespace("lease-ok", labels={"netiso.io/profile": profile})
    assert holds_within(WINDOW, lambda: managed_in(kube_api, ns)), operator.log()


@pytest.mark.parametrize("permission", LEASE_PERMISSIONS, ids=lambda p: p.id)
def test_without_a_lease_permission_the_operator_stops_writing(
    permission: Permission,
    lease_operator: StartLeaseOperator,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
) -> None:
    proof = LEASE_PROOFS[permission.id]
    operator, profile = lease_operator(permission)
    if proof.first_term:
        # The first term may end before the operator is even ready: read it from the log.
        assert holds_within(WINDOW, lambda: "no longer the leader" in operator.log())
        assert "is now the leader" in operator.log()
    # Never (again) the leader, so nothing is isolated.
    assert not holds_within(WINDOW, lambda: leads(operator)), operator.log()
    ns = make_namespace("lease-no", labels={"netiso.io/profile": profile})
    isolated = holds_within(WINDOW, lambda: managed_in(kube_api, ns))
    print(f"without {permission.id}: nothing isolated ({proof.why})")
    assert not isolated, f"without {permission.id} the operator still wrote: {proof.why}"
