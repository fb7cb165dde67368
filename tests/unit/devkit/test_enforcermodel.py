"""The dataplane tests' second model: reference semantics, and each kube-router deviation
switched on alone changing exactly the answer it describes."""

from __future__ import annotations

from typing import Any

from tests.dataplane.enforcermodel import (
    DOCUMENTED,
    Cluster,
    Deviation,
    Pod,
    allows,
    enforcer_outcomes,
    explain,
)

A = Pod("ns", "a", {"app": "a"}, "10.244.0.2", ())
B = Pod("ns", "b", {"app": "b"}, "10.244.0.3", (("http", "TCP", 8080),))
C = Pod("ns", "c", {"app": "c"}, "10.244.0.4", (("http", "TCP", 8080), ("metrics", "TCP", 9090)))


def policy(spec: dict[str, Any], name: str = "p") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def cluster(*policies: dict[str, Any], pods: tuple[Pod, ...] = (A, B, C)) -> Cluster:
    return Cluster(pods, {"ns": {"team": "x"}}, policies)


def test_reference_semantics_named_ports_resolve_on_the_destination() -> None:
    world = cluster(
        policy(
            {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": "http"}]}],
            }
        )
    )
    assert allows(world, src=A, dst=B, port=8080, protocol="TCP")
    assert not allows(world, src=A, dst=B, port=9090, protocol="TCP")
    assert not allows(world, src=B, dst=A, port=8080, protocol="TCP")


def test_cross_direction_rules_are_too_permissive_when_one_policy_selects_both() -> None:
    world = cluster(
        policy(
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [],
                "egress": [{"to": [{"podSelector": {}}]}],
            }
        )
    )
    assert not allows(world, src=A, dst=B, port=80, protocol="TCP")
    assert explain(world, src=A, dst=B, port=80, protocol="TCP", observed_open=True) == (
        Deviation.CROSS_DIRECTION,
    )


def test_unresolved_named_ports_admit_every_port() -> None:
    world = cluster(
        policy(
            {
                "podSelector": {"matchLabels": {"app": "a"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {}}],
                        "ports": [{"protocol": "TCP", "port": "http"}],
                    }
                ],
            }
        )
    )
    assert not allows(world, src=B, dst=A, port=443, protocol="TCP")
    assert Deviation.UNRESOLVED_NAMED_PORTS in explain(
        world, src=B, dst=A, port=443, protocol="TCP", observed_open=True
    )


def test_named_ports_on_egress_ip_blocks_admit_nothing() -> None:
    world = cluster(
        policy(
            {
                "podSelector": {"matchLabels": {"app": "a"}},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "10.244.0.0/24"}}],
                        "ports": [{"protocol": "TCP", "port": "http"}],
                    }
                ],
            }
        )
    )
    assert allows(world, src=A, dst=B, port=8080, protocol="TCP")
    assert explain(world, src=A, dst=B, port=8080, protocol="TCP", observed_open=False) == (
        Deviation.EGRESS_IPBLOCK_NAMED_PORTS,
    )


def test_a_shared_named_port_can_leak_a_pod_into_another_named_port_list() -> None:
    world = cluster(
        policy(
            {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": "metrics"}]}],
            }
        )
    )
    # B shares http/8080 with C; C's list for `metrics` may then hold B's address.
    assert not allows(world, src=A, dst=B, port=9090, protocol="TCP")
    assert explain(world, src=A, dst=B, port=9090, protocol="TCP", observed_open=True) == (
        Deviation.NAMED_PORT_IP_LEAK,
    )
    # A declares no named port: nothing links it to C.
    assert explain(world, src=B, dst=A, port=9090, protocol="TCP", observed_open=True) == ()


def test_a_disagreement_no_deviation_explains_is_reported_as_such() -> None:
    world = cluster(policy({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}))
    assert explain(world, src=A, dst=B, port=80, protocol="TCP", observed_open=True) == ()


# Another namespace's pod declaring `metrics`, which no pod of "ns" declares (the known
# dataplane case: eng-y -> eng-x/pod-0 TCP 9090 under a to-less egress rule naming `metrics`).
X = Pod("x", "target", {"app": "t"}, "10.244.0.5", (("metrics", "TCP", 9090),))
TOLESS_METRICS = policy(
    {
        "podSelector": {"matchLabels": {"app": "a"}},
        "policyTypes": ["Egress"],
        "egress": [{"ports": [{"protocol": "TCP", "port": "metrics"}]}],
    }
)


def toless_world(*policies: dict[str, Any]) -> Cluster:
    return Cluster((A, B, X), {"ns": {"team": "x"}, "x": {"team": "y"}}, policies)


def test_toless_egress_named_port_only_the_destination_declares_admits_nothing() -> None:
    world = toless_world(TOLESS_METRICS)
    # The reference resolves `metrics` on the destination, which declares it.
    assert allows(world, src=A, dst=X, port=9090, protocol="TCP")
    # kube-router resolves it on the pods of "ns", where no pod declares it: nothing at all,
    # not every port.
    for port in (9090, 80, 8080):
        assert not allows(world, src=A, dst=X, port=port, protocol="TCP", deviations=DOCUMENTED)
    assert explain(world, src=A, dst=X, port=9090, protocol="TCP", observed_open=False) == (
        Deviation.ANY_DESTINATION_NAMED_PORTS,
    )
    assert enforcer_outcomes(world, src=A, dst=X, port=9090, protocol="TCP") == {False}


def test_toless_egress_named_port_declared_in_the_policy_namespace_opens_everywhere() -> None:
    http = policy(
        {
            "podSelector": {"matchLabels": {"app": "a"}},
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"protocol": "TCP", "port": "http"}]}],
        }
    )
    world = toless_world(http)
    # B (in "ns") declares http/8080: kube-router admits 8080 to X, which declares no http.
    assert not allows(world, src=A, dst=X, port=8080, protocol="TCP")
    assert allows(world, src=A, dst=X, port=8080, protocol="TCP", deviations=DOCUMENTED)
    assert explain(world, src=A, dst=X, port=8080, protocol="TCP", observed_open=True) == (
        Deviation.ANY_DESTINATION_NAMED_PORTS,
    )
    assert not allows(world, src=A, dst=X, port=9090, protocol="TCP", deviations=DOCUMENTED)


def test_toless_egress_numeric_ports_still_admit_beside_unresolved_names() -> None:
    mixed = policy(
        {
            "podSelector": {"matchLabels": {"app": "a"}},
            "policyTypes": ["Egress"],
            "egress": [
                {"ports": [{"protocol": "TCP", "port": "metrics"}, {"protocol": "TCP", "port": 80}]}
            ],
        }
    )
    world = toless_world(mixed)
    assert allows(world, src=A, dst=X, port=80, protocol="TCP", deviations=DOCUMENTED)
    assert not allows(world, src=A, dst=X, port=9090, protocol="TCP", deviations=DOCUMENTED)
    assert not allows(world, src=A, dst=X, port=8080, protocol="TCP", deviations=DOCUMENTED)


def test_enforcer_outcomes_allow_either_answer_only_where_the_ip_leak_decides() -> None:
    world = cluster(
        policy(
            {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": "metrics"}]}],
            }
        )
    )
    assert enforcer_outcomes(world, src=A, dst=B, port=9090, protocol="TCP") == {True, False}
    assert enforcer_outcomes(world, src=B, dst=A, port=9090, protocol="TCP") == {False}
    assert enforcer_outcomes(world, src=A, dst=C, port=9090, protocol="TCP") == {True}
