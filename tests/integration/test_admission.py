"""Guardrails at admission, on the real API server: the shipped ValidatingAdmissionPolicies.

Every case of the shared table (tests/unit/model/guardrail_cases.py) goes through the API
server's CEL and through guardrails.violations(), and the two must agree rule by rule and path
by path. Each action is shown (Deny rejects, Warn admits with a warning, Audit admits; both
record the failure in the API server's audit log, as they record every exception), and the
protections: only netiso's service account may touch managed policies, a tenant bound to
`edit` may not, opting out is restricted to the platform group, and namespace deletion still
empties the namespace. Requests go through kubectl, so the test sees what a user sees.

The control plane is shared with the other integration tests: every binding here is narrowed to
namespaces carrying this module's run label, and everything is removed at the end.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from netiso import conventions
from netiso.model.guardrails import shown_paths, violations
from netiso.model.parsing import parse_profile
from netiso.model.problems import ProfileError
from netiso.rendering.validations import (
    BASELINE_BINDING,
    RESERVED_NAMES,
    admission_policies,
    baseline_binding,
    binding_name,
    profile_binding,
    protection_bindings,
)
from netiso_devkit.harness import GROUP, PLURAL, VERSION, install_crd, wait_for
from netiso_devkit.localcluster.controlplane import ControlPlane
from netiso_devkit.processes import WaitTimeout
from tests.unit.model.guardrail_cases import CASES, GOOD_RULE, Case, egress

from .conftest import MakeNamespace, MakeUserKubeconfig, unique_name

pytestmark = pytest.mark.integration

RUN_LABEL = "admission-test.netiso.io/run"
RUN = uuid.uuid4().hex[:8]
WARNING = re.compile(r'netiso guardrail "([a-z-]+)" at (.+?): ')
MANAGED = {conventions.MANAGED_BY_LABEL: conventions.MANAGED_BY_VALUE}
PLATFORM_GROUP = "platform-team"
RBAC_GROUP = "rbac.authorization.k8s.io"
BREAK_GLASS = Path(__file__).resolve().parents[2] / "manifests" / "admission" / "break-glass.yaml"
BREAK_GLASS_ROLE = "netiso-break-glass"
BREAKS_ALL = next(case for case in CASES if case.id == "everything-at-once").spec
VIOLATING = egress({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]})


@dataclass(frozen=True)
class User:
    """A test user: its name and a kubeconfig with its client certificate."""

    name: str
    kubeconfig: Path


@dataclass(frozen=True)
class Result:
    """What kubectl returned: admitted or not, the guardrail warnings, the error text."""

    admitted: bool
    warnings: dict[str, list[str]]
    stderr: str


def kubectl(
    plane: ControlPlane, kubeconfig: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(plane.binaries.kubectl), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def submit(
    plane: ControlPlane, kubeconfig: Path, verb: str, body: dict[str, Any], *, dry_run: bool = True
) -> Result:
    """`kubectl <verb> -f -` of one object; dry-run on the server unless told otherwise."""
    args = [verb, "-f", "-", *(["--dry-run=server"] if dry_run else [])]
    result = kubectl(plane, kubeconfig, *args, stdin=yaml.safe_dump(body))
    warnings: dict[str, list[str]] = {}
    for line in result.stderr.splitlines():
        if line.startswith("Warning:") and (match := WARNING.search(line)):
            warnings[match.group(1)] = match.group(2).split(", ")
    return Result(result.returncode == 0, warnings, result.stderr)


def network_policy(
    name: str,
    namespace: str,
    spec: dict[str, Any],
    *,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": dict(annotations or {}),
            "labels": dict(labels or {}),
        },
        "spec": spec,
    }


def profile_body(name: str, guardrails: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": conventions.API_VERSION,
        "kind": conventions.KIND,
        "metadata": {"name": name},
        "spec": {"guardrails": guardrails},
    }


def narrowed(binding: dict[str, Any]) -> dict[str, Any]:
    """The binding limited to this run's namespaces (the control plane is shared)."""
    match = binding["spec"].setdefault("matchResources", {})
    selector = match.setdefault("namespaceSelector", {})
    selector.setdefault("matchLabels", {})[RUN_LABEL] = RUN
    return binding


