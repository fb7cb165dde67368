"""netiso installed with Helm on the kit's node: `helm install`, `helm upgrade` to a second image
tag and `helm uninstall`, the operator running in-cluster from the image built here.

Two replicas turn Ready, one holds the Lease, the admission keeper makes the baseline binding
as the operator's own ServiceAccount and the tenant's policies come from it too (the API
server's audit log), a tenant namespace is isolated on packets, `helm upgrade` rolls to the
second tag with a leader and the tenant isolated at every poll (installs.watch_rollout, as for
dist/install.yaml), and `helm uninstall` leaves exactly what docs/install.md lists for Helm,
which the commands written there then remove.

The kit is one node whose API server runs without the ServiceAccount admission plugin. The
chart takes both differences as values, so the release is the chart as users install it:
`affinity` prefers the replicas apart instead of requiring it, and `extraVolumes` /
`extraVolumeMounts` hold the token volume that plugin would add. Values rather than a Helm
post-renderer: a post-renderer would patch objects behind Helm's back (helm template and the
release's manifest would not show what runs), and extra volumes are a value users need anyway
(a CA bundle, a token on such clusters); their defaults are empty, so the defaults still render
exactly dist/install.yaml (tests/ship/test_chart.py).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from kubernetes import client

from netiso.conventions import OPERATOR_USER
from netiso_devkit.dataplane.nodes import Dataplane
from netiso_devkit.harness import install_crd, wait_for
from netiso_devkit.localcluster.controlplane import ControlPlane
from tests.dataplane.conftest import MakeNamespace
from tests.dataplane.installs import (
    BASELINE_BINDING,
    BASELINE_LEFTOVER,
    LEASE,
    MANAGED,
    PART_OF,
    ROOT_CA,
    SYSTEM,
    TOKEN_MOUNT,
    TOKEN_VOLUME,
    admission_leftovers,
    audit_mark,
    created_by,
    delete_profile,
    isolate_tenant,
    kubectl,
    prepare_namespace,
    succeeding,
    wait_running,
    watch_rollout,
)
from tests.ship.conftest import built_helm

REPO: Final = Path(__file__).resolve().parents[2]
CHART: Final = REPO / "charts" / "netiso"
RELEASE: Final = "netiso"
CRD: Final = "isolationprofiles.netiso.io"
# Everything a release could leave in its namespace (the kinds it renders there, the pods and
# ReplicaSets they make, Helm's release Secrets) and the cluster-wide kinds it renders.
NAMESPACED_KINDS: Final = (
    "deployments,replicasets,pods,services,serviceaccounts,roles,rolebindings,networkpolicies,"
    "poddisruptionbudgets,configmaps,secrets,leases"
)
CLUSTER_KINDS: Final = "clusterroles,clusterrolebindings"


def kit_values(image: str) -> dict[str, Any]:
    """The chart's values for the kit (module docstring), the image as the node holds it."""
    repository, tag = image.rsplit(":", 1)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    anti = defaults["affinity"]["podAntiAffinity"]
    terms = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    return {
        "image": {"repository": repository, "tag": tag},
        # null drops the default's required term (Helm merges maps into the defaults).
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": None,
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": term} for term in terms
                ],
            }
        },
        "extraVolumes": [TOKEN_VOLUME],
        "extraVolumeMounts": [TOKEN_MOUNT],
    }


def helm(plane: ControlPlane, *args: str) -> str:
    """`helm ARGS` on the release in its namespace; asserts it succeeded."""
    kubeconfig = str(plane.admin_kubeconfig)
    return succeeding([built_helm(), *args, "--namespace", SYSTEM, "--kubeconfig", kubeconfig])


def left_in_namespace(plane: ControlPlane) -> list[str]:
    names = kubectl(plane, "get", NAMESPACED_KINDS, "-n", SYSTEM, "-o", "name").split()
    return sorted(name for name in names if name != f"configmap/{ROOT_CA}")


