"""netiso's promise against a tenant with edit rights in one namespace, on the real API server.

Each attack from the red-team report ends in the documented safe state within 2 s, and the
signals (metrics, Events, status) tell the truth throughout: repair is authoritative, a label
is not ownership, metrics stay bounded, deleting a profile does not open its namespaces, and a
typo cannot widen a peer.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from netiso.model.parsing import parse_profile
from netiso_devkit.harness import GROUP, PLURAL, VERSION, OperatorProcess, wait_for

from .conftest import MakeNamespace, MakeUserKubeconfig
from .ship_cluster import (
    events_for,
    label_namespace,
    matches_rendered,
    netiso_cli,
    policies_in,
    status_rows,
)

pytestmark = pytest.mark.integration

SAFE_WITHIN = 2.0
OPEN: dict[str, Any] = {"spec": {"ingress": [{}], "egress": [{}]}}


def tenant(kube_api: client.ApiClient, user_kubeconfig: MakeUserKubeconfig, ns: str) -> Any:
    """A NetworkingV1Api as a user with what the built-in `edit` role grants on NetworkPolicies,
    in `ns` only. (The local control plane runs no ClusterRole aggregation controller, so the
    aggregated `edit` role itself is empty there; the rules are spelt out instead.)"""
    user = f"tenant-{ns}"
    rbac = client.RbacAuthorizationV1Api(kube_api)
    rbac.create_namespaced_role(
        ns,
        {
            "metadata": {"name": "tenant-edit"},
            "rules": [
                {
                    "apiGroups": ["networking.k8s.io"],
                    "resources": ["networkpolicies"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                }
            ],
        },
    )
    rbac.create_namespaced_role_binding(
        ns,
        {
            "metadata": {"name": "tenant-edit"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "tenant-edit",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        },
    )
    kubeconfig = str(user_kubeconfig(user))
    api = config.new_client_from_config(config_file=kubeconfig)
    return client.NetworkingV1Api(api)


def safe_within(what: str, probe: Any) -> float:
    """Seconds until probe() holds; fails past SAFE_WITHIN (with slack for a loaded machine)."""
    started = time.monotonic()
    wait_for(what, probe, timeout=SAFE_WITHIN * 5, interval=0.05)
    return time.monotonic() - started


@pytest.mark.parametrize(
    ("policy", "patch_type", "patch"),
    [
        ("netiso-default-deny", "merge", OPEN),
        ("netiso-allow-dns-egress", "json", [{"op": "add", "path": "/spec/egress/-", "value": {}}]),
        (
            "netiso-allow-dns-egress",
            "json",
            [{"op": "add", "path": "/spec/egress/0/to/-", "value": {"namespaceSelector": {}}}],
        ),
    ],
)
def test_a_field_someone_adds_to_a_managed_policy_is_removed(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    user_kubeconfig: MakeUserKubeconfig,
    make_namespace: MakeNamespace,
    profiles: Any,
    policy: str,
    patch_type: str,
    patch: Any,
) -> None:
    profile = profiles()
    ns = make_namespace("attack", labels={"netiso.io/profile": profile})
    wait_for("isolated", lambda: matches_rendered(kube_api, profile=profile, namespace=ns))
    net = tenant(kube_api, user_kubeconfig, ns)
    # The client sends a dict as a merge patch and a list as a JSON patch.
    net.patch_namespaced_network_policy(policy, ns, patch)
    took = safe_within(
        "policy equal to the rendering again",
        lambda: matches_rendered(kube_api, profile=profile, namespace=ns),
    )
    print(f"{policy} {patch_type}-patch repaired in {took:.2f}s")
    # The repair held: no further drift, no repair loop, the namespace in sync.
    time.sleep(1.0)
    assert matches_rendered(kube_api, profile=profile, namespace=ns)
    assert operator.metric_sum("netiso_policy_drift", namespace=ns) == 0
    assert operator.metric_sum("netiso_drift_repaired_total", profile=profile) == 1


def test_report_mode_shows_an_opened_deny_as_drift_for_as_long_as_it_lasts(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    admin_kubeconfig: Path,
    make_namespace: MakeNamespace,
    profiles: Any,
) -> None:
    profile = profiles(driftAction="Report")
    ns = make_namespace("report", labels={"netiso.io/profile": profile})
    wait_for("isolated", lambda: matches_rendered(kube_api, profile=profile, namespace=ns))
    client.NetworkingV1Api(kube_api).patch_namespaced_network_policy(
        "netiso-default-deny", ns, OPEN
    )
    series = {
        "namespace": ns,
        "profile": profile,
        "policy": "netiso-default-deny",
        "reason": "modified",
    }
    safe_within("drift shown", lambda: operator.metric("netiso_policy_drift", **series) == 1)
    for _ in range(3):  # still shown on later reconciles: the gauge is not a blip
        time.sleep(0.5)
        assert operator.metric("netiso_policy_drift", **series) == 1
    assert not matches_rendered(kube_api, profile=profile, namespace=ns)
    # The CLI says the same as the operator, from the live objects.
    row = status_rows(admin_kubeconfig)[ns]
    assert (row["state"], row["drift"]) == ("drifted", "netiso-default-deny:modified")


def test_a_namesake_before_opt_in_is_a_conflict_and_a_label_does_not_adopt_it(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    admin_kubeconfig: Path,
    make_namespace: MakeNamespace,
    profiles: Any,
) -> None:
    profile = profiles()
    ns = make_namespace("namesake")
    net = client.NetworkingV1Api(kube_api)
    allow_all = {
        "metadata": {"name": "netiso-default-deny"},
        "spec": {"podSelector": {}, "ingress": [{}], "egress": [{}]},
    }
    net.create_namespaced_network_policy(ns, allow_all)
    label_namespace(kube_api, ns, profile=profile)
    took = safe_within(
        "conflict reported",
        lambda: (
            operator.metric(
                "netiso_namespace_out_of_sync", namespace=ns, profile=profile, state="error"
            )
            == 1
        ),
    )
    print(f"namesake conflict reported in {took:.2f}s")
    wait_for("allow applied", lambda: "netiso-allow-dns-egress" in policies_in(kube_api, ns))

    # The label a tenant adds later is not ownership: the object stays as it is, reported.
    net.patch_namespaced_network_policy(
        "netiso-default-deny",
        ns,
        {"metadata": {"labels": {"app.kubernetes.io/managed-by": "netiso"}}},
    )
    before = policies_in(kube_api, ns)["netiso-default-deny"]["metadata"]["resourceVersion"]
    series = {"namespace": ns, "profile": profile, "policy": "netiso-default-deny"}
    safe_within(
        "labelled namesake reported",
        lambda: (
            operator.metric("netiso_policy_drift", **series, reason="foreign_claims_managed") == 1
            or operator.metric("netiso_policy_drift", **series, reason="conflict") == 1
        ),
    )
    time.sleep(1.0)
    after = policies_in(kube_api, ns)["netiso-default-deny"]
    assert after["metadata"]["resourceVersion"] == before
    assert after["spec"]["ingress"] == [{}]
    assert operator.metric(
        "netiso_namespace_out_of_sync", namespace=ns, profile=profile, state="error"
    )
    messages = [e.message for e in events_for(kube_api, ns, reason="ReconcileFailed")]
    assert any("is not netiso's" in m for m in messages), messages
    assert status_rows(admin_kubeconfig)[ns]["state"] == "error"


@pytest.mark.parametrize("opted_in", [True, False])
def test_our_label_on_a_foreign_policy_never_gets_it_deleted(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
    opted_in: bool,
) -> None:
    profile = profiles()
    ns = make_namespace("claim", labels={"netiso.io/profile": profile} if opted_in else {})
    if opted_in:
        wait_for("isolated", lambda: matches_rendered(kube_api, profile=profile, namespace=ns))
    net = client.NetworkingV1Api(kube_api)
    platform = {
        "metadata": {"name": "platform-allow-monitoring"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]},
    }
    net.create_namespaced_network_policy(ns, platform)
    net.patch_namespaced_network_policy(
        "platform-allow-monitoring",
        ns,
        {"metadata": {"labels": {"app.kubernetes.io/managed-by": "netiso"}}},
    )
    took = safe_within(
        "foreign claim reported",
        lambda: (
            operator.metric_sum(
                "netiso_policy_drift",
                namespace=ns,
                policy="platform-allow-monitoring",
                reason="foreign_claims_managed",
            )
            == 1
        ),
    )
    print(f"foreign claim (opted in: {opted_in}) reported in {took:.2f}s")
    time.sleep(1.0)
    assert "platform-allow-monitoring" in policies_in(kube_api, ns)


def test_a_thousand_relabels_leave_the_metric_series_bounded(
    operator: OperatorProcess, kube_api: client.ApiClient, make_namespace: MakeNamespace
) -> None:
    ns = make_namespace("relabel", labels={"netiso.io/profile": "typo-0"})

    def series() -> int:
        return sum(
            1
            for line in operator.metrics_text().splitlines()
            if line.startswith("netiso_") and not line.startswith("netiso_api_requests_total")
        )

    wait_for(
        "missing profile shown",
        lambda: (
            operator.metric(
                "netiso_namespace_out_of_sync",
                namespace=ns,
                profile="unknown",
                state="missing_profile",
            )
            == 1
        ),
    )
    before = series()
    core = client.CoreV1Api(kube_api)
    for index in range(1, 1001):
        core.patch_namespace(ns, {"metadata": {"labels": {"netiso.io/profile": f"typo-{index}"}}})
    time.sleep(1.0)
    text = operator.metrics_text()
    assert "typo-" not in text
    assert series() <= before + 2, text
    print(f"1,000 relabels: {before} netiso series before, {series()} after")


def test_deleting_a_profile_keeps_its_namespaces_isolated_by_default(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
) -> None:
    profile = profiles()  # onDelete left at its default
    ns = make_namespace("prune", labels={"netiso.io/profile": profile})
    wait_for("isolated", lambda: matches_rendered(kube_api, profile=profile, namespace=ns))
    client.CustomObjectsApi(kube_api).delete_cluster_custom_object(GROUP, VERSION, PLURAL, profile)
    took = safe_within(
        "missing profile reported",
        lambda: (
            operator.metric(
                "netiso_namespace_out_of_sync",
                namespace=ns,
                profile="unknown",
                state="missing_profile",
            )
            == 1
        ),
    )
    print(f"profile deleted: namespace reported missing_profile in {took:.2f}s, policies kept")
    time.sleep(1.0)
    assert sorted(policies_in(kube_api, ns)) == ["netiso-allow-dns-egress", "netiso-default-deny"]
    messages = [e.message for e in events_for(kube_api, ns, reason="ProfileMissing")]
    assert any("netiso keeps its policies here" in m for m in messages), messages


def test_a_typo_that_empties_the_gateway_selector_is_rejected(
    kube_api: client.ApiClient, tmp_path: Path, operator: OperatorProcess
) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "IsolationProfile",
        "metadata": {"name": "typo-gateway"},
        "spec": {
            "owner": "platform-team",
            "reason": "typo",
            "gateway": {
                "enabled": True,
                "namespaces": ["ingress-nginx"],
                "podSelector": {"matchLabel": {"app": "ingress-nginx"}},
                "ports": [{"port": 8080}],
            },
        },
    }
    api = client.CustomObjectsApi(kube_api)
    with pytest.raises(ApiException) as caught:
        # Non-strict field validation: the server drops matchLabel and sees podSelector: {}.
        api.create_cluster_custom_object(GROUP, VERSION, PLURAL, body, field_validation="Ignore")
    assert caught.value.status == 422
    message = json.loads(caught.value.body)["message"]
    assert "gateway.podSelector is empty" in message
    assert "allPods: true" in message


@pytest.mark.parametrize(
    ("part", "spec", "field"),
    [
        ("dns", {"podSelector": {"matchLabel": {"k8s-app": "kube-dns"}}}, "dns.podSelector"),
        ("dns", {"podSelector": {}}, "dns.podSelector"),
        (
            "gateway",
            {"allPods": True, "targetPodSelector": {"matchLabel": {"app": "web"}}},
            "gateway.targetPodSelector",
        ),
        ("monitoring", {"targetPodSelector": {}}, "monitoring.targetPodSelector"),
    ],
    ids=["dns-typo", "dns-empty", "gateway-target-typo", "monitoring-target-empty"],
)
def test_a_selector_that_would_widen_when_empty_fails_closed(
    kube_api: client.ApiClient,
    operator_kubeconfig: Path,
    part: str,
    spec: dict[str, Any],
    field: str,
) -> None:
    """dns.podSelector and targetPodSelector fail closed like the gateway's podSelector: a typo
    the API server prunes to `{}`, or an explicit `{}`, is refused naming the field."""
    peer = {"enabled": True, "namespaces": ["edge"], "ports": [{"port": 8080}]}
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "IsolationProfile",
        "metadata": {"name": f"typo-{part}-{len(json.dumps(spec))}"},
        "spec": {part: spec if part == "dns" else peer | spec},
    }
    api = client.CustomObjectsApi(kube_api)
    with pytest.raises(ApiException) as caught:
        api.create_cluster_custom_object(GROUP, VERSION, PLURAL, body, field_validation="Ignore")
    assert caught.value.status == 422
    message = json.loads(caught.value.body)["message"]
    assert f"{field} is empty" in message, message


def test_all_pods_and_an_absent_target_say_every_pod_on_purpose(
    kube_api: client.ApiClient, operator_kubeconfig: Path
) -> None:
    name = "every-pod-on-purpose"
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "IsolationProfile",
        "metadata": {"name": name},
        "spec": {
            "dns": {"allPods": True},
            "gateway": {
                "enabled": True,
                "namespaces": ["edge"],
                "allPods": True,
                "ports": [{"port": 8080}],
            },
        },
    }
    api = client.CustomObjectsApi(kube_api)
    api.create_cluster_custom_object(GROUP, VERSION, PLURAL, body)
    try:
        stored = api.get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
        # No default fills the target in: what is stored parses to "every pod" on purpose.
        assert "targetPodSelector" not in stored["spec"]["gateway"]
        assert "podSelector" not in stored["spec"]["dns"]
        profile = parse_profile(stored)
        assert profile.dns.all_pods
        assert profile.dns.pod_selector.selects_all
        assert profile.gateway.target_pod_selector.selects_all
    finally:
        api.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)


NAME_LABEL = "kubernetes.io/metadata.name"
LOW = {"protocol": "TCP", "port": 1, "endPort": 30000}
HIGH = {"protocol": "TCP", "port": 30001, "endPort": 65535}


def ingress_policy(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": list(rules)},
    }


def from_namespaces(selector: dict[str, Any], *ports: dict[str, Any]) -> dict[str, Any]:
    return {"from": [{"namespaceSelector": selector}], "ports": list(ports)}


def name_is(operator: str, *names: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": NAME_LABEL, "operator": operator, "values": list(names)}]}


# Variants no single policy (so no admission rule) shows: the operator must, on every signal.
# OWN stands for the attacked namespace's name.
OWN = "@own-namespace"
ADDING_UP = {
    "selector-leaving-out-only-itself": (
        [ingress_policy("others", from_namespaces(name_is("NotIn", OWN), {"port": 5432}))],
        {("others", "all-namespaces")},
    ),
    "selectors-split-over-peers": (
        [
            ingress_policy(
                "split",
                {
                    "from": [
                        {"namespaceSelector": name_is("In", "kube-system")},
                        {"namespaceSelector": name_is("NotIn", "kube-system")},
                    ],
                    "ports": [{"protocol": "TCP", "port": 5432}],
                },
            )
        ],
        {("split", "all-namespaces")},
    ),
    "selectors-split-over-policies": (
        [
            ingress_policy("system", from_namespaces(name_is("In", "kube-system"), {"port": 5432})),
            ingress_policy(
                "the-rest", from_namespaces(name_is("NotIn", "kube-system"), {"port": 5432})
            ),
        ],
        {("system", "all-namespaces"), ("the-rest", "all-namespaces")},
    ),
    "ports-over-a-wider-peer": (
        [
            ingress_policy("low", from_namespaces({"matchLabels": {"team": "b"}}, LOW)),
            ingress_policy(
                "high",
                from_namespaces(
                    {"matchExpressions": [{"key": "team", "operator": "Exists"}]}, HIGH
                ),
            ),
        ],
        {("low", "no-ports"), ("high", "no-ports")},
    ),
    "ports-over-overlapping-blocks": (
        [
            {
                "metadata": {"name": "blocks"},
                "spec": {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {"to": [{"ipBlock": {"cidr": "10.0.0.0/9"}}], "ports": [LOW]},
                        {
                            "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                            "ports": [HIGH],
                        },
                    ],
                },
            }
        ],
        {("blocks", "no-ports")},
    ),
    "ports-over-two-spellings": (
        [
            ingress_policy(
                "spelled",
                from_namespaces({"matchLabels": {"team": "b"}}, LOW),
                from_namespaces(
                    {"matchExpressions": [{"key": "team", "operator": "In", "values": ["b"]}]},
                    HIGH,
                ),
            )
        ],
        {("spelled", "no-ports")},
    ),
}


@pytest.mark.parametrize("attack", sorted(ADDING_UP))
def test_what_only_adds_up_is_isolation_drift_on_every_signal(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    user_kubeconfig: MakeUserKubeconfig,
    make_namespace: MakeNamespace,
    profiles: Any,
    admin_kubeconfig: Path,
    tmp_path: Path,
    attack: str,
) -> None:
    """Admitted (admission sees one policy and no namespaces), then reported within 2 s by
    the metric, and by `netiso status` and `netiso check` in the same words."""
    template, expected = ADDING_UP[attack]
    profile = profiles("adding")
    ns = make_namespace("adding", labels={"netiso.io/profile": profile})
    bodies = json.loads(json.dumps(template).replace(OWN, ns))
    wait_for("isolated", lambda: matches_rendered(kube_api, profile=profile, namespace=ns))
    net = tenant(kube_api, user_kubeconfig, ns)
    for body in bodies:
        net.create_namespaced_network_policy(ns, body)
    counts: dict[str, int] = {}
    for _, rule in expected:
        counts[rule] = counts.get(rule, 0) + 1

    def reported() -> bool:
        return all(
            operator.metric("netiso_guardrail_violations", namespace=ns, profile=profile, rule=rule)
            == count
            for rule, count in counts.items()
        )

    took = safe_within(f"{attack} reported", reported)
    print(f"{attack}: isolation drift reported in {took:.2f}s")
    row = status_rows(admin_kubeconfig)[ns]
    assert row["state"] == "drifted", row
    assert {(v["policy"], v["rule"]) for v in row["guardrailViolations"]} == expected
    # netiso check over the live objects: the same policies, the same rules, exit 1.
    live = [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", **body}
        for body in policies_in(kube_api, ns).values()
        if not body["metadata"]["name"].startswith("netiso-")
    ]
    namespaces = client.CoreV1Api(kube_api).list_namespace().items
    live += [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": n.metadata.name, "labels": n.metadata.labels or {}},
        }
        for n in namespaces
    ]
    (tmp_path / "live.yaml").write_text("\n---\n".join(json.dumps(body) for body in live))
    stored = client.CustomObjectsApi(kube_api).get_cluster_custom_object(
        GROUP, VERSION, PLURAL, profile
    )
    (tmp_path / "profile.yaml").write_text(json.dumps(stored))
    done = netiso_cli(
        admin_kubeconfig,
        "check",
        "--profile",
        str(tmp_path / "profile.yaml"),
        "-f",
        str(tmp_path / "live.yaml"),
    )
    assert done.returncode == 1, done.stderr
    found = {
        (line.split("NetworkPolicy ", 1)[1].split(":", 1)[0].split("/", 1)[1], rule)
        for line in done.stdout.splitlines()
        for rule in ("all-namespaces", "no-ports")
        if f": {rule}: " in line
    }
    assert found == expected, done.stdout
