"""The command lines of the control plane's components: etcd, kube-apiserver, controller-manager.

Pure: flags from binaries, ports and file paths; nothing here starts a process. Part of
netiso_devkit.localcluster, which knows nothing of the operator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from netiso_devkit.localcluster.binaries import Binaries
from netiso_devkit.localcluster.certificates import KeyPair

SERVICE_ACCOUNT_ISSUER: Final = "https://kubernetes.default.svc.cluster.local"
SERVICE_CLUSTER_IP_RANGE: Final = "10.0.0.0/24"
# Just what namespace deletion and ownerReference cleanup need; nothing schedules or runs pods.
CONTROLLERS: Final = ("namespace-controller", "garbage-collector-controller")
# What Deployments need once a dataplane runs pods (netiso_devkit.dataplane); the node
# lifecycle controller lifts the not-ready taint kubelet registers its node with.
WORKLOAD_CONTROLLERS: Final = (
    "deployment-controller",
    "replicaset-controller",
    "node-lifecycle-controller",
)


@dataclass(frozen=True)
class Ports:
    """The loopback ports one control plane listens on."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int


def etcd_command(*, binaries: Binaries, state_dir: Path, ports: Ports) -> list[str]:
    """etcd serving plain HTTP on loopback, its data in state_dir/etcd."""
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    args = [
        str(binaries.etcd),
        "--name=netiso",
        f"--data-dir={state_dir / 'etcd'}",
        # Plain HTTP on loopback only: a throwaway store for one developer or test session.
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=netiso={peer}",
        "--log-level=warn",
    ]
    if not binaries.etcd_version.startswith("v3.4."):
        # Data is thrown away anyway; fsync would dominate the run time of API writes.
        args.append("--unsafe-no-fsync")
    return args


def apiserver_command(
    *,
    binaries: Binaries,
    state_dir: Path,
    ports: Ports,
    serving: KeyPair,
    service_accounts: KeyPair,
    client_ca: Path,
    audit_log: Path,
) -> list[str]:
    """kube-apiserver on loopback with RBAC, client certificates and an audit log (of
    NetworkPolicy and admission binding requests)."""
    return [
        str(binaries.kube_apiserver),
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={state_dir / 'apiserver'}",
        f"--tls-cert-file={serving.certificate}",
        f"--tls-private-key-file={serving.key}",
        f"--client-ca-file={client_ca}",
        "--authorization-mode=RBAC",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={service_accounts.certificate}",
        f"--service-account-signing-key-file={service_accounts.key}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        # Endpoints may not hold a loopback address, so reconciling the `kubernetes`
        # Service's endpoints to 127.0.0.1 would only log errors every few seconds.
        "--endpoint-reconciler-type=none",
        # No serviceaccount controller runs, so no `default` ServiceAccount exists; as in
        # controller-runtime's envtest, let Pods be created without one.
        "--disable-admission-plugins=ServiceAccount",
        "--profiling=false",
        f"--audit-policy-file={state_dir / 'apiserver' / 'audit-policy.yaml'}",
        f"--audit-log-path={audit_log}",
    ]


def controller_manager_command(
    *,
    binaries: Binaries,
    ports: Ports,
    kubeconfig: Path,
    controllers: Sequence[str] = CONTROLLERS,
) -> list[str]:
    """kube-controller-manager running `controllers` only, each as its own ServiceAccount."""
    return [
        str(binaries.kube_controller_manager),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        # The API server runs no front proxy, so the requestheader CA that the lookup would
        # fetch from kube-system is missing and the controller-manager logs it every second.
        "--authentication-skip-lookup",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.controller_manager}",
        f"--controllers={','.join(controllers)}",
        # As kubeadm does: each controller acts as its own kube-system ServiceAccount
        # (tokens via the TokenRequest API) and gets exactly the rights bootstrap RBAC
        # grants it; system:kube-controller-manager itself may not delete namespace content.
        "--use-service-account-credentials=true",
        "--leader-elect=false",
        "--profiling=false",
    ]
