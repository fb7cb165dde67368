"""Isolation drift on the real API server: a namespace owner's policy that breaks a guardrail.

The operator follows every NetworkPolicy, not only its own. A policy that re-opens an opted-in
namespace (allow-all, the whole internet, every port) is reported as isolation drift in
/metrics, Events, the profile status and `netiso status`/`netiso diff`, cleared when it is
fixed or excepted, and never modified or deleted.
"""

from __future__ import annotations

import functools
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from netiso_devkit.harness import GROUP, PLURAL, VERSION, OperatorProcess, wait_for

from .conftest import MakeNamespace, unique_name
from .ship_cluster import events_for, label_namespace, netiso_cli, policies_in

pytestmark = pytest.mark.integration

NARROW_INGRESS = [
    {
        "from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
        "ports": [{"protocol": "TCP", "port": 8080}],
    }
]


def policy(name: str, *, ingress: list[Any], annotations: dict[str, str] | None = None) -> Any:
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata,
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": ingress},
    }


def status_of(api: client.ApiClient, profile: str) -> dict[str, Any]:
    body = client.CustomObjectsApi(api).get_cluster_custom_object(GROUP, VERSION, PLURAL, profile)
    return dict(body.get("status") or {})


def managed_resource_versions(api: client.ApiClient, ns: str) -> dict[str, str]:
    return {
        name: str(body["metadata"]["resourceVersion"])
        for name, body in policies_in(api, ns).items()
        if name.startswith("netiso-")
    }


def violations(operator: OperatorProcess, ns: str, profile: str, rule: str) -> float | None:
    return operator.metric("netiso_guardrail_violations", namespace=ns, profile=profile, rule=rule)


def test_a_policy_that_reopens_the_namespace_is_reported_until_fixed(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
    admin_kubeconfig: Path,
) -> None:
    net = client.NetworkingV1Api(kube_api)
    profile = profiles("guard")
    ns = make_namespace("weak", labels={"netiso.io/profile": profile})
    wait_for(
        "isolated",
        lambda: operator.metric("netiso_namespaces", profile=profile, state="isolated") == 1,
    )
    managed_versions = managed_resource_versions(kube_api, ns)

    net.create_namespaced_network_policy(ns, policy("allow-all", ingress=[{}]))
    wait_for("violation metric", lambda: violations(operator, ns, profile, "no-peers") == 1)
    assert violations(operator, ns, profile, "no-ports") == 1
    assert (
        operator.metric(
            "netiso_namespace_out_of_sync", namespace=ns, profile=profile, state="drifted"
        )
        == 1
    )
    wait_for("GuardrailViolated", lambda: events_for(kube_api, ns, reason="GuardrailViolated"))
    (event,) = events_for(kube_api, ns, reason="GuardrailViolated")
    assert "allow-all: no-peers at spec.ingress[0].from" in event.message
    wait_for("status counts", lambda: status_of(kube_api, profile).get("weakened") == 1)
    status = status_of(kube_api, profile)
    assert (status["guardrailViolations"], status["inSync"], status["drifted"]) == (1, 0, 1)

    # What the namespace owner and the platform team see from the command line.
    rows = json.loads(netiso_cli(admin_kubeconfig, "status", "-n", ns, "-o", "json").stdout)[
        "items"
    ]
    (row,) = rows
    assert row["state"] == "drifted"
    assert {(v["policy"], v["rule"]) for v in row["guardrailViolations"]} == {
        ("allow-all", "no-peers"),
        ("allow-all", "no-ports"),
    }
    table = netiso_cli(admin_kubeconfig, "status", "-n", ns).stdout
    assert "GUARDRAILS" in table
    assert "1 violating" in table
    diff = netiso_cli(admin_kubeconfig, "diff", "-n", ns)
    assert diff.returncode == 1
    assert (
        '# guardrail violated by NetworkPolicy allow-all: netiso guardrail "no-peers" at '
        "spec.ingress[0].from" in diff.stdout
    )

    # An exception lets it through: no longer a violation, still counted as an exception.
    excepted = policy(
        "allow-all",
        ingress=[{}],
        annotations={"netiso.io/exception": "OPS-7 load test until Friday"},
    )
    net.replace_namespaced_network_policy("allow-all", ns, excepted)
    wait_for("violation cleared", lambda: violations(operator, ns, profile, "no-peers") is None)
    assert operator.metric("netiso_guardrail_exceptions", profile=profile, rule="no-peers") == 1
    wait_for("GuardrailException", lambda: events_for(kube_api, ns, reason="GuardrailException"))
    assert "OPS-7 load test until Friday" in (
        events_for(kube_api, ns, reason="GuardrailException")[0].message
    )
    wait_for("isolated again", lambda: status_of(kube_api, profile).get("inSync") == 1)
    assert status_of(kube_api, profile)["guardrailExceptions"] == 1
    # Excepted, not plain isolated, at Warning level on every signal.
    assert events_for(kube_api, ns, reason="GuardrailException")[0].type == "Warning"
    wait_for("Excepted", lambda: events_for(kube_api, ns, reason="Excepted"))
    assert events_for(kube_api, ns, reason="Excepted")[0].type == "Warning"
    out_of_sync = operator.metric(
        "netiso_namespace_out_of_sync", namespace=ns, profile=profile, state="excepted"
    )
    assert out_of_sync == 1
    table = netiso_cli(admin_kubeconfig, "status", "-n", ns).stdout
    assert "excepted" in table
    assert "1 excepted" in table

    # Fixed: nothing left to report.
    net.replace_namespaced_network_policy(
        "allow-all", ns, policy("allow-all", ingress=NARROW_INGRESS)
    )
    wait_for(
        "exception series gone",
        lambda: (
            operator.metric("netiso_guardrail_exceptions", profile=profile, rule="no-peers") is None
        ),
    )
    wait_for("counts cleared", lambda: status_of(kube_api, profile).get("guardrailExceptions") == 0)
    # netiso wrote nothing for any of this: not its own policies, and never the owner's.
    assert managed_resource_versions(kube_api, ns) == managed_versions
    owners = policies_in(kube_api, ns)["allow-all"]
    assert owners["spec"]["ingress"] == NARROW_INGRESS
    assert {entry["manager"] for entry in owners["metadata"]["managedFields"]} == {
        "OpenAPI-Generator"
    }


