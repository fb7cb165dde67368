"""`netiso doctor` against the real API server: a profile checked against the DNS Service's
EndpointSlices and pods, NodeLocal DNSCache, the gateway pods and the namespace's own pods.

Pods, Services, EndpointSlices and a DaemonSet are created directly (no kubelet needed: the
API server stores them as given). Each test has its own DNS, gateway and team namespaces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, utils

from netiso.cli.app import main
from netiso_devkit.harness import install_crd

from .conftest import MakeNamespace, MakeUserKubeconfig, unique_name
from .ship_dns import dns_objects, pod
from .test_api_server_access import slice_body

DNS_LABELS = {"k8s-app": "kube-dns"}


@pytest.fixture
def crd(kube_api: client.ApiClient) -> None:
    install_crd(kube_api)


@pytest.fixture
def scene(kube_api: client.ApiClient, make_namespace: MakeNamespace, crd: None) -> dict[str, str]:
    """DNS, gateway and team namespaces with healthy objects."""
    names = {part: make_namespace(f"doctor-{part}") for part in ("dns", "gw", "team")}
    objects = [
        *dns_objects(names["dns"], pod_labels=DNS_LABELS),
        pod(names["gw"], "nginx-0", {"app": "nginx"}),
        pod(
            names["team"],
            "web",
            {"app": "web"},
            ports=[{"name": "http", "containerPort": 8080}],
            readinessProbe={"httpGet": {"port": "http", "path": "/"}},
        ),
    ]
    utils.create_from_yaml(kube_api, yaml_objects=objects)
    return names


def spec_for(names: dict[str, str], **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "dns": {"namespace": names["dns"]},
        "gateway": {
            "enabled": True,
            "namespaces": [names["gw"]],
            "podSelector": {"matchLabels": {"app": "nginx"}},
            "ports": [{"port": 8080}],
        },
    }
    for key, value in changes.items():
        spec[key] = spec.get(key, {}) | value
    return spec


def doctor(
    kubeconfig: Path, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, dict[str, Any], str]:
    code = main(["doctor", "--kubeconfig", str(kubeconfig), "-o", "json", *argv])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out else {}), captured.err


def reasons(report: dict[str, Any]) -> list[str]:
    return [finding["reason"] for finding in report["findings"]]


def test_a_profile_that_fits_exits_0_and_lists_the_probe_note(
    admin_kubeconfig: Path,
    scene: dict[str, str],
    profiles: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = profiles("fit", **spec_for(scene))
    code, report, err = doctor(admin_kubeconfig, capsys, "--profile", name, "-n", scene["team"])
    assert (code, err) == (0, "")
    assert report["fine"] is True
    assert reasons(report) == ["ProbeFromNode"]
    assert report["namespaces"] == [scene["team"]]


def test_findings_name_the_fix_and_exit_1(
    kube_api: client.ApiClient,
    admin_kubeconfig: Path,
    scene: dict[str, str],
    profiles: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # CoreDNS labelled differently, the gateway selector misspelt, a port nothing admits, and
    # NodeLocal DNSCache running.
    spec = spec_for(
        scene,
        dns={"podSelector": {"matchLabels": {"k8s-app": "coredns"}}},
        gateway={"podSelector": {"matchLabels": {"app": "ngnix"}}, "ports": [{"port": 8443}]},
    )
    name = profiles("misfit", **spec)
    db = pod(scene["team"], "db", {"app": "db"}, ports=[{"name": "pg", "containerPort": 5432}])
    cache = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "node-local-dns",
            "namespace": scene["dns"],
            "labels": {"k8s-app": "node-local-dns"},
        },
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "node-local-dns"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "node-local-dns"}},
                "spec": {
                    "containers": [
                        {
                            "name": "node-cache",
                            "image": "registry.invalid/k8s-dns-node-cache:1",
                            "args": ["-localip", "169.254.20.10,10.96.0.10"],
                        }
                    ]
                },
            },
        },
    }
    utils.create_from_yaml(kube_api, yaml_objects=[db, cache])
    try:
        code, report, err = doctor(admin_kubeconfig, capsys, "--profile", name, "-n", scene["team"])
    finally:
        client.AppsV1Api(kube_api).delete_namespaced_daemon_set("node-local-dns", scene["dns"])
    assert (code, err) == (1, "")
    found = {finding["reason"]: finding for finding in report["findings"]}
    assert found["DnsNoReadyEndpoint"]["fix"] == (
        "set spec.dns.podSelector to {matchLabels: {k8s-app: kube-dns}}"
    )
    assert found["GatewayMatchesNothing"]["fix"] == (
        "set spec.gateway.podSelector to {matchLabels: {app: nginx}}"
    )
    assert found["NodeLocalCacheNotAllowed"]["fix"] == (
        "set spec.dns.nodeLocalCache.enabled: true (address 169.254.20.10)"
    )
    assert "spec.gateway.ports[0] (TCP 8443)" in found["PortNotExposed"]["message"]
    unreached = [f["subject"] for f in report["findings"] if f["reason"] == "PortUnreached"]
    assert sorted(unreached) == [f"pod {scene['team']}/db", f"pod {scene['team']}/web"]


def test_text_output_and_the_opted_in_namespaces_by_default(
    kube_api: client.ApiClient,
    admin_kubeconfig: Path,
    scene: dict[str, str],
    profiles: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = profiles("text", **spec_for(scene, dns={"namespace": scene["gw"]}))
    client.CoreV1Api(kube_api).patch_namespace(
        scene["team"], {"metadata": {"labels": {"netiso.io/profile": name}}}
    )
    code = main(["doctor", "--kubeconfig", str(admin_kubeconfig), "--profile", name])
    out = capsys.readouterr().out
    assert code == 1
    assert f"namespaces: {scene['team']}" in out
    assert f"ERROR [dns] no Service in namespace {scene['gw']} serves port 53" in out
    assert "  fix: set spec.dns.namespace to the namespace of the cluster DNS Service" in out


def test_bad_input_exits_2_with_one_line_and_no_traceback(
    admin_kubeconfig: Path, crd: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = doctor(admin_kubeconfig, capsys, "--profile", "no-such-profile-here")
    assert code == 2
    assert err == (
        "netiso doctor: error: --profile: IsolationProfile 'no-such-profile-here' not found "
        "(kubectl get isolationprofiles)\n"
    )
    code, _, err = doctor(admin_kubeconfig, capsys, "--profile", "Bad_Name")
    assert code == 2
    assert err.startswith("netiso doctor: error: --profile: ")


def test_the_documented_permissions_suffice_and_a_missing_one_is_named(
    kube_api: client.ApiClient,
    scene: dict[str, str],
    profiles: Any,
    user_kubeconfig: MakeUserKubeconfig,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = profiles("rbac", **spec_for(scene))
    user = f"doctor-{scene['team']}"
    rules = [
        {"apiGroups": ["netiso.io"], "resources": ["isolationprofiles"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["list"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list"]},
        {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["list"]},
    ]
    rbac = client.RbacAuthorizationV1Api(kube_api)
    rbac.create_cluster_role({"metadata": {"name": user}, "rules": rules})
    binding = {
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    rbac.create_cluster_role_binding(binding)
    try:
        kubeconfig = user_kubeconfig(user)
        code, report, err = doctor(kubeconfig, capsys, "--profile", name, "-n", scene["team"])
        assert (code, err, report["fine"]) == (0, "", True)
        rbac.patch_cluster_role(user, {"rules": rules[:-1]})
        code, _, err = doctor(kubeconfig, capsys, "--profile", name, "-n", scene["team"])
        assert code == 2
        assert err.startswith("netiso doctor: error: permission denied: ")
        assert "daemonsets" in err
        assert "netiso doctor needs to" in err
    finally:
        rbac.delete_cluster_role_binding(user)
        rbac.delete_cluster_role(user)


def test_api_server_access_without_endpoints_is_found_and_with_one_the_caveat_is_noted(
    kube_api: client.ApiClient,
    admin_kubeconfig: Path,
    scene: dict[str, str],
    profiles: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    access = {"enabled": True, "podSelector": {"matchLabels": {"app": "web"}}}
    name = profiles("api", **spec_for(scene), apiServer=access)
    discovery = client.DiscoveryV1Api(kube_api)
    # The local control plane advertises a loopback address, which its `kubernetes`
    # EndpointSlice never lists: the allow would admit nothing.
    listed = discovery.list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=kubernetes"
    )
    assert not [e for s in listed.items for e in (s.endpoints or ())]
    code, report, _ = doctor(admin_kubeconfig, capsys, "--profile", name, "-n", scene["team"])
    assert code == 1
    assert reasons(report) == ["ApiServerEndpointsUnknown", "ProbeFromNode"]
    extra = slice_body(unique_name("kubernetes-doctor"), "10.123.0.9")
    discovery.create_namespaced_endpoint_slice("default", extra)
    try:
        code, report, _ = doctor(admin_kubeconfig, capsys, "--profile", name, "-n", scene["team"])
    finally:
        discovery.delete_namespaced_endpoint_slice(extra["metadata"]["name"], "default")
    assert code == 0
    (note,) = [f for f in report["findings"] if f["check"] == "api-server"]
    cluster_ip = client.CoreV1Api(kube_api).read_namespaced_service("kubernetes", "default")
    assert note["reason"] == "ApiServerBeforeTranslation"
    assert "admits 10.123.0.9/32 on TCP 6443" in note["message"]
    assert f"also admit {cluster_ip.spec.cluster_ip} on TCP 443" in note["fix"]
