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
    # Equivalent spellings: what a policy admits, not how it is written.
    Case(
        "all-namespaces-by-name-exists",
        ingress(
            peer_rule(
                {
                    "namespaceSelector": {
                        "matchExpressions": [
                            {"key": "kubernetes.io/metadata.name", "operator": "Exists"}
                        ]
                    }
                }
            ),
            peer_rule(
                {
                    "namespaceSelector": {
                        "matchExpressions": [
                            {"key": "kubernetes.io/metadata.name", "operator": "Exists"},
                            {"key": "kubernetes.io/metadata.name", "operator": "Exists"},
                        ]
                    },
                    "podSelector": {"matchLabels": {"app": "x"}},
                }
            ),
            peer_rule(
                {
                    "namespaceSelector": {
                        "matchExpressions": [
                            {"key": "kubernetes.io/metadata.name", "operator": "Exists"},
                            {"key": "team", "operator": "Exists"},
                        ]
                    }
                }
            ),
            peer_rule({"namespaceSelector": {"matchLabels": {}, "matchExpressions": []}}),
        ),
        {
            "all-namespaces": [
                "spec.ingress[0].from[0].namespaceSelector",
                "spec.ingress[1].from[0].namespaceSelector",
                "spec.ingress[3].from[0].namespaceSelector",
            ]
        },
    ),
    Case(
        "ports-range-covers-all",
        ingress(
            {
                "from": [{"podSelector": {}}],
                "ports": [{"protocol": "TCP", "port": 1, "endPort": 65535}],
            },
            {"from": [{"podSelector": {}}], "ports": [{"port": 1, "endPort": 65534}]},
        ),
        {"no-ports": ["spec.ingress[0].ports[0].port"]},
    ),
    Case(
        "ports-ranges-union-covers-all",
        egress(
            {
                "to": [{"podSelector": {}}],
                "ports": [
                    {"protocol": "UDP", "port": 30000, "endPort": 65535},
                    {"protocol": "TCP", "port": 443},
                    {"protocol": "UDP", "port": 1, "endPort": 29999},
                    {"protocol": "SCTP", "port": 2, "endPort": 65535},
                ],
            },
            {
                "to": [{"podSelector": {}}],
                "ports": [
                    {"protocol": "TCP", "port": 1, "endPort": 100},
                    {"protocol": "TCP", "port": 50, "endPort": 40000},
                    {"protocol": "TCP", "port": 40000, "endPort": 65535},
                    {"protocol": "SCTP", "port": 7},
                ],
            },
        ),
        {
            "no-ports": [
                "spec.egress[0].ports[0].port",
                "spec.egress[0].ports[2].port",
                "spec.egress[1].ports[0].port",
                "spec.egress[1].ports[1].port",
                "spec.egress[1].ports[2].port",
            ]
        },
    ),
    Case(
        "ports-ranges-with-a-gap",
        ingress(
            {
                "from": [{"podSelector": {}}],
                "ports": [
                    {"protocol": "TCP", "port": 1, "endPort": 1000},
                    {"protocol": "TCP", "port": 1002, "endPort": 65535},
                ],
            }
        ),
        {},
    ),
    Case(
        "cidr-many-narrow-blocks",
        egress(
            peer_rule(*({"ipBlock": {"cidr": f"{n}.0.0.0/8"}} for n in (11, 12)), key="to"),
            peer_rule({"ipBlock": {"cidr": "13.0.0.0/9"}}, key="to"),
        ),
        {
            "broad-cidr": [
                "spec.egress[0].to[0].ipBlock.cidr",
                "spec.egress[0].to[1].ipBlock.cidr",
                "spec.egress[1].to[0].ipBlock.cidr",
            ]
        },
    ),
    Case(
        "cidr-whole-internet-in-slash-eights",
        egress(
            peer_rule(*({"ipBlock": {"cidr": f"{n}.0.0.0/8"}} for n in range(1, 224)), key="to")
        ),
        {"broad-cidr": [f"spec.egress[0].to[{n}].ipBlock.cidr" for n in range(223)]},
    ),
    Case(
        "cidr-overlapping-blocks-count-once",
        ingress(
            peer_rule(
                {"ipBlock": {"cidr": "10.0.0.0/8"}},
                {"ipBlock": {"cidr": "10.1.0.0/16"}},
                {"ipBlock": {"cidr": "10.0.0.0/8"}},
                {
                    "ipBlock": {"cidr": "192.168.0.0/16"},
                },
            )
        ),
        {},
        guardrails={"ipBlocks": {"allowedCIDRs": ["192.168.0.0/16"]}},
    ),
    Case(
        "cidr-exceptions-subtract",
        egress(
            peer_rule(
                {"ipBlock": {"cidr": "10.0.0.0/7", "except": ["11.0.0.0/8", "11.1.0.0/16"]}},
                {"ipBlock": {"cidr": "128.0.0.0/1", "except": ["128.0.0.0/2", "192.0.0.0/2"]}},
                key="to",
            ),
        ),
        {},
    ),
    Case(
        "cidr-exception-reopened-by-another-block",
        egress(
            peer_rule(
                {"ipBlock": {"cidr": "10.0.0.0/7", "except": ["11.0.0.0/8"]}},
                {"ipBlock": {"cidr": "11.0.0.0/24"}},
                key="to",
            ),
        ),
        {
            "broad-cidr": [
                "spec.egress[0].to[0].ipBlock.cidr",
                "spec.egress[0].to[1].ipBlock.cidr",
            ]
        },
    ),
    Case(
        "cidr-directions-counted-apart",
        {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [peer_rule({"ipBlock": {"cidr": "11.0.0.0/8"}})],
            "egress": [peer_rule({"ipBlock": {"cidr": "12.0.0.0/8"}}, key="to")],
        },
        {},
    ),
    Case(
        "cidr-ipv4-mapped-ipv6",
        egress(
            peer_rule(
                {"ipBlock": {"cidr": "::ffff:0.0.0.0/96"}},
                {"ipBlock": {"cidr": "fd00::/48"}},
                key="to",
            )
        ),
        {"broad-cidr": ["spec.egress[0].to[0].ipBlock.cidr"]},
    ),
    Case(
        "cidr-ipv6-many-blocks",
        ingress(
            peer_rule(
                {"ipBlock": {"cidr": "2001:db8::/33"}},
                {"ipBlock": {"cidr": "2001:db8:8000::/33"}},
                {"ipBlock": {"cidr": "fd00::128/128"}},
            )
        ),
        {
            "broad-cidr": [
                "spec.ingress[0].from[0].ipBlock.cidr",
                "spec.ingress[0].from[1].ipBlock.cidr",
                "spec.ingress[0].from[2].ipBlock.cidr",
            ]
        },
    ),
    Case(
        "cidr-ipv6-minimum-high",
        ingress(
            peer_rule(
                {"ipBlock": {"cidr": "::/0", "except": ["::/1"]}},
                {"ipBlock": {"cidr": "fd00::1/128"}},
            )
        ),
        {
            "broad-cidr": [
                "spec.ingress[0].from[0].ipBlock.cidr",
                "spec.ingress[0].from[1].ipBlock.cidr",
            ]
        },
        guardrails={"ipBlocks": {"minPrefixLengthIPv6": 120}},
    ),
    # Variants of the equivalences above: other spellings of the same meaning.
    Case(
        "cidr-ipv4-mapped-other-spellings",
        egress(
            peer_rule(
                {"ipBlock": {"cidr": "0:0:0:0:0:ffff:0:0/96"}},
                {"ipBlock": {"cidr": "::FFFF:0:0/96"}},
                {"ipBlock": {"cidr": "::ffff:0:0/97"}},
                {"ipBlock": {"cidr": "::ffff:8.8.8.8/128"}},
                key="to",
            )
        ),
        {
            "broad-cidr": [
                "spec.egress[0].to[0].ipBlock.cidr",
                "spec.egress[0].to[1].ipBlock.cidr",
                "spec.egress[0].to[2].ipBlock.cidr",
                "spec.egress[0].to[3].ipBlock.cidr",
            ]
        },
    ),
    Case(
        "cidr-ipv6-halves",
        egress(
            peer_rule({"ipBlock": {"cidr": "::/1"}}, {"ipBlock": {"cidr": "8000::/1"}}, key="to")
        ),
        {"broad-cidr": ["spec.egress[0].to[0].ipBlock.cidr", "spec.egress[0].to[1].ipBlock.cidr"]},
    ),
    Case(
        "cidr-host-bits-and-leading-zeros",
        egress(
            peer_rule(
                {"ipBlock": {"cidr": "10.255.0.1/8"}},
                {"ipBlock": {"cidr": "0.0.0.1/0"}},
                {"ipBlock": {"cidr": "010.000.0.0/08"}},
                key="to",
            )
        ),
        {
            "broad-cidr": [
                "spec.egress[0].to[0].ipBlock.cidr",
                "spec.egress[0].to[1].ipBlock.cidr",
                "spec.egress[0].to[2].ipBlock.cidr",
            ]
        },
    ),
    Case(
        "cidr-tiny-exception",
        egress(peer_rule({"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/9"]}}, key="to")),
        {"broad-cidr": ["spec.egress[0].to[0].ipBlock.cidr"]},
    ),
    Case(
        "ports-end-port-equal-to-port",
        ingress(
            {
                "from": [{"podSelector": {}}],
                "ports": [
                    {"protocol": "SCTP", "port": 1, "endPort": 1},
                    {"protocol": "SCTP", "port": 2, "endPort": 65535},
                    {"protocol": "UDP", "port": 53, "endPort": 53},
                ],
            }
        ),
        {"no-ports": ["spec.ingress[0].ports[0].port", "spec.ingress[0].ports[1].port"]},
    ),
    Case(
        "all-namespaces-with-every-pod",
        ingress(
            peer_rule({"namespaceSelector": {}, "podSelector": {}}),
            peer_rule({"namespaceSelector": {"matchExpressions": []}, "podSelector": {}}),
        ),
        {
            "all-namespaces": [
                "spec.ingress[0].from[0].namespaceSelector",
                "spec.ingress[1].from[0].namespaceSelector",
            ]
        },
    ),
    Case(
        "no-peers-empty-list",
        {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [], "ports": [{"protocol": "TCP", "port": 80}]}],
            "egress": [{"to": [], "ports": [{"protocol": "UDP", "port": 53}]}],
        },
        {"no-peers": ["spec.ingress[0].from", "spec.egress[0].to"]},
    ),
    Case(
        "cidr-many-narrow-blocks-within-the-cel-budget",
        egress(
            peer_rule(
                *({"ipBlock": {"cidr": f"10.{n // 256}.{n % 256}.0/24"}} for n in range(1000)),
                key="to",
            )
        ),
        {},
    ),
)
