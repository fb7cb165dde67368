"""The operator against the real API server, run as users run it, under the shipped RBAC.

Each test creates its own profile and namespaces; one operator process serves the module
(restart tests start their own). Assertions look at what a user sees: the policies in the API
server, the Namespace object, /metrics, Events and the profile status.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from netiso_devkit.harness import (
    GROUP,
    PLURAL,
    VERSION,
    OperatorProcess,
    paused,
    running_operator,
    wait_for,
)

from .conftest import PROTECTED_NS, MakeNamespace, profile_body, unique_name
from .ship_cluster import (
    apiserver_writes,
    events_for,
    label_namespace,
    managed_in,
    matches_rendered,
    netiso_cli,
    policies_in,
)

pytestmark = pytest.mark.integration

MANAGED = "app.kubernetes.io/managed-by=netiso"
GATEWAY: dict[str, Any] = {
    "enabled": True,
    "namespaces": ["ingress-nginx"],
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
    "ports": [{"protocol": "TCP", "port": 8080}],
}


# --- helpers ---------------------------------------------------------------------------------


def net(api: client.ApiClient) -> client.NetworkingV1Api:
    return client.NetworkingV1Api(api)


def profile_status(api: client.ApiClient, name: str) -> dict[str, Any]:
    body = client.CustomObjectsApi(api).get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    return dict(body.get("status") or {})


def dependencies_condition(api: client.ApiClient, name: str) -> dict[str, Any] | None:
    """The profile's stored DependenciesResolved condition, None until the operator wrote it."""
    for condition in profile_status(api, name).get("conditions") or []:
        if condition.get("type") == "DependenciesResolved":
            return dict(condition)
    return None


# --- behaviour -------------------------------------------------------------------------------


