"""An operator that cannot use its Lease says why once, with the fixes, then leads once fixed.

Against the real API server, leader election on: once with NETISO_OPERATOR_NAMESPACE naming a
namespace nobody created yet (run as the README runs it, with an admin kubeconfig, 404), once
as a user bound to the shipped ClusterRole but with no rights on Leases in the operator's
namespace (403, what a forgotten netiso-leader-election RoleBinding looks like).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client

from netiso.leadership.electing import BLOCKED_RETRY
from netiso_devkit.harness import (
    OperatorProcess,
    grant_lease_rbac,
    grant_operator_rbac,
    install_crd,
    operator_lease_role,
    running_operator,
    wait_for,
)
from netiso_devkit.localcluster.controlplane import ControlPlane
from tests.integration.conftest import unique_name

from .ship_rbac import permissions, revoke, wait_until_authorized

pytestmark = pytest.mark.integration


def said_once_while_standing_by(
    operator: OperatorProcess, *, message: str, fixes: tuple[str, ...], status: str
) -> None:
    """`message` is in the log once, with every fix, and the HTTP status nowhere else, over two
    slow retries (at the 0.5 s retry period there would be ~50 attempts); nobody leads."""
    wait_for("the blocked Lease reported", lambda: message in operator.log(), timeout=30)
    time.sleep(2 * BLOCKED_RETRY + 1)
    log = operator.log()
    assert log.count(message) == 1, log
    for fix in fixes:
        assert fix in log, fix
    others = [line for line in log.splitlines() if message not in line]
    assert not [line for line in others if re.search(rf"\b{status}\b", line)], log
    assert operator.metric("netiso_leader") == 0.0


def leads_once_fixed(operator: OperatorProcess, *, fix: Callable[[], None], said: str) -> None:
    fix()
    wait_for(
        "the operator leading once fixed",
        lambda: operator.metric("netiso_leader") == 1.0,
        timeout=BLOCKED_RETRY + 15,
    )
    assert said in operator.log()


def test_a_missing_lease_namespace_is_named_once_with_its_fixes_then_the_operator_leads(
    control_plane: ControlPlane, kube_api: client.ApiClient, tmp_path: Path
) -> None:
    install_crd(kube_api)
    namespace = unique_name("netiso-lease")
    core = client.CoreV1Api(kube_api)
    env = {"NETISO_OPERATOR_NAMESPACE": namespace, "NETISO_RETRY_PERIOD": "0.5"}
    with running_operator(
        kubeconfig=control_plane.admin_kubeconfig, log_path=tmp_path / "operator.log", env=env
    ) as operator:
        said_once_while_standing_by(
            operator,
            message=f"the Lease namespace {namespace} does not exist",
            fixes=(
                f"kubectl create namespace {namespace}",
                "NETISO_OPERATOR_NAMESPACE",
                "NETISO_LEADER_ELECTION=false",
            ),
            status="404",
        )
        created = client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace))
        try:
            leads_once_fixed(
                operator,
                fix=lambda: core.create_namespace(created),
                said=f"the Lease namespace {namespace} exists now",
            )
        finally:
            core.delete_namespace(namespace)


def test_no_lease_rights_are_named_once_with_their_fixes_then_the_operator_leads(
    control_plane: ControlPlane, kube_api: client.ApiClient, tmp_path: Path
) -> None:
    install_crd(kube_api)
    lease_role = operator_lease_role()
    namespace = lease_role["metadata"]["namespace"]
    lease_permissions = permissions(lease_role["rules"])
    user = unique_name("netiso-nolease")
    role = grant_operator_rbac(kube_api, user=user)
    # The shipped ClusterRole and the EndpointSlice Role, and an empty leader election Role.
    grant_lease_rbac(kube_api, user=user, rules=[])
    wait_until_authorized(kube_api, user=user, granted=[], denied=lease_permissions,
                          namespace=namespace)  # fmt: skip
    env = {"NETISO_OPERATOR_NAMESPACE": namespace, "NETISO_RETRY_PERIOD": "0.5"}
    try:
        with running_operator(
            kubeconfig=control_plane.user_kubeconfig(user),
            log_path=tmp_path / "operator.log",
            env=env,
        ) as operator:
            said_once_while_standing_by(
                operator,
                message=f"the operator may not use Leases in {namespace} (403 Forbidden)",
                fixes=(
                    "grant it get, create and update on leases (coordination.k8s.io)",
                    "netiso-leader-election",
                    "kubectl apply --server-side -f dist/install.yaml",
                    "NETISO_LEADER_ELECTION=false",
                    # The API server's own words, naming the user and the verb refused.
                    f'User "{user}" cannot get resource "leases"',
                ),
                status="403",
            )

            def grant() -> None:
                grant_lease_rbac(kube_api, user=user)
                wait_until_authorized(kube_api, user=user, granted=lease_permissions,
                                      namespace=namespace)  # fmt: skip

            leads_once_fixed(
                operator, fix=grant, said=f"the operator may use Leases in {namespace} now"
            )
    finally:
        revoke(kube_api, role)