class Admission:
    """The shipped policies installed; creates guarded profiles, namespaces and users."""

    def __init__(
        self,
        *,
        plane: ControlPlane,
        api: client.ApiClient,
        make_namespace: MakeNamespace,
        user_kubeconfig: MakeUserKubeconfig,
    ) -> None:
        self.plane = plane
        self.admin = plane.admin_kubeconfig
        self.registration = client.AdmissionregistrationV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.rbac = client.RbacAuthorizationV1Api(api)
        self.make_namespace = make_namespace
        self.user_kubeconfig = user_kubeconfig
        self.profiles: list[str] = []
        self.bindings: list[str] = []
        # Cluster-wide grants made for test users (a ClusterRole and its binding, same name).
        self.grants: list[str] = []

    def apply_binding(self, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        try:
            existing = self.registration.read_validating_admission_policy_binding(name)
            body["metadata"]["resourceVersion"] = existing.metadata.resource_version
            self.registration.replace_validating_admission_policy_binding(name, body)
        except ApiException as error:
            if error.status != 404:
                raise
            self.registration.create_validating_admission_policy_binding(body)
            self.bindings.append(name)

    def guard(self, guardrails: dict[str, Any], *, prefix: str = "guard") -> str:
        """A profile with `guardrails`, its binding and a namespace that opted in; returns
        the namespace once admission enforces the binding."""
        name = unique_name(prefix)
        body = profile_body(name, guardrails)
        self.custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, body)
        self.profiles.append(name)
        self.apply_binding(narrowed(profile_binding(parse_profile(body))))
        namespace = self.make_namespace(
            prefix, labels={conventions.PROFILE_LABEL: name, RUN_LABEL: RUN}
        )
        self.wait_enforced(namespace, action=guardrails.get("action", "Warn"))
        return namespace

    def set_action(self, namespace: str, action: str) -> None:
        """Change the namespace's profile action and re-render its binding, as the operator
        keeps it in step; returns once admission acts on the new action."""
        profile = self.core.read_namespace(namespace).metadata.labels[conventions.PROFILE_LABEL]
        body = self.custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, profile)
        body["spec"]["guardrails"]["action"] = action
        body = self.custom.replace_cluster_custom_object(GROUP, VERSION, PLURAL, profile, body)
        self.apply_binding(narrowed(profile_binding(parse_profile(body))))
        self.wait_enforced(namespace, action=action)

    def wait_enforced(self, namespace: str, *, action: str, binding: str | None = None) -> None:
        """Return once `binding` (by default the binding of the namespace's profile) acts on
        the namespace with `action`."""
        # Breaks every rule, so some guardrail catches it whatever the profile turns off.
        probe = network_policy("probe", namespace, BREAKS_ALL)
        if binding is None:
            labels = self.core.read_namespace(namespace).metadata.labels
            binding = binding_name(labels[conventions.PROFILE_LABEL])
        # That binding must answer: the baseline binding another test leaves in place warns
        # about the same probe, and its warning proves nothing about this one.
        own = f"with binding '{binding}'"
        last: list[Result] = []

        def acting() -> bool:
            result = submit(self.plane, self.admin, "create", probe)
            last[:] = [result]
            if action == "Deny":
                return not result.admitted and own in result.stderr
            # Audit is silent: once the warning is gone, the Audit binding is the one in force.
            if action == "Warn":
                return result.admitted and own in result.stderr
            return result.admitted and own not in result.stderr

        try:
            wait_for(f"{action} binding enforced in {namespace}", acting, timeout=30)
        except WaitTimeout as error:
            raise AssertionError(f"{error}; last response: {last}") from error

    def tenant(self, namespace: str, *, groups: tuple[str, ...] = ()) -> User:
        """A non-admin user bound to `edit` in `namespace`, who may also label it (through the
        namespace and its status and finalize subresources)."""
        user = unique_name("tenant")
        self.rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": f"edit-{user}"},
                "roleRef": {
                    "apiGroup": RBAC_GROUP,
                    "kind": "ClusterRole",
                    "name": "edit",
                },
                "subjects": [{"apiGroup": RBAC_GROUP, "kind": "User", "name": user}],
            },
        )
        role = {
            "metadata": {"name": f"label-{user}"},
            "rules": [
                {
                    "apiGroups": [""],
                    # Every path that writes a Namespace's labels, so admission alone decides.
                    "resources": ["namespaces", "namespaces/status", "namespaces/finalize"],
                    "resourceNames": [namespace],
                    "verbs": ["get", "patch", "update"],
                }
            ],
        }
        self.rbac.create_cluster_role(role)
        self.grants.append(f"label-{user}")
        self.rbac.create_cluster_role_binding(
            {
                "metadata": {"name": f"label-{user}"},
                "roleRef": {
                    "apiGroup": RBAC_GROUP,
                    "kind": "ClusterRole",
                    "name": f"label-{user}",
                },
                "subjects": [{"apiGroup": RBAC_GROUP, "kind": "User", "name": user}],
            }
        )
        return User(user, self.rbac_ready(self.user_kubeconfig(user, groups), namespace))

    def operator(self, namespace: str) -> Path:
        """netiso's service account (by name, as a client certificate) with `edit` rights."""
        user = conventions.OPERATOR_USER
        self.rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": "edit-netiso-operator"},
                "roleRef": {
                    "apiGroup": RBAC_GROUP,
                    "kind": "ClusterRole",
                    "name": "edit",
                },
                "subjects": [{"apiGroup": RBAC_GROUP, "kind": "User", "name": user}],
            },
        )
        kubeconfig = self.user_kubeconfig(
            user, ("system:serviceaccounts", "system:serviceaccounts:netiso-system")
        )
        return self.rbac_ready(kubeconfig, namespace)

    def rbac_ready(self, kubeconfig: Path, namespace: str) -> Path:
        """`kubeconfig` once RBAC lets its user write NetworkPolicies in `namespace` (new
        bindings take a moment to reach the authorizer)."""

        def allowed() -> bool:
            args = ("auth", "can-i", "create", "networkpolicies", "-n", namespace)
            return kubectl(self.plane, kubeconfig, *args).stdout.strip() == "yes"

        wait_for(f"RBAC for {kubeconfig.name} in {namespace}", allowed, timeout=15)
        return kubeconfig

    def close(self) -> None:
        for name in self.bindings:
            self.registration.delete_validating_admission_policy_binding(name)
        for name in self.profiles:
            self.custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
        for name in self.grants:
            self.rbac.delete_cluster_role_binding(name)
            self.rbac.delete_cluster_role(name)


def aggregate_edit_role(rbac: client.RbacAuthorizationV1Api) -> list[Any] | None:
    """Give the built-in `edit` ClusterRole its rules, as the clusterrole-aggregation
    controller (not run by the local control plane) would; returns the rules it had before,
    or None if it had rules already."""
    edit = rbac.read_cluster_role("edit")
    if edit.rules:
        return None
    # `edit` aggregates the edit roles and, through `view`, the view roles.
    rules = [
        api_client_dict(rule)
        for level in ("edit", "view")
        for role in rbac.list_cluster_role(
            label_selector=f"rbac.authorization.k8s.io/aggregate-to-{level}=true"
        ).items
        if role.metadata.name.startswith("system:aggregate-to-")
        for rule in role.rules or []
    ]
    rbac.patch_cluster_role("edit", {"rules": rules})
    return []