def test_labelling_a_namespace_creates_exactly_the_rendered_policies(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
) -> None:
    profile = profiles(gateway=GATEWAY)
    ns = make_namespace("optin", labels={"netiso.io/profile": profile})
    core = client.CoreV1Api(kube_api)
    before = core.read_namespace(ns)

    wait_for("policies rendered", lambda: matches_rendered(kube_api, profile=profile, namespace=ns))
    assert sorted(managed_in(kube_api, ns)) == [
        "netiso-allow-dns-egress",
        "netiso-allow-gateway-ingress",
        "netiso-default-deny",
    ]
    after = core.read_namespace(ns)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.metadata.annotations == before.metadata.annotations
    assert after.metadata.finalizers == before.metadata.finalizers
    wait_for("Isolated event", lambda: events_for(kube_api, ns, reason="Isolated"))
    wait_for(
        "status in sync",
        lambda: profile_status(kube_api, profile).get("inSync") == 1,
    )
    conditions = {c["type"]: c for c in profile_status(kube_api, profile)["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert operator.metric("netiso_namespaces", profile=profile, state="isolated") == 1


def test_editing_the_profile_updates_every_namespace_and_opt_out_removes_them(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
) -> None:
    profile = profiles(gateway=GATEWAY)
    names = [make_namespace("fan", labels={"netiso.io/profile": profile}) for _ in range(3)]
    for ns in names:
        wait_for(
            f"{ns} isolated",
            functools.partial(matches_rendered, kube_api, profile=profile, namespace=ns),
        )

    wider = copy.deepcopy(GATEWAY)
    wider["ports"].append({"protocol": "TCP", "port": 8443})
    client.CustomObjectsApi(kube_api).patch_cluster_custom_object(
        GROUP, VERSION, PLURAL, profile, {"spec": {"gateway": wider}}
    )
    for ns in names:
        wait_for(
            f"{ns} updated",
            functools.partial(matches_rendered, kube_api, profile=profile, namespace=ns),
        )
        ports = managed_in(kube_api, ns)["netiso-allow-gateway-ingress"]["spec"]["ingress"][0]
        assert {p["port"] for p in ports["ports"]} == {8080, 8443}

    label_namespace(kube_api, names[0], profile=None)
    # Well inside the module operator's 20 s resync: the watch event alone must do it.
    wait_for("opt-out removes policies", lambda: not managed_in(kube_api, names[0]), timeout=5)
    wait_for("OptedOut event", lambda: events_for(kube_api, names[0], reason="OptedOut"))
    assert matches_rendered(kube_api, profile=profile, namespace=names[1])


def test_deleted_and_edited_policies_are_repaired(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
) -> None:
    profile = profiles()
    ns = make_namespace("repair", labels={"netiso.io/profile": profile})
    wait_for("isolated", lambda: matches_rendered(kube_api, profile=profile, namespace=ns))
    repaired_before = operator.metric_sum("netiso_drift_repaired_total", profile=profile)

    net(kube_api).delete_namespaced_network_policy("netiso-allow-dns-egress", ns)
    wait_for(
        "deleted policy back",
        lambda: matches_rendered(kube_api, profile=profile, namespace=ns),
        timeout=10,
    )

    net(kube_api).patch_namespaced_network_policy(
        "netiso-default-deny", ns, {"spec": {"policyTypes": ["Ingress"]}}
    )
    wait_for(
        "edited policy repaired",
        lambda: matches_rendered(kube_api, profile=profile, namespace=ns),
        timeout=10,
    )

    wait_for(
        "repairs counted",
        lambda: (
            operator.metric_sum("netiso_drift_repaired_total", profile=profile)
            >= repaired_before + 2
        ),
    )
    detected = {
        reason: operator.metric("netiso_drift_detected_total", profile=profile, reason=reason)
        for reason in ("missing", "modified")
    }
    assert detected == {"missing": 1, "modified": 1}
    wait_for("DriftDetected event", lambda: events_for(kube_api, ns, reason="DriftDetected"))
    wait_for("DriftRepaired event", lambda: events_for(kube_api, ns, reason="DriftRepaired"))
    wait_for(
        "drift gauge cleared",
        lambda: operator.metric_sum("netiso_policy_drift", namespace=ns) == 0,
    )


def test_report_mode_leaves_drift_and_shows_it_until_reverted(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
) -> None:
    profile = profiles(driftAction="Report")
    ns = make_namespace("report", labels={"netiso.io/profile": profile})
    wait_for("isolated", lambda: matches_rendered(kube_api, profile=profile, namespace=ns))
    original = managed_in(kube_api, ns)["netiso-default-deny"]["spec"]

    net(kube_api).patch_namespaced_network_policy(
        "netiso-default-deny", ns, {"spec": {"policyTypes": ["Ingress"]}}
    )
    labels = {"namespace": ns, "profile": profile, "policy": "netiso-default-deny"}
    wait_for(
        "drift gauge",
        lambda: operator.metric("netiso_policy_drift", **labels, reason="modified") == 1,
        timeout=10,
    )
    time.sleep(1.0)  # give a (wrong) repair every chance to happen
    assert managed_in(kube_api, ns)["netiso-default-deny"]["spec"]["policyTypes"] == ["Ingress"]
    assert (
        operator.metric(
            "netiso_namespace_out_of_sync", namespace=ns, profile=profile, state="drifted"
        )
        == 1
    )
    wait_for("DriftDetected event", lambda: events_for(kube_api, ns, reason="DriftDetected"))
    wait_for("status drifted", lambda: profile_status(kube_api, profile).get("drifted") == 1)

    net(kube_api).patch_namespaced_network_policy(
        "netiso-default-deny", ns, {"spec": {"policyTypes": original["policyTypes"]}}
    )
    wait_for(
        "drift gauge gone",
        lambda: operator.metric("netiso_policy_drift", **labels, reason="modified") is None,
        timeout=10,
    )
    assert operator.metric("netiso_namespaces", profile=profile, state="isolated") == 1


def test_missing_profile_warns_and_converges_when_it_appears(
    operator: OperatorProcess, kube_api: client.ApiClient, make_namespace: MakeNamespace
) -> None:
    name = unique_name("later")
    ns = make_namespace("missing", labels={"netiso.io/profile": name})
    wait_for("ProfileMissing event", lambda: events_for(kube_api, ns, reason="ProfileMissing"))
    assert not managed_in(kube_api, ns)
    # The name in the namespace label names no profile: it never becomes a label value.
    assert (
        operator.metric(
            "netiso_namespace_out_of_sync", namespace=ns, profile="unknown", state="missing_profile"
        )
        == 1
    )
    assert name not in operator.metrics_text()
    message = events_for(kube_api, ns, reason="ProfileMissing")[0].message
    assert "no netiso policies are in place" in message
    api = client.CustomObjectsApi(kube_api)
    api.create_cluster_custom_object(GROUP, VERSION, PLURAL, profile_body(name))
    try:
        wait_for("converged", lambda: matches_rendered(kube_api, profile=name, namespace=ns))
        # Metrics follow the writes, so the series goes a moment after the policies appear.
        wait_for(
            "missing_profile series gone",
            lambda: (
                operator.metric(
                    "netiso_namespace_out_of_sync",
                    namespace=ns,
                    profile="unknown",
                    state="missing_profile",
                )
                is None
            ),
            timeout=5,
        )
        assert operator.metric("netiso_namespaces", profile=name, state="isolated") == 1
    finally:
        api.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)


def test_protected_namespace_is_never_isolated(
    operator: OperatorProcess, kube_api: client.ApiClient, profiles: Any
) -> None:
    profile = profiles()
    core = client.CoreV1Api(kube_api)
    for name in (PROTECTED_NS, "kube-system"):
        try:
            core.create_namespace(
                client.V1Namespace(
                    metadata=client.V1ObjectMeta(name=name, labels={"netiso.io/profile": profile})
                )
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
            label_namespace(kube_api, name, profile=profile)
    try:
        for name in (PROTECTED_NS, "kube-system"):
            wait_for(
                f"Protected event in {name}",
                functools.partial(events_for, kube_api, name, reason="Protected"),
            )
            assert not managed_in(kube_api, name)
        assert operator.metric("netiso_namespaces", profile=profile, state="protected") == 2
    finally:
        label_namespace(kube_api, "kube-system", profile=None)
        core.delete_namespace(PROTECTED_NS)


def test_dry_run_writes_nothing_and_reports_pending_changes(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
) -> None:
    profile = profiles(mode="DryRun", gateway=GATEWAY)
    ns = make_namespace("dry", labels={"netiso.io/profile": profile})
    wait_for("DryRun event", lambda: events_for(kube_api, ns, reason="DryRun"))
    message = events_for(kube_api, ns, reason="DryRun")[0].message
    assert "would create netiso-default-deny" in message
    assert not managed_in(kube_api, ns)
    wait_for(
        "pending in status", lambda: profile_status(kube_api, profile).get("pendingChanges") == 3
    )
    assert operator.metric("netiso_dry_run_pending_changes", profile=profile, action="create") == 3
    assert (
        operator.metric(
            "netiso_namespace_out_of_sync", namespace=ns, profile=profile, state="dry_run"
        )
        == 1
    )
    # Switching to Enforce applies exactly what DryRun announced.
    client.CustomObjectsApi(kube_api).patch_cluster_custom_object(
        GROUP, VERSION, PLURAL, profile, {"spec": {"mode": "Enforce"}}
    )
    wait_for("enforced", lambda: matches_rendered(kube_api, profile=profile, namespace=ns))
    wait_for(
        "nothing pending", lambda: profile_status(kube_api, profile).get("pendingChanges") == 0
    )


@pytest.mark.parametrize("on_delete", ["Delete", "Orphan"])
def test_profile_deletion_removes_policies_unless_orphan(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
    on_delete: str,
) -> None:
    profile = profiles(onDelete=on_delete)
    ns = make_namespace("del", labels={"netiso.io/profile": profile})
    wait_for("isolated", lambda: matches_rendered(kube_api, profile=profile, namespace=ns))
    api = client.CustomObjectsApi(kube_api)
    api.delete_cluster_custom_object(GROUP, VERSION, PLURAL, profile)

    def gone() -> bool:
        try:
            api.get_cluster_custom_object(GROUP, VERSION, PLURAL, profile)
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    wait_for("profile gone (finalizer released)", gone)
    if on_delete == "Delete":
        assert not managed_in(kube_api, ns)
    else:
        time.sleep(1.0)
        assert sorted(managed_in(kube_api, ns)) == [
            "netiso-allow-dns-egress",
            "netiso-default-deny",
        ]


def test_unmanaged_policies_are_never_modified_or_deleted(
    operator: OperatorProcess,
    admin_kubeconfig: Path,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
) -> None:
    profile = profiles()
    ns = make_namespace("foreign")
    mine: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "team-own-policy"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    squatter = copy.deepcopy(mine)
    squatter["metadata"]["name"] = "netiso-allow-dns-egress"
    for body in (mine, squatter):
        net(kube_api).create_namespaced_network_policy(ns, body)
    before = {n: b["metadata"]["resourceVersion"] for n, b in policies_in(kube_api, ns).items()}

    label_namespace(kube_api, ns, profile=profile)
    wait_for("ReconcileFailed event", lambda: events_for(kube_api, ns, reason="ReconcileFailed"))
    message = events_for(kube_api, ns, reason="ReconcileFailed")[0].message
    assert "netiso-allow-dns-egress" in message
    assert "holds a name netiso reserves" in message
    assert f"kubectl -n {ns} delete networkpolicy netiso-allow-dns-egress" in message
    # A namesake is a conflict on every signal, and netiso never tried to write over it.
    assert (
        operator.metric(
            "netiso_policy_drift",
            namespace=ns,
            profile=profile,
            policy="netiso-allow-dns-egress",
            reason="conflict",
        )
        == 1
    )
    assert (
        operator.metric(
            "netiso_namespace_out_of_sync", namespace=ns, profile=profile, state="error"
        )
        == 1
    )
    (row,) = json.loads(netiso_cli(admin_kubeconfig, "status", "-n", ns, "-o", "json").stdout)[
        "items"
    ]
    assert (row["state"], row["drift"]) == ("error", "netiso-allow-dns-egress:conflict")
    (shown,) = json.loads(netiso_cli(admin_kubeconfig, "diff", "-n", ns, "-o", "json").stdout)[
        "items"
    ]
    assert (shown["state"], shown["reportedDrift"]) == (
        "error",
        ["netiso-allow-dns-egress:conflict"],
    )
    after = policies_in(kube_api, ns)
    for name, version in before.items():
        assert after[name]["metadata"]["resourceVersion"] == version
    # The allow could not be installed, so the deny must not be either.
    assert "netiso-default-deny" not in after
    assert (
        operator.metric(
            "netiso_namespace_out_of_sync", namespace=ns, profile=profile, state="error"
        )
        == 1
    )

    label_namespace(kube_api, ns, profile=None)
    time.sleep(1.0)
    assert {
        n: b["metadata"]["resourceVersion"] for n, b in policies_in(kube_api, ns).items()
    } == before


# --- restarts --------------------------------------------------------------------------------


def test_restart_with_everything_in_sync_makes_no_writes(
    operator: OperatorProcess,
    operator_kubeconfig: Path,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
    tmp_path: Path,
) -> None:
    profile = profiles(gateway=GATEWAY)
    names = [make_namespace("steady", labels={"netiso.io/profile": profile}) for _ in range(5)]
    for ns in names:
        wait_for(
            f"{ns} isolated",
            functools.partial(matches_rendered, kube_api, profile=profile, namespace=ns),
        )
    wait_for("status in sync", lambda: profile_status(kube_api, profile).get("inSync") == 5)
    # In sync includes the verdict on the profile's DNS and gateway pods, which the first
    # replica writes up to two tracker passes after the profile appears.
    wait_for("dependencies judged", lambda: dependencies_condition(kube_api, profile) is not None)
    time.sleep(1.0)
    versions = {ns: resource_versions(kube_api, ns) for ns in names}
    profile_writes = apiserver_writes(kube_api, "isolationprofiles")

    with (
        paused(operator),
        running_operator(
            kubeconfig=operator_kubeconfig, log_path=tmp_path / "second.log"
        ) as second,
    ):
        time.sleep(3.0)  # the initial listing, reconcile and status flush all run in this time
        assert second.metric("netiso_ready") == 1
        assert second.metric("netiso_namespaces", profile=profile, state="isolated") == 5
        assert second.write_requests() == 0
        assert apiserver_writes(kube_api, "isolationprofiles") == profile_writes
    for ns in names:
        assert resource_versions(kube_api, ns) == versions[ns]


def resource_versions(api: client.ApiClient, namespace: str) -> dict[str, str]:
    return {n: b["metadata"]["resourceVersion"] for n, b in managed_in(api, namespace).items()}


def test_sigkill_mid_reconcile_then_restart_converges_without_duplicates_or_orphans(
    operator: OperatorProcess,
    operator_kubeconfig: Path,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
    tmp_path: Path,
) -> None:
    profile = profiles(gateway=GATEWAY)
    with paused(operator):
        victim = OperatorProcess(kubeconfig=operator_kubeconfig, log_path=tmp_path / "victim.log")
        victim.start()
        names = [make_namespace("kill", labels={"netiso.io/profile": profile}) for _ in range(40)]
        wait_for("some isolated", lambda: any(managed_in(kube_api, ns) for ns in names))
        victim.stop(sig=signal.SIGKILL)
        # Opted out while no operator runs: the restart must sweep its policies.
        label_namespace(kube_api, names[0], profile=None)

        with running_operator(kubeconfig=operator_kubeconfig, log_path=tmp_path / "after.log"):
            for ns in names[1:]:
                wait_for(
                    f"{ns} converged",
                    functools.partial(matches_rendered, kube_api, profile=profile, namespace=ns),
                )
            wait_for("opted-out swept", lambda: not managed_in(kube_api, names[0]))

    everywhere = net(kube_api).list_network_policy_for_all_namespaces(label_selector=MANAGED).items
    per_ns: dict[str, list[str]] = {}
    for item in everywhere:
        per_ns.setdefault(item.metadata.namespace, []).append(item.metadata.name)
    for ns in names[1:]:
        assert sorted(per_ns[ns]) == [
            "netiso-allow-dns-egress",
            "netiso-allow-gateway-ingress",
            "netiso-default-deny",
        ]
    assert names[0] not in per_ns


# --- the CLI against the live cluster ---------------------------------------------------------


def test_cli_diff_and_status_show_drift_that_report_mode_leaves(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    admin_kubeconfig: Path,
    make_namespace: MakeNamespace,
    profiles: Any,
) -> None:
    profile = profiles(driftAction="Report")
    ns = make_namespace("cli", labels={"netiso.io/profile": profile})
    wait_for("isolated", lambda: matches_rendered(kube_api, profile=profile, namespace=ns))

    clean = netiso_cli(admin_kubeconfig, "diff", "--namespace", ns)
    assert clean.returncode == 0, clean.stderr
    assert f"# namespace {ns}: isolated (profile {profile})" in clean.stdout

    net(kube_api).delete_namespaced_network_policy("netiso-allow-dns-egress", ns)
    wait_for(
        "drift reported",
        lambda: operator.metric_sum("netiso_policy_drift", namespace=ns, reason="missing") == 1,
    )
    drifted = netiso_cli(admin_kubeconfig, "diff", "--namespace", ns)
    assert drifted.returncode == 1, drifted.stderr
    assert "drift left in place (driftAction: Report): netiso-allow-dns-egress missing" in (
        drifted.stdout
    )
    assert f"+++ desired/{ns}/netiso-allow-dns-egress" in drifted.stdout

    status = netiso_cli(admin_kubeconfig, "status", "--output", "json")
    assert status.returncode == 0, status.stderr
    rows = {row["namespace"]: row for row in json.loads(status.stdout)["items"]}
    assert rows[ns]["state"] == "drifted"
    assert rows[ns]["drift"] == "netiso-allow-dns-egress:missing"
    table = netiso_cli(admin_kubeconfig, "status").stdout
    assert any(line.split()[:3] == [ns, profile, "drifted"] for line in table.splitlines())


def test_cli_reports_an_unreachable_cluster_without_a_traceback(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: x, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: x, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: x, user: x}}]\n"
    )
    result = netiso_cli(kubeconfig, "status")
    assert result.returncode == 2
    assert result.stderr.startswith("netiso status: error:")
    assert "Traceback" not in result.stderr


def test_demo_starts_its_own_cluster_and_isolates_the_demo_namespace(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update({"HOME": str(tmp_path), "TMPDIR": str(tmp_path)})
    # Keep the shared binary cache although HOME moved.
    env.setdefault("NETISO_CACHE_DIR", str(Path.home() / ".cache" / "netiso"))
    netiso = str(Path(sys.executable).with_name("netiso"))
    result = subprocess.run(
        [netiso, "demo", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "no cluster configured: starting the local control plane" in out
    assert "the operator holds the Lease netiso-system/netiso-operator: it is the leader" in out
    assert "netiso isolated namespace 'netiso-demo' with profile 'netiso-demo'" in out
    for name in (
        "netiso-allow-dns-egress",
        "netiso-allow-gateway-ingress",
        "netiso-allow-monitoring-scrape",
        "netiso-default-deny",
    ):
        assert f"  - {name}:" in out
    assert 'netiso_namespaces{profile="netiso-demo",state="isolated"} 1.0' in out
    assert "export KUBECONFIG=" in out
    assert "stopping the local control plane" in out