@pytest.fixture(scope="module")
def released(
    control_plane: ControlPlane,
    kube_api: client.ApiClient,
    operator_image: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[int]:
    """`helm install` as docs/install.md says (the namespace and signing key first), with the
    CRD from the chart's crds/; yields the audit log's mark from before the install."""
    # The tier's other modules made the CRD from manifests/: let Helm install its own.
    kubectl(control_plane, "delete", "crd", CRD, "--ignore-not-found", "--wait=true")
    prepare_namespace(control_plane, kube_api)
    values = tmp_path_factory.mktemp("helm") / "kit-values.yaml"
    values.write_text(yaml.safe_dump(kit_values(operator_image[0])))
    mark = audit_mark(control_plane)
    try:
        helm(control_plane, "install", RELEASE, str(CHART), "-f", str(values))
        yield mark
    finally:
        # Whatever a failed test left: the release, its leftovers, then the CRD as the tier's
        # other modules expect it.
        with contextlib.suppress(AssertionError):
            helm(control_plane, "uninstall", RELEASE, "--wait", "--ignore-not-found")
        with contextlib.suppress(AssertionError):
            kubectl(control_plane, "delete", "validatingadmissionpolicybinding",
                    "--ignore-not-found", "-l", PART_OF)  # fmt: skip
        with contextlib.suppress(AssertionError):
            kubectl(control_plane, "delete", "namespace", SYSTEM, "--ignore-not-found",
                    "--wait=true")  # fmt: skip
        install_crd(kube_api)


def test_helm_install_upgrade_uninstall_run_isolating_on_packets(
    control_plane: ControlPlane,
    dataplane: Dataplane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    released: int,
    operator_image: tuple[str, str],
    dataplane_report: list[str],
) -> None:
    first, second = operator_image
    ready_after = wait_running(kube_api, image=first)
    crd = json.loads(kubectl(control_plane, "get", "crd", CRD, "-o", "json",
                             "--show-managed-fields"))  # fmt: skip
    assert "helm" in {entry["manager"] for entry in crd["metadata"]["managedFields"]}, crd
    # The admission keeper runs in the pods, as the release's ServiceAccount.
    keeper = created_by(control_plane, resource="validatingadmissionpolicybindings",
                        name=BASELINE_BINDING, since=released)  # fmt: skip
    assert keeper == {OPERATOR_USER}, keeper
    tenant = isolate_tenant(
        plane=control_plane, dataplane=dataplane, api=kube_api, make_namespace=make_namespace
    )
    try:
        helm(control_plane, "upgrade", RELEASE, str(CHART), "--reuse-values",
             "--set", f"image.tag={second.rsplit(':', 1)[1]}")  # fmt: skip
        rollout = watch_rollout(api=kube_api, dataplane=dataplane, tenant=tenant, image=second)
        history = yaml.safe_load(helm(control_plane, "history", RELEASE, "-o", "yaml"))
        assert [entry["status"] for entry in history] == ["superseded", "deployed"], history
        dataplane_report.append(
            f"helm: 2 replicas Ready in {ready_after:.0f} s; {rollout.describe()}"
        )
    finally:
        # docs/install.md#uninstalling: profiles first, while the operator runs.
        delete_profile(kube_api, tenant.profile)

    helm(control_plane, "uninstall", RELEASE, "--wait")
    core = client.CoreV1Api(kube_api)
    # --wait waits for the Deployment; its pods go after, by the garbage collector.
    wait_for("the pods gone", lambda: not core.list_namespaced_pod(SYSTEM).items, timeout=120)
    # docs/install.md, the leftovers for Helm: the keeper's baseline binding, the Lease, the
    # signing key and the namespace, the CRD, and the policies profiles orphaned.
    assert admission_leftovers(control_plane) == [BASELINE_LEFTOVER]
    assert left_in_namespace(control_plane) == [
        f"lease.coordination.k8s.io/{LEASE}",
        "secret/netiso-signing-key",
    ]
    assert not kubectl(control_plane, "get", CLUSTER_KINDS, "-l", PART_OF, "-o", "name")
    assert not kubectl(control_plane, "get", "roles,rolebindings", "-A", "-l", PART_OF,
                       "-o", "name")  # fmt: skip
    assert kubectl(control_plane, "get", "crd", CRD, "-o", "name").strip()
    assert kubectl(control_plane, "get", "networkpolicy", "-n", tenant.namespace, "-l", MANAGED,
                   "-o", "name").split()  # fmt: skip

    # Each with the command docs/install.md gives for it, then its check that nothing is left.
    kubectl(control_plane, "delete", "validatingadmissionpolicybinding", BASELINE_BINDING)
    kubectl(control_plane, "-n", SYSTEM, "delete", "lease", LEASE)
    kubectl(control_plane, "delete", "namespace", SYSTEM, "--wait=true")
    kubectl(control_plane, "delete", "crd", CRD)
    kubectl(control_plane, "delete", "networkpolicy", "-A", "-l", MANAGED)
    assert not admission_leftovers(control_plane)
    assert not kubectl(control_plane, "get", "networkpolicy", "-A", "-l", MANAGED, "-o", "name")
    assert not kubectl(control_plane, "get", "crd", CRD, "--ignore-not-found", "-o", "name")
    assert SYSTEM not in {ns.metadata.name for ns in core.list_namespace().items}