def api_client_dict(rule: client.V1PolicyRule) -> dict[str, Any]:
    body: dict[str, Any] = client.ApiClient().sanitize_for_serialization(rule)
    return body


@pytest.fixture(scope="module")
def admission_session(
    control_plane: ControlPlane, kube_api: client.ApiClient
) -> Iterator[list[Admission]]:
    install_crd(kube_api)
    registration = client.AdmissionregistrationV1Api(kube_api)
    for policy in admission_policies():
        registration.create_validating_admission_policy(policy)
    rbac = client.RbacAuthorizationV1Api(kube_api)
    rbac.create_cluster_role(yaml.safe_load(BREAK_GLASS.read_text()))
    edit_rules = aggregate_edit_role(rbac)
    created: list[Admission] = []
    yield created
    for admission in created:
        admission.close()
    if edit_rules is not None:
        rbac.patch_cluster_role("edit", {"rules": edit_rules})
    for policy in admission_policies():
        registration.delete_validating_admission_policy(policy["metadata"]["name"])
    rbac.delete_cluster_role(BREAK_GLASS_ROLE)


@pytest.fixture
def admission(
    admission_session: list[Admission],
    control_plane: ControlPlane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    user_kubeconfig: MakeUserKubeconfig,
) -> Admission:
    made = Admission(
        plane=control_plane,
        api=kube_api,
        make_namespace=make_namespace,
        user_kubeconfig=user_kubeconfig,
    )
    admission_session.append(made)
    for binding in protection_bindings():
        made.apply_binding(narrowed(binding))
    return made


def case_policy(case: Case, namespace: str) -> dict[str, Any]:
    return network_policy(case.id, namespace, case.spec, annotations=case.annotations)


