"""The shipped alerts fire and resolve in a real Prometheus scraping a real operator.

The operator runs under the shipped ClusterRole; Prometheus (Debian's package) scrapes its
/metrics every second as job `netiso-metrics` with honor_labels, like the ServiceMonitor, and
evaluates the PrometheusRule's groups every second. The only changes to the rules: each alert's
`for` is rewritten in the extracted groups (ship_prometheus.with_short_for), from minutes to
FOR seconds, and each range or offset in an expression from minutes to 2 s a minute; the rest
of the expressions, labels and annotations are byte-identical to the manifest.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, utils

from netiso import conventions
from netiso_devkit.harness import (
    OPERATOR_USER,
    OperatorProcess,
    grant_operator_rbac,
    install_crd,
    wait_for,
)
from netiso_devkit.localcluster.controlplane import ControlPlane

from .conftest import MakeNamespace, unique_name
from .ship_cluster import (
    DEFAULT_DENY,
    create_profile,
    managed_in,
    matches_rendered,
    remove_profile,
)
from .ship_dns import dns_objects
from .ship_prometheus import (
    JOB,
    PrometheusProcess,
    running_prometheus,
    shipped_groups,
    shorter_windows,
    wait_for_state,
    with_short_for,
)

pytestmark = pytest.mark.integration

DNS_LABELS = {"k8s-app": "kube-dns"}
# Long enough to see `pending` between polls (every 0.2 s), short enough for a quick test.
FOR = "4s"
# Budget for each alert transition: FOR plus a few scrape and evaluation rounds (1 s each).
TRANSITION = 30.0


@pytest.fixture(scope="module")
def groups() -> list[dict[str, Any]]:
    shipped = shipped_groups()
    short = with_short_for(shipped, FOR)
    # The proof is about the shipped rules: only `for` and the windows' lengths may differ.
    for before, after in zip(shipped, short, strict=True):
        for old, new in zip(before["rules"], after["rules"], strict=True):
            assert new.get("for") == (FOR if "alert" in new else old.get("for"))
            assert new["expr"] == shorter_windows(old["expr"])
            assert {k: v for k, v in new.items() if k not in ("for", "expr")} == {
                k: v for k, v in old.items() if k not in ("for", "expr")
            }
    return short


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane,
    kube_api: client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """An operator under the shipped ClusterRole; the tests may stop it (module scope)."""
    install_crd(kube_api)
    grant_operator_rbac(kube_api)
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    process = OperatorProcess(
        kubeconfig=control_plane.user_kubeconfig(OPERATOR_USER), log_path=log
    ).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def prometheus(
    operator: OperatorProcess,
    groups: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PrometheusProcess]:
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    with running_prometheus(
        workdir=workdir, target=f"127.0.0.1:{operator.metrics_port}", groups=groups
    ) as server:
        rules = [
            rule["name"]
            for group in server.api("rules")["groups"]
            for rule in group["rules"]
            if rule["type"] == "alerting"
        ]
        shipped = [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]
        assert sorted(rules) == sorted(shipped), server.log()
        wait_for("netiso target up", lambda: server.target_health().get(JOB) == "up")
        yield server


def test_policy_drift_in_report_mode_fires_then_resolves_when_reverted(
    prometheus: PrometheusProcess,
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
) -> None:
    profile = unique_name("alerts")
    create_profile(kube_api, profile, driftAction="Report")
    try:
        ns = make_namespace("drift", labels={conventions.PROFILE_LABEL: profile})
        wait_for("isolated", lambda: matches_rendered(kube_api, profile=profile, namespace=ns))
        net = client.NetworkingV1Api(kube_api)
        original = net.read_namespaced_network_policy(DEFAULT_DENY, ns).spec
        labels = {"namespace": ns, "profile": profile}
        # Nothing is wrong yet, so nothing is pending for this namespace.
        assert prometheus.alert_state("NetisoPolicyDrift", **labels) is None

        # Someone edits the managed default-deny by hand; Report mode leaves it so.
        net.patch_namespaced_network_policy(
            DEFAULT_DENY, ns, {"spec": {"policyTypes": ["Ingress"]}}
        )
        wait_for_state(
            prometheus, "NetisoPolicyDrift", state="pending", timeout=TRANSITION, **labels
        )
        wait_for_state(
            prometheus, "NetisoPolicyDrift", state="firing", timeout=TRANSITION, **labels
        )
        (alert,) = prometheus.alerts("NetisoPolicyDrift", **labels)
        assert alert["labels"]["severity"] == "warning"
        # honor_labels kept netiso's namespace label: no exported_namespace, no rewrite.
        assert "exported_namespace" not in alert["labels"]
        assert alert["labels"]["namespace"] == ns
        assert ns in alert["annotations"]["summary"]
        assert profile in alert["annotations"]["summary"]
        # The namespace is not isolated as its profile says, and that alert names it too.
        wait_for_state(
            prometheus, "NetisoNamespaceNotIsolated", state="firing", timeout=TRANSITION, **labels
        )
        # Report mode really left the edit in place while the alert fired.
        assert managed_in(kube_api, ns)[DEFAULT_DENY]["spec"]["policyTypes"] == ["Ingress"]

        # Restore the original spec exactly; both alerts leave /api/v1/alerts.
        live = net.read_namespaced_network_policy(DEFAULT_DENY, ns)
        live.spec = original
        net.replace_namespaced_network_policy(DEFAULT_DENY, ns, live)
        wait_for_state(prometheus, "NetisoPolicyDrift", state=None, timeout=TRANSITION, **labels)
        wait_for_state(
            prometheus, "NetisoNamespaceNotIsolated", state=None, timeout=TRANSITION, **labels
        )
        assert matches_rendered(kube_api, profile=profile, namespace=ns)
    finally:
        remove_profile(kube_api, profile)


def test_a_namespace_owners_policy_that_breaks_a_guardrail_fires_until_excepted(
    prometheus: PrometheusProcess,
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
) -> None:
    profile = unique_name("weakened")
    create_profile(kube_api, profile)
    try:
        ns = make_namespace("weakened", labels={conventions.PROFILE_LABEL: profile})
        wait_for("isolated", lambda: matches_rendered(kube_api, profile=profile, namespace=ns))
        labels = {"namespace": ns, "profile": profile}
        assert prometheus.alert_state("NetisoIsolationWeakened", **labels) is None

        # The namespace owner opens the namespace to every source on every port.
        net = client.NetworkingV1Api(kube_api)
        allow_all: dict[str, Any] = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-all"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]},
        }
        net.create_namespaced_network_policy(ns, allow_all)
        wait_for_state(
            prometheus, "NetisoIsolationWeakened", state="pending", timeout=TRANSITION, **labels
        )
        wait_for_state(
            prometheus, "NetisoIsolationWeakened", state="firing", timeout=TRANSITION, **labels
        )
        (alert,) = prometheus.alerts("NetisoIsolationWeakened", **labels)
        assert alert["labels"]["severity"] == "warning"
        assert f"netiso diff -n {ns}" in alert["annotations"]["description"]

        # Recorded as an exception: admitted on purpose, so the alert resolves.
        allow_all["metadata"]["annotations"] = {"netiso.io/exception": "OPS-9 until the fix"}
        net.replace_namespaced_network_policy("allow-all", ns, allow_all)
        wait_for_state(
            prometheus, "NetisoIsolationWeakened", state=None, timeout=TRANSITION, **labels
        )
        # netiso never touched the namespace owner's policy.
        live = net.read_namespaced_network_policy("allow-all", ns)
        assert live.metadata.annotations == {"netiso.io/exception": "OPS-9 until the fix"}
        assert len(live.spec.ingress) == 1
    finally:
        remove_profile(kube_api, profile)


def test_a_profile_whose_dns_has_no_ready_endpoint_fires_until_dns_is_ready(
    prometheus: PrometheusProcess,
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
) -> None:
    dns = make_namespace("alerts-dns")
    service, endpoints = dns_objects(dns, pod_labels=DNS_LABELS)[1:]
    # The DNS Service is there, its EndpointSlice lists no endpoint: no DNS pod is ready.
    utils.create_from_yaml(kube_api, yaml_objects=[service, {**endpoints, "endpoints": []}])
    profile = unique_name("alerts")
    create_profile(kube_api, profile, dns={"namespace": dns})
    try:
        labels = {"profile": profile, "reason": "DnsNoReadyEndpoint"}
        wait_for_state(
            prometheus, "NetisoDependencyUnresolved", state="firing", timeout=TRANSITION, **labels
        )
        (alert,) = prometheus.alerts("NetisoDependencyUnresolved", **labels)
        assert alert["labels"]["severity"] == "warning"
        assert profile in alert["annotations"]["summary"]
        assert alert["annotations"]["runbook_url"].endswith("#netisodependencyunresolved")

        # A DNS pod appears and becomes the Service's ready endpoint: the alert resolves.
        core = client.CoreV1Api(kube_api)
        core.create_namespaced_pod(dns, dns_objects(dns, pod_labels=DNS_LABELS)[0])
        discovery = client.DiscoveryV1Api(kube_api)
        name = endpoints["metadata"]["name"]
        live = discovery.read_namespaced_endpoint_slice(name, dns)
        body = {**endpoints, "metadata": {**endpoints["metadata"]}}
        body["metadata"]["resourceVersion"] = live.metadata.resource_version
        discovery.replace_namespaced_endpoint_slice(name, dns, body)
        wait_for_state(
            prometheus, "NetisoDependencyUnresolved", state=None, timeout=TRANSITION, **labels
        )
    finally:
        remove_profile(kube_api, profile)


def test_operator_down_fires_when_the_operator_stops(
    prometheus: PrometheusProcess, operator: OperatorProcess
) -> None:
    # Scraped successfully: nothing says the operator is down. (Before Prometheus' first
    # scrape the alert is pending, as it should be: that is the "no target at all" case.)
    wait_for("netiso target up", lambda: prometheus.target_health().get(JOB) == "up")
    wait_for_state(prometheus, "NetisoOperatorDown", state=None, timeout=TRANSITION)

    # Signal without waiting: the alert's pending phase starts while Kopf is shutting down.
    assert operator.process is not None
    os.killpg(operator.process.pid, signal.SIGTERM)
    wait_for_state(prometheus, "NetisoOperatorDown", state="pending", timeout=TRANSITION)
    wait_for_state(prometheus, "NetisoOperatorDown", state="firing", timeout=TRANSITION)
    # No second signal: the Deployment's terminationGracePeriodSeconds (30) is the budget.
    code = operator.process.wait(timeout=30)
    assert code == 0, f"operator exited with {code}:\n{operator.log()}"
    assert prometheus.target_health()[JOB] == "down"
    (alert,) = prometheus.alerts("NetisoOperatorDown")
    # absent() of a comparison keeps no labels of its argument: only the rule's own.
    assert alert["labels"] == {"alertname": "NetisoOperatorDown", "severity": "critical"}