def test_a_violation_that_predates_the_opt_in_is_reported(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
) -> None:
    net = client.NetworkingV1Api(kube_api)
    profile = profiles("guard", guardrails={"requiredAnnotations": ["example.com/owner"]})
    ns = make_namespace("before")
    wide = policy("internet", ingress=[{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}])
    net.create_namespaced_network_policy(ns, wide)
    version = policies_in(kube_api, ns)["internet"]["metadata"]["resourceVersion"]

    label_namespace(kube_api, ns, profile=profile)
    for rule in ("broad-cidr", "no-ports", "required-annotation"):
        wait_for(rule, functools.partial(violations, operator, ns, profile, rule))
        assert violations(operator, ns, profile, rule) == 1
    # Opting out forgets the namespace's series; the policy was never touched.
    label_namespace(kube_api, ns, profile=None)
    wait_for("series gone", lambda: violations(operator, ns, profile, "broad-cidr") is None)
    assert policies_in(kube_api, ns)["internet"]["metadata"]["resourceVersion"] == version


def egress_policy(name: str, blocks: list[str]) -> Any:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": c}} for c in blocks], "ports": [{"port": 443}]}
            ],
        },
    }


def test_equivalent_spellings_are_drift_and_every_signal_agrees(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
    admin_kubeconfig: Path,
) -> None:
    """What a policy admits, not how it is written: a selector excluding nothing that exists,
    ports and addresses that add up over several policies."""
    net = client.NetworkingV1Api(kube_api)
    profile = profiles("meaning")
    ns = make_namespace("meaning", labels={"netiso.io/profile": profile})
    wait_for(
        "isolated",
        lambda: operator.metric("netiso_namespaces", profile=profile, state="isolated") == 1,
    )
    managed_versions = managed_resource_versions(kube_api, ns)
    nobody = {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["nowhere"]}
    team = {"matchLabels": {"team": "nobody-has-it"}}
    spellings = [
        policy(
            "every-namespace",
            ingress=[
                {
                    "from": [{"namespaceSelector": {"matchExpressions": [nobody]}}],
                    "ports": [{"protocol": "TCP", "port": 5432}],
                }
            ],
        ),
        policy(
            "low-ports",
            ingress=[
                {"from": [{"namespaceSelector": team}], "ports": [{"port": 1, "endPort": 999}]}
            ],
        ),
        policy(
            "high-ports",
            ingress=[
                {"from": [{"namespaceSelector": team}], "ports": [{"port": 1000, "endPort": 65535}]}
            ],
        ),
        # Each within the limit (one /8), together twice the limit.
        egress_policy("west", ["11.0.0.0/8"]),
        egress_policy("east", ["12.0.0.0/8"]),
    ]
    for body in spellings:
        net.create_namespaced_network_policy(ns, body)
    expected = {"all-namespaces": 1, "no-ports": 2, "broad-cidr": 2}

    def counted(rule: str, count: int) -> bool:
        return violations(operator, ns, profile, rule) == count

    for rule, count in expected.items():
        wait_for(rule, functools.partial(counted, rule, count))
    assert (
        operator.metric(
            "netiso_namespace_out_of_sync", namespace=ns, profile=profile, state="drifted"
        )
        == 1
    )
    # The status is written at most every NETISO_STATUS_INTERVAL: the namespace may be counted
    # weakened by the first policy before the other four are counted.
    wait_for("status counts", lambda: status_of(kube_api, profile).get("weakened") == 1)
    wait_for(
        "every violating policy counted",
        lambda: status_of(kube_api, profile)["guardrailViolations"] == 5,
        timeout=10,
    )
    wait_for("GuardrailViolated", lambda: events_for(kube_api, ns, reason="GuardrailViolated"))

    (row,) = json.loads(netiso_cli(admin_kubeconfig, "status", "-n", ns, "-o", "json").stdout)[
        "items"
    ]
    assert row["state"] == "drifted"
    assert {(v["policy"], v["rule"]) for v in row["guardrailViolations"]} == {
        ("every-namespace", "all-namespaces"),
        ("low-ports", "no-ports"),
        ("high-ports", "no-ports"),
        ("west", "broad-cidr"),
        ("east", "broad-cidr"),
    }
    assert "reachable from every namespace on TCP 5432" in row["exposure"]
    assert (
        "reachable from namespaces matching team=nobody-has-it on every TCP port"
        in (row["exposure"])
    )
    wide = netiso_cli(admin_kubeconfig, "status", "-n", ns, "-o", "wide").stdout
    assert "reachable from every namespace on TCP 5432" in wide
    assert netiso_cli(admin_kubeconfig, "diff", "-n", ns).returncode == 1

    # Removing one half of each sum clears what only the sum showed.
    for name in ("every-namespace", "high-ports", "east"):
        net.delete_namespaced_network_policy(name, ns)
    wait_for("isolated again", lambda: status_of(kube_api, profile).get("inSync") == 1)
    for rule in expected:
        assert violations(operator, ns, profile, rule) is None
    assert managed_resource_versions(kube_api, ns) == managed_versions