def by_rule(found: list[Any]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for violation in found:
        grouped.setdefault(str(violation.rule), []).append(violation.path)
    return grouped


def as_shown(grouped: dict[str, list[str]]) -> dict[str, list[str]]:
    """The paths of each rule as admission's message lists them (the first few, then a count)."""
    return {rule: shown_paths(paths).split(", ") for rule, paths in grouped.items()}


def test_cel_and_python_agree_on_every_case(admission: Admission) -> None:
    namespaces: dict[str, str] = {}
    for case in CASES:
        key = yaml.safe_dump(case.guardrails, sort_keys=True)
        if key not in namespaces:
            namespaces[key] = admission.guard(case.guardrails, prefix="agree")
        namespace = namespaces[key]
        guardrails = parse_profile(profile_body("p", case.guardrails)).guardrails
        python = violations(case_policy(case, namespace), guardrails, namespace=namespace)
        result = submit(admission.plane, admission.admin, "create", case_policy(case, namespace))
        assert result.admitted, f"{case.id}: {result.stderr}"
        # Evaluated, not given up on (a CEL error, such as the cost limit, is no verdict).
        assert "resulted in error" not in result.stderr, f"{case.id}: {result.stderr[:500]}"
        assert by_rule(python) == case.expected, case.id
        excepted = conventions.EXCEPTION_ANNOTATION in case.annotations
        # An exception lets the policy through silently; the violations stay on record.
        assert result.warnings == ({} if excepted else as_shown(by_rule(python))), case.id


ANNOTATED = next(case for case in CASES if case.id == "required-annotations")


def rule_cases() -> list[Case]:
    """One case per rule breaking only that rule, under default guardrails or ANNOTATED's."""
    picked: dict[str, Case] = {}
    for case in CASES:
        if (
            len(case.expected) == 1
            and case.guardrails in ({}, ANNOTATED.guardrails)
            and conventions.EXCEPTION_ANNOTATION not in case.annotations
        ):
            picked.setdefault(next(iter(case.expected)), case)
    return list(picked.values())


def test_each_action_on_each_guardrail(admission: Admission) -> None:
    namespace = admission.guard(ANNOTATED.guardrails, prefix="actions")
    annotated = {key: "team-a" for key in ANNOTATED.guardrails["requiredAnnotations"]}
    cases = rule_cases()
    assert {rule for case in cases for rule in case.expected} == {
        "broad-cidr",
        "all-namespaces",
        "no-peers",
        "no-ports",
        "named-port",
        "required-annotation",
    }

    def body(case: Case, action: str) -> dict[str, Any]:
        annotations = case.annotations or annotated
        name = f"{case.id}-{action.lower()}"
        return network_policy(name, namespace, case.spec, annotations=annotations)

    conforming = network_policy(
        "conforming", namespace, {"podSelector": {}, "ingress": [GOOD_RULE]}, annotations=annotated
    )
    excepted = network_policy(
        "excepted",
        namespace,
        VIOLATING,
        annotations={conventions.EXCEPTION_ANNOTATION: "SEC-7"},
    )
    for action in ("Warn", "Deny", "Audit"):
        if action != "Warn":
            admission.set_action(namespace, action)
        for case in cases:
            (rule,) = case.expected
            policy = body(case, action)
            result = submit(admission.plane, admission.admin, "create", policy)
            if action == "Deny":
                assert not result.admitted, f"{case.id} admitted under Deny"
                assert f'netiso guardrail "{rule}" at {case.expected[rule][0]}' in result.stderr
                assert "netiso.io/exception" in result.stderr
            elif action == "Warn":
                assert result.admitted, result.stderr
                assert result.warnings == case.expected
            else:
                assert result.admitted, result.stderr
                assert result.warnings == {}, case.id
            if action != "Deny":
                # Warn and Audit both record the failure, with the rule and path, in the audit log.
                failure = audit_annotation(
                    admission.plane,
                    policy,
                    key="validation.policy.admission.k8s.io/validation_failure",
                )
                assert f'netiso guardrail \\"{rule}\\" at {case.expected[rule][0]}' in failure
        for passing in (conforming, excepted):
            passing = {**passing, "metadata": {**passing["metadata"]}}
            passing["metadata"]["name"] += f"-{action.lower()}"
            result = submit(admission.plane, admission.admin, "create", passing)
            assert result.admitted, f"{action}: {result.stderr}"
            assert result.warnings == {}, f"{action}: {result.stderr}"
        # The exception is evidence: its reason is in the audit log whatever the action.
        recorded = audit_annotation(admission.plane, passing, key="netiso-guardrails/exception")
        assert recorded == "SEC-7"
    profile = admission.core.read_namespace(namespace).metadata.labels[conventions.PROFILE_LABEL]
    binding = admission.registration.read_validating_admission_policy_binding(binding_name(profile))
    assert binding.spec.validation_actions == ["Audit"]


def audit_annotation(plane: ControlPlane, policy: dict[str, Any], *, key: str) -> str:
    """The audit annotation `key` on the create of `policy`, once the API server logged it."""
    metadata = policy["metadata"]

    def logged() -> str | None:
        for line in plane.audit_log.read_text().splitlines():
            event = json.loads(line)
            ref = event.get("objectRef", {})
            if (
                event.get("stage") == "ResponseComplete"
                and event.get("verb") == "create"
                and (ref.get("namespace"), ref.get("name"))
                == (metadata["namespace"], metadata["name"])
                and key in event.get("annotations", {})
            ):
                value: str = event["annotations"][key]
                return value
        return None

    return wait_for(f"audit annotation {key} on {metadata['name']}", logged, timeout=10)


def test_managed_policies_are_netisos_alone(admission: Admission) -> None:
    namespace = admission.guard({}, prefix="managed")
    operator = admission.operator(namespace)
    tenant = admission.tenant(namespace)
    managed = network_policy(
        "netiso-default-deny",
        namespace,
        {"podSelector": {}, "policyTypes": ["Ingress"]},
        labels=MANAGED,
    )
    assert submit(admission.plane, operator, "create", managed, dry_run=False).admitted

    own = network_policy("mine", namespace, {"podSelector": {}, "ingress": [GOOD_RULE]})
    assert submit(admission.plane, tenant.kubeconfig, "create", own, dry_run=False).admitted
    for verb, body in (
        ("create", network_policy("disguised", namespace, VIOLATING, labels=MANAGED)),
        ("apply", {**own, "metadata": {**own["metadata"], "labels": MANAGED}}),
        ("apply", {**managed, "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}),
        ("apply", {**managed, "metadata": {**managed["metadata"], "labels": {}}}),
        ("delete", managed),
    ):
        result = submit(admission.plane, tenant.kubeconfig, verb, body)
        assert not result.admitted, f"tenant {verb} of {body['metadata']['name']} was admitted"
        refusals = ["only the netiso operator may create, change or delete"]
        if verb != "delete" and body["metadata"]["name"] in RESERVED_NAMES:
            # A write under one of netiso's names also meets the reserved-names policy, and the
            # API server reports whichever refusal it evaluated first.
            refusals.append(f"the NetworkPolicy name {body['metadata']['name']} is reserved")
        assert any(refusal in result.stderr for refusal in refusals), result.stderr

    changed = {**managed, "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
    assert submit(admission.plane, operator, "apply", changed, dry_run=False).admitted
    assert submit(admission.plane, operator, "delete", changed).admitted
    # Break-glass: the shipped role's custom verb, granted in the namespace, lets a person in.
    admission.rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "break-glass"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": BREAK_GLASS_ROLE},
            "subjects": [{"apiGroup": RBAC_GROUP, "kind": "User", "name": tenant.name}],
        },
    )

    def broke_glass() -> bool:
        return submit(admission.plane, tenant.kubeconfig, "delete", changed).admitted

    wait_for("break-glass delete admitted", broke_glass, timeout=15)


def test_netisos_policy_names_are_reserved_in_every_namespace(admission: Admission) -> None:
    """Nobody but the operator creates or changes a NetworkPolicy named as one of netiso's,
    labelled or not, in a guarded namespace or any other; deleting a namesake stays possible
    (the way out of a conflict)."""
    guarded = admission.guard({}, prefix="reserved")
    elsewhere = admission.make_namespace("reserved-free", labels={RUN_LABEL: RUN})
    operator = admission.operator(guarded)
    for name in RESERVED_NAMES:
        for namespace in (guarded, elsewhere):
            tenant = admission.tenant(namespace)
            squat = network_policy(name, namespace, {"podSelector": {}, "ingress": [GOOD_RULE]})
            result = submit(admission.plane, tenant.kubeconfig, "create", squat)
            assert not result.admitted, f"tenant created {namespace}/{name}"
            assert f"the NetworkPolicy name {name} is reserved for netiso" in result.stderr
    # A namesake from before the reservation (created here by an admin, who holds
    # break-glass): its owner may neither change it nor take it further, only delete it.
    tenant = admission.tenant(elsewhere)
    old = network_policy(
        "netiso-default-deny", elsewhere, {"podSelector": {}, "ingress": [GOOD_RULE]}
    )
    assert submit(admission.plane, admission.admin, "create", old, dry_run=False).admitted
    opened = {**old, "spec": {"podSelector": {}, "ingress": [{}]}}
    result = submit(admission.plane, tenant.kubeconfig, "apply", opened)
    assert not result.admitted
    assert "is reserved for netiso" in result.stderr
    assert submit(admission.plane, tenant.kubeconfig, "delete", old, dry_run=False).admitted
    # The operator writes its own.
    managed = network_policy(
        "netiso-default-deny",
        guarded,
        {"podSelector": {}, "policyTypes": ["Ingress"]},
        labels=MANAGED,
    )
    assert submit(admission.plane, operator, "create", managed).admitted


def test_only_the_platform_groups_grant_an_exception_with_a_visible_reason(
    admission: Admission,
) -> None:
    """The exception annotation is the platform's: a tenant who may write the policy may not
    add or change it, and nobody may grant with blank, whitespace-only or invisible text."""
    namespace = admission.guard(
        {"action": "Deny", "optOutGroups": [PLATFORM_GROUP]}, prefix="exceptions"
    )
    tenant = admission.tenant(namespace)
    platform = admission.tenant(namespace, groups=(PLATFORM_GROUP,))
    key = conventions.EXCEPTION_ANNOTATION

    def excepted(reason: str) -> dict[str, Any]:
        return network_policy("waived", namespace, VIOLATING, annotations={key: reason})

    result = submit(admission.plane, tenant.kubeconfig, "create", excepted("TICKET-1"))
    assert not result.admitted, "a tenant granted itself an exception"
    assert "guardrail exceptions are granted by the platform" in result.stderr
    assert PLATFORM_GROUP in result.stderr
    # Hangul fillers, the blank Braille pattern and lone combining marks show nothing either.
    invisible_letters = ("\u3164", "\uffa0\u2800", "\u0301", "\ufe0f\u034f")
    for blank in (
        "",
        " ",
        "\t \u3000",
        "\u200b",
        "\u00ad\u200d",
        "\ufeff\u2060",
        *invisible_letters,
    ):
        for user in (tenant, platform):
            result = submit(admission.plane, user.kubeconfig, "create", excepted(blank))
            assert not result.admitted, f"{user.name}: exception {blank!r} admitted"
    # Refused even on a policy that breaks nothing, with a message that says why.
    harmless = network_policy(
        "harmless",
        namespace,
        {"podSelector": {}, "ingress": [GOOD_RULE]},
        annotations={key: "\u200b"},
    )
    result = submit(admission.plane, platform.kubeconfig, "create", harmless)
    assert not result.admitted
    assert "grants nothing" in result.stderr
    granted = excepted("OPS-1: until the fix")
    assert submit(admission.plane, platform.kubeconfig, "create", granted, dry_run=False).admitted
    # The tenant may not change the reason, but may change the rest and remove the exception.
    result = submit(admission.plane, tenant.kubeconfig, "apply", excepted("OPS-2: forever"))
    assert not result.admitted
    assert "guardrail exceptions are granted by the platform" in result.stderr
    # The grant is for the spec the platform saw: the tenant's change of spec is judged as
    # if there were no exception (refused here, under Deny); the platform's is not.
    widened = network_policy(
        "waived",
        namespace,
        egress({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}),
        annotations={key: "OPS-1: until the fix"},
    )
    result = submit(admission.plane, tenant.kubeconfig, "apply", widened)
    assert not result.admitted, "a tenant widened an excepted policy"
    assert 'netiso guardrail "broad-cidr"' in result.stderr
    assert submit(admission.plane, platform.kubeconfig, "apply", widened).admitted
    relabelled = {**granted, "metadata": {**granted["metadata"], "labels": {"team": "a"}}}
    assert submit(admission.plane, tenant.kubeconfig, "apply", relabelled).admitted
    assert submit(admission.plane, tenant.kubeconfig, "delete", granted).admitted
    # Before the opt-in too: an annotation written where no profile governs yet would
    # count from the opt-in on, granted by nobody. Every profile has a say there.
    free = admission.make_namespace("exceptions-free", labels={RUN_LABEL: RUN})
    early = network_policy("early", free, VIOLATING, annotations={key: "TICKET-2"})
    result = submit(admission.plane, admission.tenant(free).kubeconfig, "create", early)
    assert not result.admitted, "a tenant granted itself an exception before the opt-in"
    assert "guardrail exceptions are granted by the platform" in result.stderr
    assert submit(admission.plane, admission.admin, "create", early).admitted
    # The operator and netiso check agree: a blank or invisible reason grants nothing.
    profile = admission.core.read_namespace(namespace).metadata.labels[conventions.PROFILE_LABEL]
    body = admission.custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, profile)
    guardrails = parse_profile(body).guardrails
    for blank in ("", " ", "\u200b", "\u00ad\u200d", *invisible_letters):
        found = violations(excepted(blank), guardrails, namespace=namespace)
        assert found
        assert all(v.exception is None for v in found), blank


def test_an_exception_listed_in_the_profile_is_admitted_and_nothing_else(
    admission: Admission,
) -> None:
    """spec.guardrails.exceptions[] reaches admission through the binding's parameter (the
    profile): the policy it names is admitted for the rules it lists, under Deny, whoever
    writes it; another policy, or another rule, is refused. CEL has no clock: an entry admits
    until it is removed, expired or not (the operator judges the expiry)."""
    namespace = admission.guard({"action": "Deny"}, prefix="listed")
    tenant = admission.tenant(namespace)
    profile = admission.core.read_namespace(namespace).metadata.labels[conventions.PROFILE_LABEL]
    wide_open = egress({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]})  # broad-cidr, no-ports
    granted = network_policy("granted", namespace, wide_open)
    assert not submit(admission.plane, tenant.kubeconfig, "create", granted).admitted
    body = admission.custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, profile)
    body["spec"]["guardrails"]["exceptions"] = [
        {
            "namespace": namespace,
            "policy": "granted",
            "rules": ["broad-cidr", "no-ports"],
            "reason": "NET-7 egress proxy migration",
            "expires": "2020-01-01T00:00:00Z",
        }
    ]
    admission.custom.replace_cluster_custom_object(GROUP, VERSION, PLURAL, profile, body)
    # The parameter reaches the API server's admission through an informer: wait for it.
    wait_for(
        "listed exception admitted",
        lambda: submit(admission.plane, tenant.kubeconfig, "create", granted).admitted,
        timeout=30,
    )
    found = violations(granted, parse_profile(body).guardrails, namespace=namespace)
    assert {str(v.rule) for v in found} == {"broad-cidr", "no-ports"}
    # Not listed: the same policy under another name, in another namespace of the profile.
    other = network_policy("other", namespace, wide_open)
    result = submit(admission.plane, tenant.kubeconfig, "create", other)
    assert not result.admitted
    assert 'netiso guardrail "broad-cidr"' in result.stderr
    # Listed for some rules only: a rule it does not list is still refused.
    named = egress({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": "https"}]})
    result = submit(
        admission.plane, tenant.kubeconfig, "create", network_policy("granted", namespace, named)
    )
    assert not result.admitted
    assert 'netiso guardrail "named-port"' in result.stderr
    assert 'netiso guardrail "broad-cidr"' not in result.stderr
    # Removed from the list: refused again.
    body = admission.custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, profile)
    body["spec"]["guardrails"]["exceptions"] = []
    admission.custom.replace_cluster_custom_object(GROUP, VERSION, PLURAL, profile, body)
    wait_for(
        "exception withdrawn",
        lambda: not submit(admission.plane, tenant.kubeconfig, "create", granted).admitted,
        timeout=30,
    )


def test_namespace_deletion_still_removes_managed_policies(admission: Admission) -> None:
    namespace = admission.guard({}, prefix="deleted")
    operator = admission.operator(namespace)
    managed = network_policy("netiso-default-deny", namespace, {"podSelector": {}}, labels=MANAGED)
    assert submit(admission.plane, operator, "create", managed, dry_run=False).admitted
    admission.core.delete_namespace(namespace)

    def gone() -> bool:
        try:
            admission.core.read_namespace(namespace)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    wait_for(f"namespace {namespace} deleted", gone, timeout=60)


def label(admission: Admission, user: User, namespace: str, change: str) -> Result:
    result = kubectl(
        admission.plane, user.kubeconfig, "label", "namespace", namespace, change, "--overwrite"
    )
    return Result(result.returncode == 0, {}, result.stderr)


def test_opting_out_is_restricted_to_the_platform_group(admission: Admission) -> None:
    restricted = admission.guard(
        {"optOut": "Restricted", "optOutGroups": [PLATFORM_GROUP]}, prefix="optout"
    )
    tenant = admission.tenant(restricted)
    platform = admission.tenant(restricted, groups=(PLATFORM_GROUP,))
    key = conventions.PROFILE_LABEL
    # Removed, pointed at another (or no existing) profile, or emptied.
    for change in (f"{key}-", f"{key}=other", f"{key}="):
        result = label(admission, tenant, restricted, change)
        assert not result.admitted, f"tenant {change} admitted"
        assert "restricts opting out" in result.stderr
        assert PLATFORM_GROUP in result.stderr
    # Other labels stay the owner's to change.
    assert label(admission, tenant, restricted, "team=a").admitted
    assert label(admission, platform, restricted, f"{key}-").admitted

    allowed = admission.guard({"optOut": "Allowed"}, prefix="optout-allowed")
    assert label(admission, admission.tenant(allowed), allowed, f"{key}-").admitted


def label_writes(
    admission: Admission, user: User, namespace: str, *, dry_run: bool
) -> dict[str, Result]:
    """Each way of removing the opt-in label (or pointing it elsewhere), as `user`: the verbs
    reach admission as UPDATE of the namespace or of its status or finalize subresource."""
    key = conventions.PROFILE_LABEL
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(user.kubeconfig)))
    dry = {"dry_run": "All"} if dry_run else {}
    removed = {"metadata": {"labels": {key: None}}}

    def without_label() -> Any:
        body = core.read_namespace(namespace)
        del body.metadata.labels[key]
        return body

    def call(write: Any) -> Result:
        try:
            write()
        except ApiException as error:
            return Result(False, {}, str(error.body))
        return Result(True, {}, "")

    applied = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {key: "other"}},
    }
    apply_args = ["apply", "--server-side", "--force-conflicts", "--field-manager=tenant"]
    result = kubectl(
        admission.plane,
        user.kubeconfig,
        *apply_args,
        *(["--dry-run=server"] if dry_run else []),
        "-f",
        "-",
        stdin=yaml.safe_dump(applied),
    )
    return {
        "update": call(lambda: core.replace_namespace(namespace, without_label(), **dry)),
        "patch": call(lambda: core.patch_namespace(namespace, removed, **dry)),
        "apply": Result(result.returncode == 0, {}, result.stderr),
        "status update": call(
            lambda: core.replace_namespace_status(namespace, without_label(), **dry)
        ),
        "status patch": call(lambda: core.patch_namespace_status(namespace, removed, **dry)),
        "finalize update": call(
            lambda: core.replace_namespace_finalize(namespace, without_label(), **dry)
        ),
    }


