"""NetworkPolicies the API server refuses or accepts on create: the corpus `netiso check` must
agree with. Each case names the field netiso must report (None: the server accepts it).

Shared by tests/unit/model/test_networkpolicies.py (netiso's verdict, fast) and
tests/integration/test_check_agreement.py (the real API server's verdict, server-side dry run).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PolicyCase:
    """A policy and the field path netiso names when it is refused ("" = accepted)."""

    name: str
    body: dict[str, Any]
    refused_at: str


def policy(spec: Any = None, **metadata: Any) -> dict[str, Any]:
    """A NetworkPolicy in namespace `default` with this spec (podSelector {} when None)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "case", "namespace": "default", **metadata},
        "spec": {"podSelector": {}} if spec is None else spec,
    }


def ingress_port(**port: Any) -> dict[str, Any]:
    return policy({"podSelector": {}, "ingress": [{"ports": [port]}]})


def peer(**fields: Any) -> dict[str, Any]:
    return policy({"podSelector": {}, "egress": [{"to": [fields]}]})


def ip_block(cidr: Any, *excepted: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"cidr": cidr}
    if excepted:
        block["except"] = list(excepted)
    return peer(ipBlock=block)


def selector(*expressions: dict[str, Any], **labels: Any) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    if labels:
        chosen["matchLabels"] = labels
    if expressions:
        chosen["matchExpressions"] = list(expressions)
    return policy({"podSelector": chosen})


def many_ip_blocks(count: int) -> dict[str, Any]:
    peers = [
        {"ipBlock": {"cidr": f"10.{index // 65536}.{index // 256 % 256}.{index % 256}/32"}}
        for index in range(count)
    ]
    return policy({"podSelector": {}, "egress": [{"to": peers}]})


PORT = "spec.ingress[0].ports[0]"
PEER = "spec.egress[0].to[0]"
CIDR = f"{PEER}.ipBlock.cidr"
EXCEPT = f"{PEER}.ipBlock.except[0]"

REFUSED = [
    PolicyCase("port-0", ingress_port(port=0), f"{PORT}.port"),
    PolicyCase("port-65536", ingress_port(port=65536), f"{PORT}.port"),
    PolicyCase("port-negative", ingress_port(port=-1), f"{PORT}.port"),
    PolicyCase("port-fraction", ingress_port(port=80.5), f"{PORT}.port"),
    PolicyCase("port-boolean", ingress_port(port=True), f"{PORT}.port"),
    PolicyCase("port-digits-as-name", ingress_port(port="80"), f"{PORT}.port"),
    PolicyCase("port-name-uppercase", ingress_port(port="HTTP"), f"{PORT}.port"),
    PolicyCase("port-name-double-dash", ingress_port(port="a--b"), f"{PORT}.port"),
    PolicyCase("port-name-16-characters", ingress_port(port="abcdefghijklmnop"), f"{PORT}.port"),
    PolicyCase("end-port-below-port", ingress_port(port=100, endPort=99), f"{PORT}.endPort"),
    PolicyCase("end-port-named-port", ingress_port(port="http", endPort=90), f"{PORT}.endPort"),
    PolicyCase("end-port-without-port", ingress_port(endPort=90), f"{PORT}.endPort"),
    PolicyCase("end-port-above-65535", ingress_port(port=1, endPort=70000), f"{PORT}.endPort"),
    PolicyCase("end-port-0", ingress_port(port=1, endPort=0), f"{PORT}.endPort"),
    PolicyCase("end-port-string", ingress_port(port=80, endPort="90"), f"{PORT}.endPort"),
    PolicyCase("protocol-icmp", ingress_port(protocol="ICMP", port=80), f"{PORT}.protocol"),
    PolicyCase("protocol-lowercase", ingress_port(protocol="tcp", port=80), f"{PORT}.protocol"),
    PolicyCase("port-unknown-field", ingress_port(portt=80), f"{PORT}.portt"),
    PolicyCase("spec-list", policy([{"podSelector": {}}]), "spec"),
    PolicyCase("spec-unknown-field", policy({"podSelector": {}, "ingresss": []}), "spec.ingresss"),
    PolicyCase("ingress-object", policy({"podSelector": {}, "ingress": {}}), "spec.ingress"),
    PolicyCase(
        "policy-type-unknown",
        policy({"podSelector": {}, "policyTypes": ["Both"]}),
        "spec.policyTypes[0]",
    ),
    PolicyCase(
        "policy-types-three",
        policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress", "Ingress"]}),
        "spec.policyTypes",
    ),
    PolicyCase("peer-empty", peer(), PEER),
    PolicyCase(
        "peer-ip-block-and-selector",
        peer(ipBlock={"cidr": "10.0.0.0/8"}, podSelector={}),
        PEER,
    ),
    PolicyCase("cidr-missing", peer(ipBlock={}), CIDR),
    PolicyCase("cidr-empty", ip_block(""), CIDR),
    PolicyCase("cidr-no-prefix", ip_block("10.0.0.0"), CIDR),
    PolicyCase("cidr-prefix-33", ip_block("10.0.0.0/33"), CIDR),
    PolicyCase("cidr-octet-300", ip_block("300.0.0.0/8"), CIDR),
    PolicyCase("cidr-netmask", ip_block("10.0.0.0/255.0.0.0"), CIDR),
    PolicyCase("cidr-zone", ip_block("fe80::1%eth0/64"), CIDR),
    PolicyCase("cidr-words", ip_block("everything"), CIDR),
    PolicyCase("cidr-short-ipv4", ip_block("10/8"), CIDR),
    PolicyCase("except-outside", ip_block("10.0.0.0/8", "11.0.0.0/16"), EXCEPT),
    PolicyCase("except-equal", ip_block("10.0.0.0/8", "10.0.0.0/8"), EXCEPT),
    PolicyCase("except-wider", ip_block("10.0.0.0/16", "10.0.0.0/8"), EXCEPT),
    PolicyCase("except-other-family", ip_block("10.0.0.0/8", "2001:db8::/64"), EXCEPT),
    PolicyCase("except-invalid", ip_block("10.0.0.0/8", "10.1.0.0"), EXCEPT),
    PolicyCase(
        "except-ipv4-under-mapped-everything",
        ip_block("::ffff:0.0.0.0/96", "10.0.0.0/8"),
        EXCEPT,
    ),
    PolicyCase(
        "selector-operator-unknown",
        selector({"key": "a", "operator": "Equals", "values": ["b"]}),
        "spec.podSelector.matchExpressions[0].operator",
    ),
    PolicyCase(
        "selector-in-without-values",
        selector({"key": "a", "operator": "In"}),
        "spec.podSelector.matchExpressions[0].values",
    ),
    PolicyCase(
        "selector-exists-with-values",
        selector({"key": "a", "operator": "Exists", "values": ["b"]}),
        "spec.podSelector.matchExpressions[0].values",
    ),
    PolicyCase(
        "selector-bad-key",
        selector(**{"bad key": "x"}),
        'spec.podSelector.matchLabels["bad key"]',
    ),
    PolicyCase(
        "selector-long-value",
        selector(app="x" * 64),
        'spec.podSelector.matchLabels["app"]',
    ),
    PolicyCase("name-invalid", policy(name="Bad_Name"), "metadata.name"),
]

