"""The release files install on a real API server, and the admission policy confines netiso.

`kubectl apply --server-side --validate=strict -f dist/install.yaml` runs for real on the
local control plane, which has no Prometheus Operator: every object is created (strict field
validation: unknown fields fail) with no warning. Then, with minimal ServiceMonitor and
PrometheusRule CRDs installed (served v1, schema `x-kubernetes-preserve-unknown-fields`, so
kind, scope, metadata and apply mechanics are checked, not the spec: promtool checks the
rules in tests/ship), dist/monitoring.yaml, what the monitoring Component adds, applies too.

With the install in place, the ValidatingAdmissionPolicy netiso-operator-scope is exercised
as the operator's service account (impersonated by the admin): writes to its own policies
pass, every other policy is refused with the policy's message although RBAC allows the verb.
Everything but the CRD and the namespace (which the session's other tests share) is deleted
afterwards.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from netiso import conventions
from netiso_devkit.harness import ROOT
from netiso_devkit.localcluster.controlplane import ControlPlane

from .conftest import MakeNamespace
from .ship_crds import MONITORING_GROUP, prometheus_operator_crds

pytestmark = pytest.mark.integration

INSTALL = ROOT / "dist" / "install.yaml"
MONITORING = ROOT / "dist" / "monitoring.yaml"
OPERATOR = "system:serviceaccount:netiso-system:netiso-operator"
SCOPE_POLICY = "netiso-operator-scope"
# How long the API server may take to start enforcing a just-created admission policy.
POLICY_ACTIVE_TIMEOUT = 30.0

Obj = dict[str, Any]


def kubectl(
    plane: ControlPlane, *args: str, stdin: str | None = None, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The control plane's own kubectl (same version as the API server) as the admin, or as
    `user` by impersonation."""
    impersonate = [f"--as={user}"] if user else []
    return subprocess.run(
        [
            str(plane.binaries.kubectl),
            f"--kubeconfig={plane.admin_kubeconfig}",
            *impersonate,
            *args,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load(path: Path) -> list[Obj]:
    found = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert found, f"{path} holds no objects"
    return found


def identity(obj: Obj) -> tuple[str, str, str]:
    """(kind, namespace, name) of an object."""
    metadata = obj["metadata"]
    return obj["kind"], metadata.get("namespace", ""), metadata["name"]


def apply_file(plane: ControlPlane, path: Path) -> subprocess.CompletedProcess[str]:
    """`kubectl apply --server-side -f PATH`, as install.md tells users. Server-side: the
    session's other tests may have created the CRD already, and a client-side apply over an
    object without its last-applied annotation warns."""
    return kubectl(
        plane, "apply", "--server-side", "--validate=strict", "-o", "json", "-f", str(path)
    )


def applied_items(result: subprocess.CompletedProcess[str]) -> list[Obj]:
    answered = json.loads(result.stdout)
    items: list[Obj] = answered["items"] if answered.get("kind") == "List" else [answered]
    return items


def delete_objects(plane: ControlPlane, objects: list[Obj]) -> None:
    for obj in objects:
        kind, namespace, name = identity(obj)
        where = [f"--namespace={namespace}"] if namespace else []
        kubectl(plane, "delete", "--ignore-not-found", "--wait=false", *where, kind, name)


@pytest.fixture(scope="module")
def installed(control_plane: ControlPlane) -> Iterator[subprocess.CompletedProcess[str]]:
    """dist/install.yaml applied for real on a cluster without the Prometheus Operator."""
    crds = kubectl(control_plane, "get", "crd", "-o", "name")
    assert crds.returncode == 0, crds.stderr
    assert MONITORING_GROUP not in crds.stdout, "this cluster must lack the Prometheus Operator"
    result = apply_file(control_plane, INSTALL)
    yield result
    # The CRD and the namespace stay: the session's other tests use both.
    shared = {"CustomResourceDefinition", "Namespace"}
    delete_objects(control_plane, [obj for obj in load(INSTALL) if obj["kind"] not in shared])


@pytest.fixture(scope="module")
def monitoring_crds(control_plane: ControlPlane, installed: object) -> Iterator[None]:
    """Minimal ServiceMonitor and PrometheusRule CRDs, Established; deleted afterwards."""
    crds = prometheus_operator_crds()
    names = [f"crd/{crd['metadata']['name']}" for crd in crds]
    result = kubectl(
        control_plane, "apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(crds)
    )
    assert result.returncode == 0, result.stderr
    result = kubectl(control_plane, "wait", "--for=condition=Established", "--timeout=60s", *names)
    assert result.returncode == 0, result.stderr
    yield
    kubectl(control_plane, "delete", "--wait=false", *names)


def test_install_file_applies_without_the_prometheus_operator(
    installed: subprocess.CompletedProcess[str],
) -> None:
    assert installed.returncode == 0, (
        f"kubectl apply -f dist/install.yaml failed:\n{installed.stderr}"
    )
    # Warnings are what a real install would print too: deprecated APIs, Pod Security
    # violations of the restricted namespace, unknown fields dropped.
    assert "Warning" not in installed.stderr, installed.stderr
    items = applied_items(installed)
    assert sorted(identity(obj) for obj in items) == sorted(identity(obj) for obj in load(INSTALL))
    for obj in items:
        assert obj["metadata"].get("uid"), f"{identity(obj)}: not created"


def test_monitoring_component_applies_where_its_crds_exist(
    control_plane: ControlPlane, monitoring_crds: None
) -> None:
    objects = load(MONITORING)
    result = apply_file(control_plane, MONITORING)
    try:
        assert result.returncode == 0, f"dist/monitoring.yaml failed:\n{result.stderr}"
        assert "Warning" not in result.stderr, result.stderr
        items = applied_items(result)
        assert sorted(identity(obj) for obj in items) == sorted(identity(obj) for obj in objects)
        assert {obj["kind"] for obj in items} == {"ServiceMonitor", "PrometheusRule", "ConfigMap"}
    finally:
        delete_objects(control_plane, objects)


def test_operator_pod_is_admitted_under_pod_security_restricted(
    control_plane: ControlPlane, installed: subprocess.CompletedProcess[str]
) -> None:
    """The Deployment's pod template, as a Pod, passes the namespace's enforced
    `restricted` Pod Security level (Deployments only get warnings; Pods are refused)."""
    objects = load(INSTALL)
    (deployment,) = [obj for obj in objects if obj["kind"] == "Deployment"]
    namespace = deployment["metadata"]["namespace"]
    result = kubectl(control_plane, "get", "namespace", namespace, "-o", "json")
    assert result.returncode == 0, result.stderr
    labels = json.loads(result.stdout)["metadata"].get("labels") or {}
    assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", labels
    template = deployment["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "netiso-operator-pod-security-check",
            "namespace": namespace,
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
    }
    result = kubectl(
        control_plane,
        "create",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        stdin=yaml.safe_dump(pod),
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr


# --- the admission policy --------------------------------------------------------------------


def network_policy(name: str, namespace: str, *, managed: bool) -> Obj:
    labels = {conventions.MANAGED_BY_LABEL: conventions.MANAGED_BY_VALUE} if managed else {}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def as_operator(plane: ControlPlane, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = kubectl(plane, *args, stdin=stdin, user=OPERATOR)
    return result.returncode, result.stdout + result.stderr


def create(plane: ControlPlane, policy: Obj, *, user: str | None = None) -> tuple[int, str]:
    result = kubectl(plane, "create", "-f", "-", stdin=yaml.safe_dump(policy), user=user)
    return result.returncode, result.stdout + result.stderr


def assert_refused(outcome: tuple[int, str], *, because: str) -> None:
    code, output = outcome
    assert code != 0, f"the operator's write went through:\n{output}"
    assert SCOPE_POLICY in output, output
    assert because in output, output
    assert "Forbidden" in output or "forbidden" in output, output


@pytest.fixture(scope="module")
def scope_enforced(
    control_plane: ControlPlane, installed: subprocess.CompletedProcess[str]
) -> None:
    """Waits until the API server enforces the just-installed policy: a server-side dry run
    of a foreign create, as the operator, is refused."""
    assert installed.returncode == 0, installed.stderr
    probe = yaml.safe_dump(network_policy("scope-probe", "default", managed=False))
    deadline = time.monotonic() + POLICY_ACTIVE_TIMEOUT
    output = ""
    while time.monotonic() < deadline:
        code, output = as_operator(
            control_plane, "create", "--dry-run=server", "-f", "-", stdin=probe
        )
        if code != 0 and SCOPE_POLICY in output:
            return
        time.sleep(0.5)
    pytest.fail(f"{SCOPE_POLICY} not enforced after {POLICY_ACTIVE_TIMEOUT} s: {output}")


def replaced(plane: ControlPlane, namespace: str, name: str, **labels: str | None) -> Obj:
    """The live policy with `labels` set (None removes one): the body of an update (PUT),
    the way the operator writes."""
    result = kubectl(plane, "get", "networkpolicy", name, "-n", namespace, "-o", "json")
    assert result.returncode == 0, result.stderr
    live: Obj = json.loads(result.stdout)
    current = live["metadata"].setdefault("labels", {})
    for key, value in labels.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    return live


def replace(plane: ControlPlane, body: Obj) -> tuple[int, str]:
    return as_operator(plane, "replace", "-f", "-", stdin=json.dumps(body))


MANAGED = {conventions.MANAGED_BY_LABEL: conventions.MANAGED_BY_VALUE}
UNMANAGED: dict[str, str | None] = {conventions.MANAGED_BY_LABEL: None}


def test_operator_may_create_change_and_delete_its_own_policies(
    control_plane: ControlPlane, scope_enforced: None, make_namespace: MakeNamespace
) -> None:
    namespace = make_namespace("scope-own")
    policy = network_policy("netiso-default-deny", namespace, managed=True)
    code, output = create(control_plane, policy, user=OPERATOR)
    assert code == 0, output
    changed = replaced(control_plane, namespace, "netiso-default-deny")
    changed["spec"]["policyTypes"] = ["Ingress", "Egress"]
    code, output = replace(control_plane, changed)
    assert code == 0, output
    code, output = as_operator(
        control_plane, "delete", "networkpolicy", "netiso-default-deny", "-n", namespace
    )
    assert code == 0, output


def test_operator_may_not_create_a_policy_outside_its_names(
    control_plane: ControlPlane, scope_enforced: None, make_namespace: MakeNamespace
) -> None:
    namespace = make_namespace("scope-name")
    policy = network_policy("allow-all", namespace, managed=True)
    assert_refused(create(control_plane, policy, user=OPERATOR), because="named netiso-*")


def test_operator_may_not_create_an_unlabelled_policy(
    control_plane: ControlPlane, scope_enforced: None, make_namespace: MakeNamespace
) -> None:
    namespace = make_namespace("scope-label")
    policy = network_policy("netiso-default-deny", namespace, managed=False)
    assert_refused(create(control_plane, policy, user=OPERATOR), because="managed-by=netiso")


def test_operator_may_not_touch_foreign_policies_that_rbac_lets_it_write(
    control_plane: ControlPlane, scope_enforced: None, make_namespace: MakeNamespace
) -> None:
    namespace = make_namespace("scope-foreign")
    # The platform's own policy, and a namesake of netiso's created by someone else.
    for name in ("platform-allow", "netiso-default-deny"):
        code, output = create(control_plane, network_policy(name, namespace, managed=False))
        assert code == 0, output

    deleted = as_operator(
        control_plane, "delete", "networkpolicy", "platform-allow", "-n", namespace
    )
    assert_refused(deleted, because="named netiso-*")
    # Adding the label would be adoption: the policy was not netiso's before the write.
    adopted = replace(
        control_plane, replaced(control_plane, namespace, "netiso-default-deny", **MANAGED)
    )
    assert_refused(adopted, because="managed-by=netiso")
    foreign = replace(control_plane, replaced(control_plane, namespace, "platform-allow", x="y"))
    assert_refused(foreign, because="named netiso-*")
    namesake = as_operator(
        control_plane, "delete", "networkpolicy", "netiso-default-deny", "-n", namespace
    )
    assert_refused(namesake, because="managed-by=netiso")

    # Both are untouched, and the RBAC the operator has would have allowed each write.
    for name in ("platform-allow", "netiso-default-deny"):
        result = kubectl(control_plane, "get", "networkpolicy", name, "-n", namespace, "-o", "json")
        assert result.returncode == 0, result.stderr
        labels = json.loads(result.stdout)["metadata"].get("labels") or {}
        assert labels == {}, labels
    for verb in ("delete", "update"):
        result = kubectl(
            control_plane, "auth", "can-i", verb, "networkpolicies", "-n", namespace, user=OPERATOR
        )
        assert result.stdout.strip() == "yes", (verb, result.stdout, result.stderr)


def test_operator_may_not_strip_its_label_from_its_own_policy(
    control_plane: ControlPlane, scope_enforced: None, make_namespace: MakeNamespace
) -> None:
    namespace = make_namespace("scope-unlabel")
    policy = network_policy("netiso-allow-dns-egress", namespace, managed=True)
    code, output = create(control_plane, policy)
    assert code == 0, output
    body = replaced(control_plane, namespace, "netiso-allow-dns-egress", **UNMANAGED)
    assert_refused(replace(control_plane, body), because="managed-by=netiso")


def test_everyone_else_is_left_to_rbac(
    control_plane: ControlPlane, scope_enforced: None, make_namespace: MakeNamespace
) -> None:
    namespace = make_namespace("scope-admin")
    code, output = create(control_plane, network_policy("allow-all", namespace, managed=False))
    assert code == 0, output
    code, output = create(
        control_plane, network_policy("netiso-default-deny", namespace, managed=False)
    )
    assert code == 0, output


# --- what the admission policy cannot confine ------------------------------------------------


def test_admission_objects_are_beyond_any_admission_policy(
    control_plane: ControlPlane, scope_enforced: None
) -> None:
    """The API server never runs admission policies on policies and bindings themselves (so
    that no policy can lock the cluster out of fixing policies): netiso-operator-scope cannot
    confine the keeper's writes to netiso's names, and RBAC, which has no name prefixes, is
    all there is (docs/install.md says what that leaves open). Should Kubernetes ever start
    checking them, this fails and the scope policy can take on the keeper's names."""
    foreign: Obj = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "platform-audit-scope-check"},
        "spec": {"policyName": "netiso-guardrails-baseline", "validationActions": ["Audit"]},
    }
    scope: Obj = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "scope-check-admission-objects"},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["admissionregistration.k8s.io"],
                        "apiVersions": ["*"],
                        "operations": ["CREATE"],
                        "resources": ["validatingadmissionpolicybindings"],
                    }
                ]
            },
            "validations": [{"expression": "false", "message": "refused by the scope check"}],
        },
    }
    binding: Obj = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "scope-check-admission-objects"},
        "spec": {"policyName": "scope-check-admission-objects", "validationActions": ["Deny"]},
    }
    try:
        for body in (scope, binding):
            code, output = create(control_plane, body)
            assert code == 0, output
        time.sleep(2.0)  # well past the policy's activation, as scope_enforced measured it
        code, output = create(control_plane, foreign, user=OPERATOR)
        assert code == 0, output
        assert "refused by the scope check" not in output
    finally:
        for kind, name in (
            ("validatingadmissionpolicybinding", foreign["metadata"]["name"]),
            ("validatingadmissionpolicybinding", binding["metadata"]["name"]),
            ("validatingadmissionpolicy", scope["metadata"]["name"]),
        ):
            kubectl(control_plane, "delete", "--ignore-not-found", kind, name)