def test_opting_out_is_restricted_on_every_path_that_writes_labels(admission: Admission) -> None:
    """`namespaces`, `namespaces/status` and `namespaces/finalize`; update, patch and
    server-side apply: none lets a tenant drop the opt-in label, all let the platform group."""
    restricted = admission.guard(
        {"optOut": "Restricted", "optOutGroups": [PLATFORM_GROUP]}, prefix="optout-paths"
    )
    tenant = admission.tenant(restricted)
    platform = admission.tenant(restricted, groups=(PLATFORM_GROUP,))
    key = conventions.PROFILE_LABEL
    profile = admission.core.read_namespace(restricted).metadata.labels[key]
    # Real writes, not dry runs: a path admission missed would drop the label here.
    for path, result in label_writes(admission, tenant, restricted, dry_run=False).items():
        assert not result.admitted, f"tenant opt-out through {path} was admitted"
        assert "restricts opting out" in result.stderr, (path, result.stderr)
    assert admission.core.read_namespace(restricted).metadata.labels[key] == profile
    for path, result in label_writes(admission, platform, restricted, dry_run=True).items():
        assert result.admitted, f"platform opt-out through {path} refused: {result.stderr}"
    # CREATE: a namespace created with the label opts in, which is never restricted.
    created = admission.make_namespace("optin", labels={key: profile, RUN_LABEL: RUN})
    assert admission.core.read_namespace(created).metadata.labels[key] == profile


