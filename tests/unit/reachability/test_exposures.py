"""The effective exposure: what a namespace's policies admit together, judged on meaning."""

from __future__ import annotations

from typing import Any

from netiso.model.guardrails import Rule, violations
from netiso.model.limits import Guardrails
from netiso.reachability.exposures import EXPOSURE_PREFIX, exposure_of

NAME = "kubernetes.io/metadata.name"
INVENTORY = (
    {NAME: "team-a", "team": "a", "netiso.io/profile": "web"},
    {NAME: "team-b", "team": "b", "netiso.io/profile": "web"},
)


def policy(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "team-a"},
        "spec": {"podSelector": {}, **spec},
    }


def from_namespaces(selector: dict[str, Any], *ports: dict[str, Any]) -> dict[str, Any]:
    return {"from": [{"namespaceSelector": selector}], "ports": list(ports)}


def exposure(*policies: dict[str, Any], guardrails: Guardrails | None = None) -> Any:
    return exposure_of(
        namespace="team-a",
        policies=policies,
        judged=policies,
        guardrails=guardrails or Guardrails(),
        inventory=lambda: INVENTORY,
    )


def rules_of(found: Any) -> list[tuple[str, str, str]]:
    return [(str(v.rule), v.policy, v.path) for v in found.findings]


def test_selectors_that_exclude_nothing_that_exists_admit_every_namespace() -> None:
    excluding_nothing: list[dict[str, Any]] = [
        {"matchExpressions": [{"key": NAME, "operator": "NotIn", "values": ["nowhere"]}]},
        {"matchExpressions": [{"key": "rare", "operator": "DoesNotExist"}]},
        {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["z"]}]},
    ]
    for selector in excluding_nothing:
        found = exposure(policy("p", ingress=[from_namespaces(selector, {"port": 5432})]))
        assert rules_of(found) == [
            ("all-namespaces", "p", "spec.ingress[0].from[0].namespaceSelector")
        ], selector
        assert found.words() == ("reachable from every namespace on TCP 5432",)
        assert all(v.namespace == "team-a" for v in found.findings)


def test_selectors_that_exclude_an_existing_namespace_are_not_every_namespace() -> None:
    for selector in (
        {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["b"]}]},
        {"matchExpressions": [{"key": "team", "operator": "Exists"}]},
        {"matchLabels": {"team": "a"}},
    ):
        found = exposure(policy("p", ingress=[from_namespaces(selector, {"port": 80})]))
        assert found.findings == (), selector


def test_the_static_rule_is_not_reported_twice() -> None:
    body = policy(
        "p",
        ingress=[
            from_namespaces(
                {"matchExpressions": [{"key": NAME, "operator": "Exists"}]}, {"port": 80}
            )
        ],
    )
    assert [str(v.rule) for v in violations(body, Guardrails(), namespace="team-a")] == [
        "all-namespaces"
    ]
    assert exposure(body).findings == ()


def test_ports_that_add_up_over_policies_are_every_port() -> None:
    team = {"matchLabels": {"team": "b"}}
    low = policy("low", ingress=[from_namespaces(team, {"port": 1, "endPort": 30000})])
    high = policy("high", ingress=[from_namespaces(team, {"port": 30001, "endPort": 65535})])
    found = exposure(low, high)
    words = "reachable from namespaces matching team=b on every TCP port"
    assert rules_of(found) == [
        ("no-ports", "high", EXPOSURE_PREFIX + words),
        ("no-ports", "low", EXPOSURE_PREFIX + words),
    ]
    assert found.words() == (words,)
    assert exposure(low).findings == ()
    assert exposure(low, high, guardrails=Guardrails(allow_rules_without_ports=True)).findings == ()


def test_address_ranges_that_add_up_over_policies_are_broad() -> None:
    def egress(name: str, numbers: range) -> dict[str, Any]:
        blocks = [{"ipBlock": {"cidr": f"{n}.0.0.0/8"}} for n in numbers]
        return policy(
            name, policyTypes=["Egress"], egress=[{"to": blocks, "ports": [{"port": 443}]}]
        )

    first, second = egress("first", range(1, 112)), egress("second", range(112, 224))
    found = exposure(first, second)
    assert [(rule, name) for rule, name, _ in rules_of(found)] == [
        ("broad-cidr", "first"),
        ("broad-cidr", "second"),
    ]
    assert "reaching 3,741,319,168 IPv4 addresses" in found.findings[0].path
    # One /8 in each of two policies is within the limit only alone.
    assert exposure(egress("a", range(11, 12))).findings == ()
    two = exposure(egress("a", range(11, 12)), egress("b", range(12, 13)))
    assert {str(v.rule) for v in two.findings} == {str(Rule.BROAD_CIDR)}
    # Allowed ranges do not count; IPv4-mapped IPv6 counts as IPv4.
    allowed = Guardrails(allowed_cidrs=("0.0.0.0/0",))
    assert exposure(first, second, guardrails=allowed).findings == ()
    mapped = policy(
        "mapped",
        policyTypes=["Egress"],
        egress=[{"to": [{"ipBlock": {"cidr": "::ffff:11.0.0.0/104"}}], "ports": [{"port": 443}]}],
    )
    assert {v.policy for v in exposure(egress("a", range(12, 13)), mapped).findings} == {
        "a",
        "mapped",
    }


def test_words_say_who_reaches_the_namespace_and_where_it_goes() -> None:
    body = policy(
        "p",
        policyTypes=["Ingress", "Egress"],
        ingress=[{}, {"from": [{"podSelector": {"matchLabels": {"app": "x"}}}]}],
        egress=[{"to": [{"ipBlock": {"cidr": "8.8.8.8/32"}}], "ports": [{"port": 443}]}],
    )
    assert exposure(body).words() == (
        "reachable from everywhere on every port of every protocol",
        "reachable from pods matching app=x in namespace team-a on every port of every protocol",
        "reaches 8.8.8.8/32 on TCP 443",
    )
