"""The effective exposure: what a namespace's policies admit together, judged on meaning."""

from __future__ import annotations

from typing import Any

from netiso.model.guardrails import Rule, violations
from netiso.model.limits import Guardrails
from netiso.reachability.exposures import (
    EXPOSURE_PREFIX,
    MAX_COMPARED_SELECTORS,
    exposure_of,
    inventory_keys,
)

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


def test_selectors_that_admit_every_namespace_only_together_are_every_namespace() -> None:
    """No selector alone, their union does: in one rule, over rules, over policies."""
    b_only = {"matchLabels": {"team": "b"}}
    unteamed = {"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}
    not_b = {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["b"]}]}
    named_b = {"matchExpressions": [{"key": NAME, "operator": "In", "values": ["team-b"]}]}
    not_named_b = {"matchExpressions": [{"key": NAME, "operator": "NotIn", "values": ["team-b"]}]}
    port = {"port": 443}
    one_rule = policy(
        "p",
        ingress=[{"from": [{"namespaceSelector": b_only}, {"namespaceSelector": not_b}]}],
    )
    words = EXPOSURE_PREFIX + "reachable from every namespace through the namespaceSelectors of "
    assert rules_of(exposure(one_rule)) == [("all-namespaces", "p", words + "p")]
    two_rules = policy(
        "p", ingress=[from_namespaces(named_b, port), from_namespaces(not_named_b, port)]
    )
    assert rules_of(exposure(two_rules)) == [("all-namespaces", "p", words + "p")]
    teamed = {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]}
    first = policy("first", ingress=[from_namespaces(teamed, port)])
    second = policy("second", ingress=[from_namespaces(unteamed, port)])
    both = words + "first, second"
    assert rules_of(exposure(first, second)) == [
        ("all-namespaces", "first", both),
        ("all-namespaces", "second", both),
    ]
    # Egress is judged apart, and says where the namespace goes.
    out = policy(
        "out",
        policyTypes=["Egress"],
        egress=[
            {"to": [{"namespaceSelector": teamed}], "ports": [port]},
            {"to": [{"namespaceSelector": unteamed}], "ports": [port]},
        ],
    )
    assert rules_of(exposure(out)) == [
        (
            "all-namespaces",
            "out",
            EXPOSURE_PREFIX + "reaching every namespace through the namespaceSelectors of out",
        )
    ]


def test_selectors_that_together_leave_a_namespace_out_are_not_every_namespace() -> None:
    a_only = {"matchLabels": {"team": "a"}}
    unteamed = {"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}
    b_only = {"matchLabels": {"team": "b"}}
    port = {"port": 443}
    # team-b is left out; and without a selector that admits a new namespace, none is every.
    assert (
        exposure(
            policy("p", ingress=[from_namespaces(a_only, port)]),
            policy("q", ingress=[from_namespaces(unteamed, port)]),
        ).findings
        == ()
    )
    assert (
        exposure(
            policy("p", ingress=[from_namespaces(a_only, port), from_namespaces(b_only, port)])
        ).findings
        == ()
    )
    # Ingress and egress do not add up.
    mixed = policy(
        "p",
        policyTypes=["Ingress", "Egress"],
        ingress=[from_namespaces(b_only, port)],
        egress=[{"to": [{"namespaceSelector": unteamed}], "ports": [port]}],
    )
    assert exposure(mixed).findings == ()
    # One selector that admits every namespace alone is reported once, at its field.
    alone = {"matchExpressions": [{"key": "rare", "operator": "DoesNotExist"}]}
    found = exposure(
        policy("p", ingress=[from_namespaces(alone, port)]),
        policy("q", ingress=[from_namespaces(b_only, port)]),
    )
    assert rules_of(found) == [("all-namespaces", "p", "spec.ingress[0].from[0].namespaceSelector")]
    assert (
        exposure(
            policy("p", ingress=[from_namespaces(b_only, port), from_namespaces(unteamed, port)]),
            guardrails=Guardrails(allow_all_namespaces=True),
        ).findings
        == ()
    )


def test_a_relabel_under_any_key_of_selectors_that_may_add_up_is_a_dependency() -> None:
    both = policy(
        "p",
        ingress=[
            from_namespaces({"matchLabels": {"env": "prod"}}, {"port": 443}),
            from_namespaces(
                {"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]},
                {"port": 443},
            ),
        ],
    )
    assert inventory_keys([both]) == {"env", "team"}
    # Without a selector that admits a new namespace, no relabel can make them every one.
    alone = policy("p", ingress=[from_namespaces({"matchLabels": {"env": "prod"}}, {"port": 1})])
    assert inventory_keys([alone]) == frozenset()


def test_ports_that_add_up_over_a_peer_and_a_wider_one_are_every_port() -> None:
    """Spelled differently, or reached through a wider peer: still every port."""
    low, high = {"port": 1, "endPort": 30000}, {"port": 30001, "endPort": 65535}
    team_b = {"matchLabels": {"team": "b"}}
    cases: list[tuple[dict[str, Any], str]] = [
        # matchLabels and In: one peer spelled twice, said once.
        (
            {"matchExpressions": [{"key": "team", "operator": "In", "values": ["b"]}]},
            "namespaces matching team in (b)",
        ),
        # Every namespace with a team label holds team=b.
        (
            {"matchExpressions": [{"key": "team", "operator": "Exists"}]},
            "namespaces matching team=b",
        ),
    ]
    for wider, peer_words in cases:
        found = exposure(
            policy("low", ingress=[from_namespaces(team_b, low)]),
            policy("high", ingress=[from_namespaces(wider, high)]),
        )
        path = EXPOSURE_PREFIX + f"reachable from {peer_words} on every TCP port"
        assert rules_of(found) == [("no-ports", "high", path), ("no-ports", "low", path)], wider
    # Pods of the namespace, and all of them through another rule.
    pods = policy(
        "pods",
        ingress=[
            {"from": [{"podSelector": {"matchLabels": {"app": "x"}}}], "ports": [low]},
            {"from": [{"podSelector": {}}], "ports": [high]},
        ],
    )
    assert rules_of(exposure(pods)) == [
        (
            "no-ports",
            "pods",
            EXPOSURE_PREFIX
            + "reachable from pods matching app=x in namespace team-a on every TCP port",
        )
    ]
    # Addresses: a /9 and the /8 that holds it.
    blocks = policy(
        "blocks",
        policyTypes=["Egress"],
        egress=[
            {"to": [{"ipBlock": {"cidr": "10.0.0.0/9"}}], "ports": [low]},
            {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [high]},
        ],
    )
    assert rules_of(exposure(blocks)) == [
        ("no-ports", "blocks", EXPOSURE_PREFIX + "reaches 10.0.0.0/9 on every TCP port")
    ]


def test_ports_of_peers_that_only_overlap_do_not_add_up_unless_addresses() -> None:
    low, high = {"port": 1, "endPort": 30000}, {"port": 30001, "endPort": 65535}
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"matchLabels": {"team": "b"}}, {"matchLabels": {"team": "c"}}),
        ({"matchLabels": {"team": "b", "tier": "db"}}, {"matchLabels": {"team": "b", "x": "y"}}),
        (
            {"matchLabels": {"team": "b"}},
            {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["b"]}]},
        ),
    ]
    for narrow, other in pairs:
        found = exposure(
            policy("low", ingress=[from_namespaces(narrow, low)]),
            policy("high", ingress=[from_namespaces(other, high)]),
        )
        assert [str(v.rule) for v in found.findings if v.rule is Rule.NO_PORTS] == [], other
    blocks = policy(
        "blocks",
        policyTypes=["Egress"],
        egress=[
            {"to": [{"ipBlock": {"cidr": "10.0.0.0/9"}}], "ports": [low]},
            {
                "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                "ports": [high],
            },
        ],
    )
    # Overlapping, neither holding the other: the addresses in both are reached on every port.
    cut = rules_of(exposure(blocks))
    assert [(rule, name) for rule, name, _ in cut] == [("no-ports", "blocks")]
    assert cut[0][2].startswith(EXPOSURE_PREFIX + "reaches 10.0.0.0/16, 10.2.0.0/15")
    assert cut[0][2].endswith("on every TCP port")