def test_baseline_guards_namespaces_naming_no_known_profile(admission: Admission) -> None:
    known = admission.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
    admission.apply_binding(
        narrowed(baseline_binding(profile["metadata"]["name"] for profile in known))
    )
    namespace = admission.make_namespace(
        "baseline", labels={conventions.PROFILE_LABEL: "no-such-profile", RUN_LABEL: RUN}
    )
    admission.wait_enforced(namespace, action="Warn", binding=BASELINE_BINDING)
    policy = network_policy("x", namespace, VIOLATING)
    result = submit(admission.plane, admission.admin, "create", policy)
    assert result.warnings == {"broad-cidr": ["spec.egress[0].to[0].ipBlock.cidr"]}


@pytest.mark.parametrize(
    ("guardrails", "field"),
    [
        ({"ipBlocks": {"allowedCIDRs": ["10.0.0.1/8"]}}, "ipBlocks.allowedCIDRs[0]"),
        ({"ipBlocks": {"minPrefixLengthIPv4": 33}}, "ipBlocks.minPrefixLengthIPv4"),
        ({"requiredAnnotations": ["not a key"]}, "requiredAnnotations[0]"),
        ({"action": "Block"}, "action"),
        ({"optOutGroups": [""]}, "optOutGroups[0]"),
    ],
)
def test_api_server_and_parser_refuse_the_same_guardrails(
    admission_session: list[Admission],
    kube_api: client.ApiClient,
    guardrails: dict[str, Any],
    field: str,
) -> None:
    body = profile_body(unique_name("invalid"), guardrails)
    with pytest.raises(ProfileError) as parsed:
        parse_profile(body)
    assert [problem.path for problem in parsed.value.problems] == [f"spec.guardrails.{field}"]
    with pytest.raises(ApiException) as refused:
        client.CustomObjectsApi(kube_api).create_cluster_custom_object(GROUP, VERSION, PLURAL, body)
    assert refused.value.status == 422
    assert f'"field":"spec.guardrails.{field}"' in str(refused.value.body)