ACCEPTED = [
    PolicyCase("minimal", policy(), ""),
    PolicyCase("no-spec", {k: v for k, v in policy().items() if k != "spec"}, ""),
    PolicyCase("null-pod-selector", policy({"podSelector": None}), ""),
    PolicyCase("port-1", ingress_port(port=1), ""),
    PolicyCase("port-65535", ingress_port(port=65535, protocol="SCTP"), ""),
    PolicyCase("port-named", ingress_port(port="http", protocol="UDP"), ""),
    PolicyCase("protocol-only", ingress_port(protocol="TCP"), ""),
    PolicyCase("end-port-equal", ingress_port(port=80, endPort=80), ""),
    PolicyCase("end-port-range", ingress_port(port=1, endPort=65535), ""),
    PolicyCase(
        "policy-types-repeated",
        policy({"podSelector": {}, "policyTypes": ["Egress", "Egress"]}),
        "",
    ),
    PolicyCase("cidr-host-bits", ip_block("10.0.0.1/8"), ""),
    PolicyCase("cidr-everything", ip_block("0.0.0.0/0", "10.0.0.0/8"), ""),
    PolicyCase("cidr-ipv6", ip_block("2001:db8::/32", "2001:db8:1::/48"), ""),
    PolicyCase("cidr-mapped", ip_block("::ffff:1.2.3.4/128"), ""),
    PolicyCase("except-mapped-under-ipv4", ip_block("10.0.0.0/8", "::ffff:10.1.0.0/112"), ""),
    PolicyCase(
        "selector-every-operator",
        selector(
            {"key": "a", "operator": "In", "values": ["x", ""]},
            {"key": "example.com/b", "operator": "NotIn", "values": ["y"]},
            {"key": "c", "operator": "Exists"},
            {"key": "d", "operator": "DoesNotExist", "values": []},
            e="",
        ),
        "",
    ),
    PolicyCase("cidr-leading-zeros", ip_block("010.000.0.0/08"), ""),
    PolicyCase("twenty-thousand-ip-blocks", many_ip_blocks(20_000), ""),
]

CASES = REFUSED + ACCEPTED


def case_body(case: PolicyCase, *, name: str, namespace: str) -> dict[str, Any]:
    """A copy of the case's body under another name and namespace (unless it tests the name)."""
    body = copy.deepcopy(case.body)
    metadata = body["metadata"]
    if metadata["name"] == "case":
        metadata["name"] = name
    metadata["namespace"] = namespace
    return body
