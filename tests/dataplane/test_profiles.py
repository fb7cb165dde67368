"""Each shipped sample profile, enforced on real packets by the real operator.

For a namespace opted in to the sample: default-deny blocks ingress and egress; DNS egress
reaches only the DNS pods (an agnhost stand-in labelled as the profile says, in its DNS
namespace) on exactly the DNS ports; gateway and monitoring pods reach exactly their ports;
cross-namespace traffic is blocked; and with the enforcer stopped the same traffic is open.
Every pod serves every probed port, and every port answered before the namespace opted in.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from netiso.conventions import MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROFILE_LABEL
from netiso.model.parsing import parse_profile
from netiso.model.profiles import PortRule, Profile
from netiso.model.selection import LabelSelector
from netiso_devkit.dataplane.nodes import Dataplane
from netiso_devkit.harness import (
    GROUP,
    OPERATOR_USER,
    PLURAL,
    ROOT,
    VERSION,
    OperatorProcess,
    grant_operator_rbac,
    install_crd,
    running_operator,
    wait_for,
)
from netiso_devkit.localcluster.controlplane import ControlPlane
from tests.dataplane.conftest import MakeNamespace, unique_name
from tests.dataplane.traffic import (
    PodKey,
    Probe,
    Scene,
    ScenePod,
    mismatches,
    observe,
    start_scene,
)

SAMPLES = sorted((ROOT / "manifests" / "samples").glob("*.yaml"))
SAMPLE_PROFILES = [
    p for p in SAMPLES if yaml.safe_load(p.read_text())["kind"] == "IsolationProfile"
]
# A port no profile allows: the negative control on every pod.
CLOSED_PORT = 7000
UDP_PORT = 53


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane,
    dataplane: Dataplane,
    kube_api: client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    install_crd(kube_api)
    grant_operator_rbac(kube_api)
    kubeconfig = control_plane.user_kubeconfig(OPERATOR_USER)
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    with running_operator(kubeconfig=kubeconfig, log_path=log) as process:
        yield process


def selector_labels(selector: LabelSelector | None) -> dict[str, str]:
    """Labels that a pod needs to match `selector` (match_labels only; the samples use no
    expressions)."""
    if selector is None:
        return {}
    assert not selector.match_expressions, "the traffic test builds pods for matchLabels only"
    return dict(selector.match_labels)


def probed_ports(profile: Profile) -> tuple[int, ...]:
    """Every TCP port a profile names, the edges of its ranges and their outside neighbours,
    plus CLOSED_PORT: what "exactly these ports" is checked on."""
    ports = {CLOSED_PORT}
    rules: list[PortRule] = [*profile.dns.ports, *profile.gateway.ports, *profile.monitoring.ports]
    for rule in rules:
        assert isinstance(rule.port, int), "the samples name ports by number"
        last = rule.end_port or rule.port
        ports |= {rule.port, last, rule.port - 1, last + 1}
    return tuple(sorted(p for p in ports if 0 < p < 65000))


def allows(rules: tuple[PortRule, ...], port: int, protocol: str) -> bool:
    return any(
        str(rule.protocol) == protocol
        and isinstance(rule.port, int)
        and rule.port <= port <= (rule.end_port or rule.port)
        for rule in rules
    )


def ensure_namespace(kube_api: client.ApiClient, name: str) -> None:
    with contextlib.suppress(ApiException):
        client.CoreV1Api(kube_api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
        )


def load_profile(path: Path, name: str) -> tuple[dict[str, Any], Profile]:
    body = yaml.safe_load(path.read_text())
    body["metadata"] = {"name": name}
    return body, parse_profile(body)


@pytest.mark.parametrize("sample", SAMPLE_PROFILES, ids=lambda p: p.stem)
def test_sample_profile_isolates_on_packets(
    sample: Path,
    operator: OperatorProcess,
    dataplane: Dataplane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    dataplane_report: list[str],
) -> None:
    body, profile = load_profile(sample, unique_name(sample.stem))
    app = make_namespace("app")
    other = make_namespace("other")
    dns_ns, gateway_ns, monitoring_ns = (
        profile.dns.namespace,
        (profile.gateway.namespaces or ("ingress-nginx",))[0],
        (profile.monitoring.namespaces or ("monitoring",))[0],
    )
    for name in (dns_ns, gateway_ns, monitoring_ns):
        ensure_namespace(kube_api, name)
    suffix = unique_name("p").split("-")[1]
    workload = ScenePod(app, "workload", {"app": "workload"})
    peer = ScenePod(app, "peer", {"app": "peer"})
    outsider = ScenePod(other, "outsider", {"app": "workload"})
    dns = ScenePod(dns_ns, f"dns-{suffix}", selector_labels(profile.dns.pod_selector))
    dns_decoy = ScenePod(dns_ns, f"dns-decoy-{suffix}", {"app": "not-dns"})
    gateway = ScenePod(
        gateway_ns, f"gateway-{suffix}", selector_labels(profile.gateway.pod_selector)
    )
    gateway_decoy = ScenePod(gateway_ns, f"gateway-decoy-{suffix}", {"app": "not-gateway"})
    scraper = ScenePod(
        monitoring_ns, f"scraper-{suffix}", selector_labels(profile.monitoring.pod_selector)
    )
    scraper_decoy = ScenePod(monitoring_ns, f"scraper-decoy-{suffix}", {"app": "not-scraper"})
    pods = [workload, peer, outsider, dns, dns_decoy, gateway, gateway_decoy, scraper]
    scene = Scene(pods=[*pods, scraper_decoy], tcp_ports=probed_ports(profile), udp_port=UDP_PORT)
    isolated = {workload.key, peer.key}
    core = client.CoreV1Api(kube_api)
    try:
        start_scene(dataplane, scene)
        # Known open: before the namespace opts in, every pod answers on every probed port.
        _, closed = mismatches(dataplane, scene, lambda probe: True)
        assert not closed, "servers not answering before isolation:\n" + "\n".join(closed)

        def expected(probe: Probe) -> bool:
            source, target, port, protocol = probe
            egress = True
            if source in isolated and profile.default_deny.egress:
                egress = (
                    profile.dns.enabled
                    and target == dns.key
                    and allows(profile.dns.ports, port, protocol)
                )
            ingress = True
            if target in isolated and profile.default_deny.ingress:
                from_gateway = (
                    profile.gateway.enabled
                    and source == gateway.key
                    and profile.gateway.target_pod_selector.matches(_labels(scene, target))
                    and allows(profile.gateway.ports, port, protocol)
                )
                from_scraper = (
                    profile.monitoring.enabled
                    and source == scraper.key
                    and profile.monitoring.target_pod_selector.matches(_labels(scene, target))
                    and allows(profile.monitoring.ports, port, protocol)
                )
                ingress = from_gateway or from_scraper
            return egress and ingress

        custom = client.CustomObjectsApi(kube_api)
        custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, body)
        core.patch_namespace(
            app, {"metadata": {"labels": {PROFILE_LABEL: body["metadata"]["name"]}}}
        )
        opted_in = time.monotonic()
        # The canary: a probe the profile blocks, polled until the enforcer blocks it.
        canary = next(p for p in scene.probes() if not expected(p))
        wait_for(
            "netiso's policies to act on packets",
            lambda: observe(dataplane, scene, [canary], timeout=0.25)[canary] != "connected",
            timeout=60,
            interval=0.1,
        )
        dataplane_report.append(
            f"{sample.stem}: enforced on packets {time.monotonic() - opted_in:.2f} s after the "
            "namespace opted in (operator + enforcer)"
        )
        managed = client.NetworkingV1Api(kube_api).list_namespaced_network_policy(
            app, label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
        )
        assert managed.items, "no netiso policy in the opted-in namespace"

        round_started = time.monotonic()
        observed, wrong = mismatches(dataplane, scene, expected)
        dataplane_report.append(
            f"{sample.stem}: a probe round of {len(observed)} connections from "
            f"{len(scene.pods)} pods took {time.monotonic() - round_started:.2f} s"
        )
        assert not wrong, f"{sample.stem} under enforcement:\n" + "\n".join(wrong)
        _assert_meaningful(
            observed,
            expected,
            profile=profile,
            keys={
                "workload": workload.key,
                "outsider": outsider.key,
                "dns": dns.key,
                "dns_decoy": dns_decoy.key,
                "gateway": gateway.key,
                "scraper": scraper.key,
            },
        )

        dataplane.stop_enforcer()
        try:
            _, still_blocked = mismatches(dataplane, scene, lambda probe: True)
            assert not still_blocked, "with the enforcer stopped:\n" + "\n".join(still_blocked)
        finally:
            dataplane.start_enforcer()
    finally:
        for pod in scene.pods:
            with contextlib.suppress(ApiException):
                core.delete_namespaced_pod(pod.name, pod.namespace, grace_period_seconds=0)
        with contextlib.suppress(ApiException):
            client.CustomObjectsApi(kube_api).delete_cluster_custom_object(
                GROUP, VERSION, PLURAL, body["metadata"]["name"]
            )


def _labels(scene: Scene, key: PodKey) -> dict[str, str]:
    return dict(next(p for p in scene.pods if p.key == key).labels)


def _assert_meaningful(
    observed: dict[Probe, str],
    expected: Any,
    *,
    profile: Profile,
    keys: dict[str, PodKey],
) -> None:
    """The comparison covered what the profile promises: each promise has at least one probe
    that must be blocked and, where the profile allows something, one that must be open."""

    def some(source: str, target: str, *, is_open: bool) -> bool:
        return any(
            (result == "connected") is is_open
            for (s, t, _, _), result in observed.items()
            if s == keys[source] and t == keys[target]
        )

    if profile.default_deny.ingress:
        assert not some("outsider", "workload", is_open=True), "cross-namespace ingress open"
    if profile.default_deny.egress:
        assert not some("workload", "outsider", is_open=True), "cross-namespace egress open"
        assert not some("workload", "dns_decoy", is_open=True), "egress to a non-DNS pod open"
        if profile.dns.enabled:
            assert some("workload", "dns", is_open=True), "no DNS egress"
            assert some("workload", "dns", is_open=False), "DNS egress wider than its ports"
    if profile.default_deny.ingress and profile.gateway.enabled:
        assert some("gateway", "workload", is_open=True), "gateway blocked"
        assert some("gateway", "workload", is_open=False), "gateway wider than its ports"
    if profile.default_deny.ingress and profile.monitoring.enabled:
        assert some("scraper", "workload", is_open=True), "monitoring blocked"
        assert some("scraper", "workload", is_open=False), "monitoring wider than its ports"