# --- random policies: the API server's verdict equals the Python verdict, rule by rule -------

NAME_KEY = conventions.NAMESPACE_NAME_LABEL
PROPERTY_EXAMPLES = 250
PROPERTY_GUARDRAILS: tuple[dict[str, Any], ...] = (
    {},
    {"ipBlocks": {"minPrefixLengthIPv4": 16, "minPrefixLengthIPv6": 120}},
    {"ipBlocks": {"allowedCIDRs": ["10.0.0.0/7", "fd00::/8"]}, "allowNamedPorts": True},
)
# Blocks around the limits: halves, neighbours, nested, IPv6, IPv4-mapped IPv6.
CIDRS = (
    "0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/7", "10.0.0.0/8", "11.0.0.0/8",
    "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "12.0.0.0/9", "12.128.0.0/9", "192.168.0.0/15",
    "::/0", "2001:db8::/32", "2001:db8::/33", "2001:db8:8000::/33", "fd00::/8", "fd00::/120",
    "fd00::1/128", "::ffff:0.0.0.0/96", "::ffff:10.0.0.0/104",
    # Other spellings the API server stores: mapped in hex and in full, host bits, leading
    # zeros, IPv6 halves.
    "::FFFF:0:0/96", "0:0:0:0:0:ffff:a00:0/104", "10.255.0.1/8", "010.000.0.0/08", "::/1",
    "8000::/1",
)  # fmt: skip
PORTS = (1, 2, 53, 443, 1000, 1001, 30000, 30001, 65534, 65535)


def _subnets(cidr: str) -> list[str]:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:  # leading zeros: Python reads no such network
        return []
    if network.prefixlen >= network.max_prefixlen:
        return []
    longest = min(network.max_prefixlen, network.prefixlen + 9)
    return [
        str(next(network.subnets(new_prefix=length)))
        for length in range(network.prefixlen + 1, longest + 1)
    ] + [str(list(network.subnets(prefixlen_diff=1))[1])]


@st.composite
def ip_blocks(draw: st.DrawFn) -> dict[str, Any]:
    cidr = draw(st.sampled_from(CIDRS))
    block: dict[str, Any] = {"cidr": cidr}
    inside = _subnets(cidr)
    excepting: bool = draw(st.booleans())
    if inside and excepting:
        block["except"] = draw(st.lists(st.sampled_from(inside), min_size=1, max_size=3))
    return block


