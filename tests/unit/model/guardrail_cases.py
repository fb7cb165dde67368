"""The guardrail agreement table: policies, guardrails and the violations they must give.

Shared by tests/unit/model/test_guardrails.py (the Python evaluator) and
tests/integration/test_admission.py (the same cases through the API server's CEL admission):
one table, so the two evaluators are held to the same expectations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A rule that breaks nothing: specific peers, numeric ports.
GOOD_RULE: dict[str, Any] = {
    "from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
    "ports": [{"protocol": "TCP", "port": 8080}],
}


@dataclass(frozen=True)
class Case:
    """A NetworkPolicy spec (plus annotations) under `guardrails`, and `expected` violations
    by rule id, each rule's paths in document order."""

    id: str
    spec: dict[str, Any]
    expected: dict[str, list[str]]
    guardrails: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def ingress(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": list(rules)}


def egress(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"podSelector": {}, "policyTypes": ["Egress"], "egress": list(rules)}


def peer_rule(*peers: dict[str, Any], key: str = "from") -> dict[str, Any]:
    return {key: list(peers), "ports": [{"protocol": "TCP", "port": 443}]}


CASES: tuple[Case, ...] = (
    Case("conforming", ingress(GOOD_RULE), {}),
    Case(
        "cidr-slash-zero",
        egress(peer_rule({"ipBlock": {"cidr": "0.0.0.0/0"}}, key="to")),
        {"broad-cidr": ["spec.egress[0].to[0].ipBlock.cidr"]},
    ),
    Case(
        "cidr-two-halves",
        egress(
            peer_rule(
                {"ipBlock": {"cidr": "0.0.0.0/1"}},
                {"ipBlock": {"cidr": "128.0.0.0/1"}},
                key="to",
            )
        ),
        {"broad-cidr": ["spec.egress[0].to[0].ipBlock.cidr", "spec.egress[0].to[1].ipBlock.cidr"]},
    ),
    Case(
        "cidr-ipv6-all",
        ingress(peer_rule({"ipBlock": {"cidr": "::/0"}})),
        {"broad-cidr": ["spec.ingress[0].from[0].ipBlock.cidr"]},
    ),
    Case(
        "cidr-narrow-enough",
        egress(
            peer_rule(
                {"ipBlock": {"cidr": "10.0.0.0/8"}}, {"ipBlock": {"cidr": "fd00::/32"}}, key="to"
            )
        ),
        {},
    ),
    Case(
        "cidr-allowed",
        egress(
            peer_rule(
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}},
                {"ipBlock": {"cidr": "2001:db8::/16"}},
                key="to",
            )
        ),
        {"broad-cidr": ["spec.egress[0].to[1].ipBlock.cidr"]},
        guardrails={"ipBlocks": {"allowedCIDRs": ["0.0.0.0/0"]}},
    ),
    Case(
        "cidr-minimum-raised",
        egress(peer_rule({"ipBlock": {"cidr": "10.0.0.0/16"}}, key="to")),
        {"broad-cidr": ["spec.egress[0].to[0].ipBlock.cidr"]},
        guardrails={"ipBlocks": {"minPrefixLengthIPv4": 24}},
    ),
    Case(
        "cidr-rule-off",
        egress(peer_rule({"ipBlock": {"cidr": "0.0.0.0/0"}}, key="to")),
        {},
        guardrails={"ipBlocks": {"minPrefixLengthIPv4": 0}},
    ),
    Case(
        "all-namespaces",
        ingress(
            peer_rule({"namespaceSelector": {}}),
            peer_rule({"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "x"}}}),
            peer_rule({"namespaceSelector": {"matchLabels": {"team": "a"}}}),
        ),
        {
            "all-namespaces": [
                "spec.ingress[0].from[0].namespaceSelector",
                "spec.ingress[1].from[0].namespaceSelector",
            ]
        },
    ),
    Case(
        "all-namespaces-allowed",
        ingress(peer_rule({"namespaceSelector": {}})),
        {},
        guardrails={"allowAllNamespaces": True},
    ),
    Case(
        "no-peers",
        {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": 80}]}, GOOD_RULE],
            "egress": [{"ports": [{"protocol": "UDP", "port": 53}]}],
        },
        {"no-peers": ["spec.ingress[0].from", "spec.egress[0].to"]},
    ),
    Case(
        "no-peers-allowed",
        ingress({"ports": [{"protocol": "TCP", "port": 80}]}),
        {},
        guardrails={"allowRulesWithoutPeers": True},
    ),
    Case(
        "no-ports",
        ingress(
            {"from": [{"podSelector": {}}]},
            {"from": [{"podSelector": {}}], "ports": [{"protocol": "UDP"}, {"port": 53}]},
        ),
        {"no-ports": ["spec.ingress[0].ports", "spec.ingress[1].ports[0].port"]},
    ),
    Case(
        "no-ports-allowed",
        ingress({"from": [{"podSelector": {}}]}),
        {},
        guardrails={"allowRulesWithoutPorts": True},
    ),
    Case(
        "named-port",
        egress(
            {
                "to": [{"podSelector": {}}],
                "ports": [{"port": "http"}, {"protocol": "TCP", "port": 443}],
            }
        ),
        {"named-port": ["spec.egress[0].ports[0].port"]},
    ),
    Case(
        "named-port-allowed",
        egress({"to": [{"podSelector": {}}], "ports": [{"port": "http"}]}),
        {},
        guardrails={"allowNamedPorts": True},
    ),
    Case(
        "required-annotations",
        ingress(GOOD_RULE),
        {"required-annotation": ["metadata.annotations[example.com/reason]"]},
        guardrails={"requiredAnnotations": ["example.com/owner", "example.com/reason"]},
        annotations={"example.com/owner": "team-a", "example.com/reason": ""},
    ),
    Case(
        "allow-all-ingress",
        ingress({}),
        {"no-peers": ["spec.ingress[0].from"], "no-ports": ["spec.ingress[0].ports"]},
    ),
    Case(
        "everything-at-once",
        {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"namespaceSelector": {}}],
                    "ports": [{"port": "metrics"}],
                }
            ],
            "egress": [{}],
        },
        {
            "broad-cidr": ["spec.ingress[0].from[0].ipBlock.cidr"],
            "all-namespaces": ["spec.ingress[0].from[1].namespaceSelector"],
            "no-peers": ["spec.egress[0].to"],
            "no-ports": ["spec.egress[0].ports"],
            "named-port": ["spec.ingress[0].ports[0].port"],
            "required-annotation": ["metadata.annotations[example.com/owner]"],
        },
        guardrails={"requiredAnnotations": ["example.com/owner"]},
    ),
    Case(
        "excepted",
        egress(peer_rule({"ipBlock": {"cidr": "0.0.0.0/0"}}, key="to")),
        {"broad-cidr": ["spec.egress[0].to[0].ipBlock.cidr"]},
        annotations={"netiso.io/exception": "SEC-42: payment provider has no fixed range"},
    ),
)
