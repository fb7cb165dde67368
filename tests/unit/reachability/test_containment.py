"""Which peer admits no more than another: table-driven, both ways round."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from netiso.reachability.addresses import IpBlock
from netiso.reachability.containment import block_within, peer_within, selector_within
from netiso.reachability.matching import parse_selector
from netiso.reachability.policies import Peer

NAME = "kubernetes.io/metadata.name"


def sel(raw: dict[str, Any]) -> Any:
    problems: list[Any] = []
    found = parse_selector(raw, path="test", problems=problems)
    assert not problems
    return found


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    found: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        found["values"] = list(values)
    return {"matchExpressions": [found]}


@pytest.mark.parametrize(
    ("inner", "outer", "within"),
    [
        ({"matchLabels": {"team": "b"}}, expr("team", "In", "b"), True),
        (expr("team", "In", "b"), {"matchLabels": {"team": "b"}}, True),
        ({"matchLabels": {"team": "b"}}, expr("team", "Exists"), True),
        ({"matchLabels": {"team": "b"}}, expr("team", "In", "a", "b"), True),
        ({"matchLabels": {"team": "b"}}, expr("team", "NotIn", "a"), True),
        ({"matchLabels": {"team": "b", "tier": "db"}}, {"matchLabels": {"team": "b"}}, True),
        ({"matchLabels": {"team": "b"}}, {}, True),
        (expr("team", "DoesNotExist"), expr("team", "NotIn", "a"), True),
        (expr("team", "NotIn", "a", "b"), expr("team", "NotIn", "a"), True),
        (expr("team", "Exists"), {"matchLabels": {"team": "b"}}, False),
        ({"matchLabels": {"team": "b"}}, {"matchLabels": {"team": "b", "tier": "db"}}, False),
        (expr("team", "In", "a", "b"), {"matchLabels": {"team": "b"}}, False),
        ({"matchLabels": {"team": "a"}}, expr("team", "NotIn", "a"), False),
        (expr("team", "NotIn", "a"), expr("team", "NotIn", "a", "b"), False),
        ({}, {"matchLabels": {"team": "b"}}, False),
        ({"matchLabels": {"env": "b"}}, {"matchLabels": {"team": "b"}}, False),
    ],
)
def test_a_selector_is_within_another_when_its_requirements_imply_the_others(
    inner: dict[str, Any], outer: dict[str, Any], within: bool
) -> None:
    assert selector_within(sel(inner), sel(outer)) is within


def block(cidr: str, *excepted: str) -> IpBlock:
    return IpBlock(
        ipaddress.ip_network(cidr), tuple(ipaddress.ip_network(text) for text in excepted)
    )


@pytest.mark.parametrize(
    ("inner", "outer", "within"),
    [
        (block("10.0.0.0/9"), block("10.0.0.0/8"), True),
        (block("10.0.0.0/8"), block("10.0.0.0/8"), True),
        (block("10.0.0.0/9", "10.1.0.0/16"), block("10.0.0.0/8", "10.1.0.0/24"), True),
        (block("10.128.0.0/9"), block("10.0.0.0/8", "10.1.0.0/16"), True),
        (block("10.0.0.0/9"), block("10.0.0.0/8", "10.1.0.0/16"), False),
        (block("10.0.0.0/8"), block("10.0.0.0/9"), False),
        (block("::ffff:10.0.0.0/104"), block("10.0.0.0/8"), False),
        (block("fd00::/64"), block("fd00::/48"), True),
    ],
)
def test_a_block_is_within_another_when_no_outer_exception_cuts_into_it(
    inner: IpBlock, outer: IpBlock, within: bool
) -> None:
    assert block_within(inner, outer) is within


def peer(ns: dict[str, Any] | None = None, pods: dict[str, Any] | None = None) -> Peer:
    return Peer(
        pod_selector=sel(pods) if pods is not None else None,
        namespace_selector=sel(ns) if ns is not None else None,
    )


@pytest.mark.parametrize(
    ("inner", "outer", "within"),
    [
        # A peer without a namespaceSelector is in the policy's namespace, team-a.
        (peer(pods={"matchLabels": {"app": "x"}}), peer(pods={}), True),
        (peer(pods={"matchLabels": {"app": "x"}}), peer(ns=expr(NAME, "In", "team-a")), True),
        (peer(pods={"matchLabels": {"app": "x"}}), peer(ns=expr(NAME, "NotIn", "b")), True),
        (peer(pods={}), peer(ns={"matchLabels": {"team": "a"}}), False),
        (peer(ns=expr(NAME, "In", "team-a"), pods={}), peer(pods={}), True),
        (peer(ns=expr(NAME, "In", "team-a", "team-b")), peer(pods={}), False),
        (
            peer(ns={"matchLabels": {"team": "b"}}, pods={"matchLabels": {"app": "x"}}),
            peer(ns=expr("team", "Exists")),
            True,
        ),
        (
            peer(ns={"matchLabels": {"team": "b"}}),
            peer(ns=expr("team", "Exists"), pods={"matchLabels": {"app": "x"}}),
            False,
        ),
        (peer(ns={}), None, True),
        (None, peer(ns={}), False),
        (Peer(ip_block=block("10.0.0.0/9")), peer(ns={}), False),
        (peer(ns={}), Peer(ip_block=block("0.0.0.0/0")), False),
    ],
)
def test_a_peer_is_within_another_by_namespaces_pods_or_addresses(
    inner: Peer | None, outer: Peer | None, within: bool
) -> None:
    assert peer_within(inner, outer, namespace="team-a") is within