@st.composite
def namespace_selectors(draw: st.DrawFn) -> dict[str, Any]:
    expression = st.one_of(
        st.just({"key": NAME_KEY, "operator": "Exists"}),
        st.just({"key": "team", "operator": "Exists"}),
        st.just({"key": "team", "operator": "DoesNotExist"}),
        st.just({"key": NAME_KEY, "operator": "NotIn", "values": ["nowhere"]}),
        st.just({"key": NAME_KEY, "operator": "In", "values": ["a", "b"]}),
    )
    selector: dict[str, Any] = {}
    if draw(st.booleans()):
        selector["matchExpressions"] = draw(st.lists(expression, max_size=3))
    if draw(st.integers(0, 3)) == 0:
        selector["matchLabels"] = {"team": "a"}
    return selector


@st.composite
def peers(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(("ip", "ip", "namespace", "pod", "both")))
    if kind == "ip":
        return {"ipBlock": draw(ip_blocks())}
    peer: dict[str, Any] = {}
    if kind in ("namespace", "both"):
        peer["namespaceSelector"] = draw(namespace_selectors())
    if kind in ("pod", "both"):
        peer["podSelector"] = draw(st.sampled_from(({}, {"matchLabels": {"app": "x"}})))
    return peer


@st.composite
def port_entries(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    protocol = draw(st.sampled_from((None, "TCP", "UDP", "SCTP")))
    if protocol is not None:
        entry["protocol"] = protocol
    shape = draw(st.sampled_from(("number", "range", "range", "name", "none")))
    if shape == "name":
        entry["port"] = "http"
    elif shape != "none":
        entry["port"] = draw(st.sampled_from(PORTS))
        if shape == "range":
            entry["endPort"] = draw(st.sampled_from([p for p in PORTS if p >= entry["port"]]))
    return entry


@st.composite
def policy_rules(draw: st.DrawFn, peers_key: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if draw(st.integers(0, 5)) > 0:
        rule[peers_key] = draw(st.lists(peers(), min_size=1, max_size=6))
    if draw(st.integers(0, 5)) > 0:
        rule["ports"] = draw(st.lists(port_entries(), min_size=1, max_size=5))
    return rule


@st.composite
def policy_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {}}
    directions = draw(st.sampled_from((["Ingress"], ["Egress"], ["Ingress", "Egress"])))
    spec["policyTypes"] = directions
    if "Ingress" in directions:
        spec["ingress"] = draw(st.lists(policy_rules("from"), min_size=1, max_size=3))
    if "Egress" in directions:
        spec["egress"] = draw(st.lists(policy_rules("to"), min_size=1, max_size=3))
    return spec


RULE_NAMED = re.compile(r'netiso guardrail "([a-z-]+)" at ')


def warned_rules(response: Any, *, binding: str) -> dict[str, list[str] | None]:
    """The guardrail warnings by rule of a raw dry-run create response, from one binding (the
    baseline binding another test leaves in place may warn too). The API server cuts warnings
    that add up to more than 4 KiB, the longest first: a rule whose list of paths was cut
    maps to None."""
    found: dict[str, list[str] | None] = {}
    for header in response.headers.getlist("Warning"):
        text = header.replace('\\"', '"')
        if f"with binding '{binding}'" not in text or not (named := RULE_NAMED.search(text)):
            continue
        match = WARNING.search(text)
        found[named.group(1)] = match.group(2).split(", ") if match else None
    return found


def test_random_policies_get_the_same_verdict_from_api_server_and_python(
    admission: Admission, kube_api: client.ApiClient
) -> None:
    namespaces = [
        (admission.guard(guardrails, prefix="prop"), guardrails)
        for guardrails in PROPERTY_GUARDRAILS
    ]
    bindings = {
        namespace: binding_name(
            admission.core.read_namespace(namespace).metadata.labels[conventions.PROFILE_LABEL]
        )
        for namespace, _ in namespaces
    }
    # Each binding added after the first rebuilds the API server's set of admission policies:
    # wait until every namespace's binding is in force again before the first example.
    for namespace, guardrails in namespaces:
        admission.wait_enforced(namespace, action=guardrails.get("action", "Warn"))
    rejected: list[str] = []

    @settings(
        max_examples=PROPERTY_EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(spec=policy_specs(), which=st.integers(0, len(namespaces) - 1))
    def agree(spec: dict[str, Any], which: int) -> None:
        namespace, guardrails = namespaces[which]
        body = network_policy("random", namespace, spec)
        method, url, headers, payload, _ = kube_api.param_serialize(
            "POST",
            f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies",
            query_params=[("dryRun", "All")],
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = kube_api.call_api(method, url, header_params=headers, body=payload)
        if not 200 <= response.status < 300:
            # Invalid for the API server itself (its own validation runs first).
            rejected.append(response.read().decode()[:300])
            return
        warned = warned_rules(response, binding=bindings[namespace])
        parsed = parse_profile(profile_body("p", guardrails)).guardrails
        python = as_shown(by_rule(violations(body, parsed, namespace=namespace)))
        # The same rules broken, and at the same paths wherever the server's message is whole.
        assert set(warned) == set(python), yaml.safe_dump(spec)
        for rule, paths in warned.items():
            assert paths is None or paths == python[rule], yaml.safe_dump(spec)

    agree()
    # The generator makes valid policies: the comparison ran on almost every example.
    assert len(rejected) < PROPERTY_EXAMPLES // 10, rejected[:3]