def test_relabelling_a_namespace_that_did_not_opt_in_is_seen_within_seconds(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
    admin_kubeconfig: Path,
) -> None:
    """ "Every namespace" means every namespace, opted in or not: a selector that excludes
    only team x admits every namespace once nobody is team x, and stops when one is again."""
    core = client.CoreV1Api(kube_api)
    profile = profiles("inventory")
    team = unique_name("team")
    outsider = make_namespace("outsider", labels={"team": team})
    ns = make_namespace("inventory", labels={"netiso.io/profile": profile})
    all_but_team = {"key": "team", "operator": "NotIn", "values": [team]}
    net = client.NetworkingV1Api(kube_api)
    net.create_namespaced_network_policy(
        ns,
        policy(
            "all-but-one-team",
            ingress=[
                {
                    "from": [{"namespaceSelector": {"matchExpressions": [all_but_team]}}],
                    "ports": [{"protocol": "TCP", "port": 5432}],
                }
            ],
        ),
    )
    wait_for(
        "isolated",
        lambda: operator.metric("netiso_namespaces", profile=profile, state="isolated") == 1,
    )
    assert violations(operator, ns, profile, "all-namespaces") is None
    managed_versions = managed_resource_versions(kube_api, ns)

    # The outsider leaves team x: nobody is excluded, the selector admits every namespace.
    # (The resync runs every 20 s here: seen within seconds, it came from the label watch.)
    started = time.monotonic()
    core.patch_namespace(outsider, {"metadata": {"labels": {"team": "another"}}})
    wait_for(
        "all-namespaces reported",
        lambda: violations(operator, ns, profile, "all-namespaces") == 1,
        timeout=10,
        interval=0.05,
    )
    print(
        f"relabel of a namespace that did not opt in reported in {time.monotonic() - started:.2f}s"
    )
    assert (
        operator.metric(
            "netiso_namespace_out_of_sync", namespace=ns, profile=profile, state="drifted"
        )
        == 1
    )
    # netiso status judges against every namespace too.
    (row,) = json.loads(netiso_cli(admin_kubeconfig, "status", "-n", ns, "-o", "json").stdout)[
        "items"
    ]
    assert row["state"] == "drifted"
    assert {v["rule"] for v in row["guardrailViolations"]} == {"all-namespaces"}

    started = time.monotonic()
    core.patch_namespace(outsider, {"metadata": {"labels": {"team": team}}})
    wait_for(
        "all-namespaces cleared",
        lambda: violations(operator, ns, profile, "all-namespaces") is None,
        timeout=10,
        interval=0.05,
    )
    print(f"relabel back cleared in {time.monotonic() - started:.2f}s")
    wait_for(
        "isolated again",
        lambda: operator.metric("netiso_namespaces", profile=profile, state="isolated") == 1,
    )
    assert managed_resource_versions(kube_api, ns) == managed_versions


