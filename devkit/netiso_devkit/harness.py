"""Cluster set-up for integration tests and benchmarks, over the kit's process harness.

`OperatorProcess` is netiso_devkit.processes.OperatorProcess with the tests' environment;
`install_crd` installs the CRD; `grant_operator_rbac`
binds a plain user to exactly the ClusterRole shipped in manifests/, so the operator runs with
the rights a real install gives it and nothing more.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from netiso_devkit import processes
from netiso_devkit.processes import (
    free_port,
    http_get,
    http_status,
    parse_metrics,
    stop_process_group,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "isolationprofiles.netiso.io.yaml"
RBAC_FILE = ROOT / "manifests" / "rbac.yaml"
OPERATOR_USER = "netiso-operator"
GROUP, VERSION, PLURAL = "netiso.io", "v1alpha1", "isolationprofiles"


def install_crd(api: client.ApiClient, *, crd_file: Path = CRD_FILE) -> None:
    """Create or replace the IsolationProfile CRD (another version's: `crd_file`) and wait
    until it is Established."""
    ext = client.ApiextensionsV1Api(api)
    body = yaml.safe_load(crd_file.read_text())
    name = body["metadata"]["name"]
    try:
        existing = ext.read_custom_resource_definition(name)
        body["metadata"]["resourceVersion"] = existing.metadata.resource_version
        ext.replace_custom_resource_definition(name, body)
    except ApiException as exc:
        if exc.status != 404:
            raise
        ext.create_custom_resource_definition(body)

    def established() -> bool:
        crd = ext.read_custom_resource_definition(name)
        return any(
            c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
        )

    wait_for("CRD established", established)


def operator_cluster_role(rbac_file: Path = RBAC_FILE) -> dict[str, Any]:
    """The ClusterRole from manifests/rbac.yaml (or another version's `rbac_file`)."""
    for doc in yaml.safe_load_all(rbac_file.read_text()):
        if doc and doc.get("kind") == "ClusterRole":
            return dict(doc)
    raise AssertionError(f"no ClusterRole in {rbac_file}")


def operator_lease_role() -> dict[str, Any]:
    """The leader election Role from manifests/rbac.yaml."""
    return _shipped_role("netiso-leader-election")


def _shipped_role(name: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all(RBAC_FILE.read_text()):
        if doc and doc.get("kind") == "Role" and doc["metadata"]["name"] == name:
            return dict(doc)
    raise AssertionError(f"no Role {name} in {RBAC_FILE}")


def grant_lease_rbac(api: client.ApiClient, *, user: str, rules: list[Any] | None = None) -> str:
    """Create the operator's namespace if needed and bind `user` there to the shipped leader
    election Role (or to `rules` instead); returns the role name."""
    return _grant_role(api, operator_lease_role(), user=user, rules=rules)


def _grant_role(
    api: client.ApiClient, role: dict[str, Any], *, user: str, rules: list[Any] | None
) -> str:
    core = client.CoreV1Api(api)
    rbac = client.RbacAuthorizationV1Api(api)
    namespace = role["metadata"]["namespace"]
    with contextlib.suppress(ApiException):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    role_name = f"{role['metadata']['name']}-for-{user}"
    role["metadata"] = {"name": role_name, "namespace": namespace}
    if rules is not None:
        role["rules"] = rules
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": role_name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    for create, replace, body in (
        (rbac.create_namespaced_role, rbac.replace_namespaced_role, role),
        (rbac.create_namespaced_role_binding, rbac.replace_namespaced_role_binding, binding),
    ):
        try:
            create(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            replace(role_name, namespace, body)
    return role_name


def grant_operator_rbac(
    api: client.ApiClient, *, user: str = OPERATOR_USER, rules: list[Any] | None = None
) -> str:
    """Bind `user` to the shipped ClusterRole (or to `rules` instead) and to the leader
    election Role; returns the ClusterRole's name."""
    grant_lease_rbac(api, user=user)
    rbac = client.RbacAuthorizationV1Api(api)
    role = operator_cluster_role()
    role_name = f"{role['metadata']['name']}-for-{user}"
    role["metadata"] = {"name": role_name}
    if rules is not None:
        role["rules"] = rules
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": role_name},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role_name,
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    for create, replace, body in (
        (rbac.create_cluster_role, rbac.replace_cluster_role, role),
        (rbac.create_cluster_role_binding, rbac.replace_cluster_role_binding, binding),
    ):
        try:
            create(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            replace(role_name, body)
    return role_name


# The operator as the integration tests run it: profile status flushed every 0.5 s so tests
# see it quickly, and the operator's own namespace set as the manifests set it.
TEST_ENV: Final = {
    "NETISO_STATUS_INTERVAL": "0.5",
    "NETISO_OPERATOR_NAMESPACE": "netiso-system",
}


class OperatorProcess(processes.OperatorProcess):
    """The kit's operator process with the integration tests' environment.

    Each process campaigns for a Lease of its own unless `env` names one: operators of
    different tests (and one killed by a test) must never wait for each other's Lease. The
    leadership tests name a shared Lease to run replicas.
    """

    def __init__(
        self, *, kubeconfig: Path, log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
        own_lease = {"NETISO_LEASE_NAME": f"netiso-test-{uuid.uuid4().hex[:10]}"}
        super().__init__(
            kubeconfig=kubeconfig,
            log_path=log_path,
            env={**TEST_ENV, **own_lease, **(env or {})},
        )


@contextlib.contextmanager
def paused(operator: OperatorProcess) -> Iterator[None]:
    """SIGSTOP the operator (it keeps its Lease but can neither renew it nor write), then
    SIGCONT it, whatever happens in the block."""
    assert operator.process is not None
    os.killpg(operator.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(operator.process.pid, signal.SIGCONT)


@contextlib.contextmanager
def running_operator(
    *, kubeconfig: Path, log_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[OperatorProcess]:
    """An operator for the duration of a block; asserts it stopped cleanly on SIGTERM."""
    operator = OperatorProcess(kubeconfig=kubeconfig, log_path=log_path, env=env).start()
    try:
        yield operator
    finally:
        code = operator.stop()
        assert code == 0, f"operator exited with {code}:\n{operator.log()}"


__all__ = [
    "CRD_FILE",
    "GROUP",
    "OPERATOR_USER",
    "PLURAL",
    "RBAC_FILE",
    "ROOT",
    "VERSION",
    "OperatorProcess",
    "free_port",
    "grant_lease_rbac",
    "grant_operator_rbac",
    "http_get",
    "http_status",
    "install_crd",
    "operator_cluster_role",
    "operator_lease_role",
    "parse_metrics",
    "paused",
    "running_operator",
    "stop_process_group",
    "wait_for",
]
