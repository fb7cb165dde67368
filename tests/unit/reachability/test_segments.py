"""Addresses reached on every port only where ipBlocks overlap: cut, covered, joined."""

from __future__ import annotations

import ipaddress

from netiso.reachability.addresses import IpBlock
from netiso.reachability.portsets import PortSet
from netiso.reachability.segments import Opened, Whole, whole_port_addresses

LOW = PortSet.of("TCP", ((1, 30000),))
HIGH = PortSet.of("TCP", ((30001, 65535),))


def opened(cidr: str, ports: PortSet, *excepted: str, policy: str = "p") -> Opened:
    block = IpBlock(
        ipaddress.ip_network(cidr), tuple(ipaddress.ip_network(text) for text in excepted)
    )
    return Opened(block, ports, frozenset({policy}))


def test_overlapping_blocks_reach_their_common_addresses_on_every_port() -> None:
    found = whole_port_addresses(
        [opened("10.0.0.0/9", LOW), opened("10.0.0.0/8", HIGH, "10.1.0.0/16", policy="q")]
    )
    expected = ipaddress.IPv4Network("10.0.0.0/9").address_exclude(
        ipaddress.IPv4Network("10.1.0.0/16")
    )
    assert found == [Whole(tuple(sorted(expected)), ("TCP",), frozenset({"p", "q"}))]


def test_blocks_apart_or_a_protocol_whole_alone_reach_nothing_more() -> None:
    assert whole_port_addresses([opened("10.0.0.0/9", LOW), opened("11.0.0.0/8", HIGH)]) == []
    everything = PortSet.of("TCP", ((1, 65535),))
    assert (
        whole_port_addresses([opened("10.0.0.0/9", everything), opened("10.0.0.0/8", HIGH)]) == []
    )
    udp = PortSet.of("UDP", ((30001, 65535),))
    assert whole_port_addresses([opened("10.0.0.0/9", LOW), opened("10.0.0.0/8", udp)]) == []
    # IPv4 and IPv6 blocks never add up.
    assert whole_port_addresses([opened("10.0.0.0/8", LOW), opened("::/0", HIGH)]) == []