# The operator wakes at an exception's expiry (no resync needed); this bounds the wait after
# the expiry on a loaded machine, it is not a speed target (the figure is printed).
EXPIRY_BOUND = 5.0


def test_a_listed_exception_counts_until_it_expires_then_the_namespace_is_weakened(
    operator: OperatorProcess,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    profiles: Any,
    admin_kubeconfig: Path,
) -> None:
    net = client.NetworkingV1Api(kube_api)
    ns = make_namespace("listed")
    net.create_namespaced_network_policy(ns, policy("allow-all", ingress=[{}]))

    def entry(expires: datetime) -> dict[str, Any]:
        return {
            "namespace": ns,
            "policy": "allow-all",
            "rules": ["no-peers", "no-ports"],
            "reason": "OPS-8 load test",
            "expires": expires.isoformat().replace("+00:00", "Z"),
        }

    later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    profile = profiles("listed", guardrails={"exceptions": [entry(later)]})
    label_namespace(kube_api, ns, profile=profile)

    def state_is(state: str) -> bool:
        return (
            operator.metric(
                "netiso_namespace_out_of_sync", namespace=ns, profile=profile, state=state
            )
            == 1
        )

    wait_for("excepted", lambda: state_is("excepted"))
    assert violations(operator, ns, profile, "no-peers") is None
    assert operator.metric("netiso_guardrail_exceptions", profile=profile, rule="no-peers") == 1
    wait_for("status counts", lambda: status_of(kube_api, profile).get("guardrailExceptions") == 1)
    (row,) = json.loads(netiso_cli(admin_kubeconfig, "status", "-n", ns, "-o", "json").stdout)[
        "items"
    ]
    assert row["state"] == "excepted"
    assert "OPS-8 load test" in netiso_cli(admin_kubeconfig, "diff", "-n", ns).stdout

    # Now make it expire in a few seconds. The operator resyncs every 20 s here: the expiry
    # must come from its own wake-up at that time.
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    custom = client.CustomObjectsApi(kube_api)
    body = custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, profile)
    body["spec"]["guardrails"]["exceptions"] = [entry(expires)]
    custom.replace_cluster_custom_object(GROUP, VERSION, PLURAL, profile, body)
    assert state_is("excepted")

    wait_for(
        "weakened after the expiry",
        lambda: state_is("drifted"),
        timeout=(expires - datetime.now(UTC)).total_seconds() + EXPIRY_BOUND,
        interval=0.05,
    )
    late = (datetime.now(UTC) - expires).total_seconds()
    print(f"namespace weakened {late:.2f} s after the exception's expiry")
    assert violations(operator, ns, profile, "no-peers") == 1
    wait_for("ExceptionExpired", lambda: events_for(kube_api, ns, reason="ExceptionExpired"))
    (event,) = events_for(kube_api, ns, reason="ExceptionExpired")
    assert event.type == "Warning"
    assert "allow-all: OPS-8 load test (expired " in event.message
    wait_for("status weakened", lambda: status_of(kube_api, profile).get("weakened") == 1)
    # The profile status says what is open, in words, as netiso status -o wide does.
    assert status_of(kube_api, profile)["weakenedNamespaces"] == [
        {"namespace": ns, "exposure": ["reachable from everywhere on every port of every protocol"]}
    ]
    (row,) = json.loads(netiso_cli(admin_kubeconfig, "status", "-n", ns, "-o", "json").stdout)[
        "items"
    ]
    assert row["state"] == "drifted"
    diff = netiso_cli(admin_kubeconfig, "diff", "-n", ns)
    assert diff.returncode == 1
    assert "exception expired for allow-all: OPS-8 load test" in diff.stdout
    # Said once (the reconciles since, the status writes, posted nothing more).
    assert len(events_for(kube_api, ns, reason="ExceptionExpired")) == 1
    assert event.count in (None, 1)