def test_many_blocks_with_ports_that_add_up_are_judged_quickly() -> None:
    low, high = {"port": 1, "endPort": 30000}, {"port": 30001, "endPort": 65535}
    many = [{"ipBlock": {"cidr": f"10.{n // 256}.{n % 256}.0/24"}} for n in range(5_000)]
    body = policy(
        "many",
        policyTypes=["Egress"],
        egress=[{"to": many, "ports": [low]}, {"to": many[:1], "ports": [high]}],
    )
    found = exposure(body)
    assert [v.path for v in found.findings if v.rule is Rule.NO_PORTS] == [
        EXPOSURE_PREFIX + "reaches 10.0.0.0/24 on every TCP port"
    ]


def test_too_many_selectors_to_compare_fail_closed() -> None:
    """Selectors are compared pairwise: past the bound, ports that cover a protocol over the
    direction are reported whole rather than not at all."""
    low, high = {"port": 1, "endPort": 30000}, {"port": 30001, "endPort": 65535}
    peers = [
        {"namespaceSelector": {"matchLabels": {"team": f"t{n}"}}}
        for n in range(MAX_COMPARED_SELECTORS)
    ]
    everyone = from_namespaces({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, high)
    body = policy("many", ingress=[{"from": peers, "ports": [low]}, everyone])
    (finding,) = exposure(body).findings
    assert finding.rule is Rule.NO_PORTS
    assert finding.path.startswith(
        EXPOSURE_PREFIX + f"reachable from {MAX_COMPARED_SELECTORS + 1} peers on every TCP port"
    )
    # Within the bound, each peer is judged on its own.
    few = policy("few", ingress=[{"from": peers[:3], "ports": [low]}, everyone])
    assert len(exposure(few).findings) == 3


def test_a_selector_that_leaves_out_only_the_policys_own_namespace_is_every_namespace() -> None:
    """`NotIn [<own name>]` admits every other namespace and every new one."""
    for selector in (
        {"matchExpressions": [{"key": NAME, "operator": "NotIn", "values": ["team-a"]}]},
        {"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]},
    ):
        found = exposure(policy("p", ingress=[from_namespaces(selector, {"port": 5432})]))
        assert rules_of(found) == [
            ("all-namespaces", "p", "spec.ingress[0].from[0].namespaceSelector")
        ], selector
        assert found.words() == ("reachable from every namespace on TCP 5432",)
    # Together with a peer for the namespace's own pods, and split in two.
    split = policy(
        "p",
        ingress=[
            from_namespaces(
                {"matchExpressions": [{"key": "team", "operator": "In", "values": ["b"]}]},
                {"port": 1},
            ),
            from_namespaces(
                {"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, {"port": 1}
            ),
        ],
    )
    assert [rule for rule, _, _ in rules_of(exposure(split))] == ["all-namespaces"]
