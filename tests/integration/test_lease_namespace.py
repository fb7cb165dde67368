"""An operator whose Lease namespace does not exist says so once, then leads once it exists.

Run as the README runs it (an admin kubeconfig, leader election on) against the real API
server with NETISO_OPERATOR_NAMESPACE naming a namespace nobody created yet.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kubernetes import client

from netiso.leadership.electing import BLOCKED_RETRY
from netiso_devkit.harness import install_crd, running_operator, wait_for
from netiso_devkit.localcluster.controlplane import ControlPlane
from tests.integration.conftest import unique_name

pytestmark = pytest.mark.integration


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
        missing = f"the Lease namespace {namespace} does not exist"
        wait_for("the missing namespace reported", lambda: missing in operator.log(), timeout=30)
        # Over two slow retries (at a 0.5 s retry period there would be ~50 attempts): still
        # one message, no warning per attempt, and standing by.
        time.sleep(2 * BLOCKED_RETRY + 1)
        log = operator.log()
        assert log.count(missing) == 1, log
        for fix in (
            f"kubectl create namespace {namespace}",
            "NETISO_OPERATOR_NAMESPACE",
            "NETISO_LEADER_ELECTION=false",
        ):
            assert fix in log
        assert "404" not in log.replace(missing, ""), log
        assert operator.metric("netiso_leader") == 0.0
        created = client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace))
        core.create_namespace(created)
        try:
            wait_for(
                "the operator leading once the namespace exists",
                lambda: operator.metric("netiso_leader") == 1.0,
                timeout=BLOCKED_RETRY + 15,
            )
            assert f"the Lease namespace {namespace} exists now" in operator.log()
        finally:
            core.delete_namespace(namespace)
