"""The pure parts of diff-reach: a witness port between two port sets, the internet and the
metadata address among IPv4 ranges, and matrices compared pod by pod."""

from __future__ import annotations

import ipaddress

import pytest

from netiso.reachability.causes import witness
from netiso.reachability.destinations import internet_part, metadata_ports, samples
from netiso.reachability.portsets import PortSet


def ports(protocol: str, *ranges: tuple[int, int]) -> PortSet:
    return PortSet.of(protocol, ranges)


@pytest.mark.parametrize(
    ("more", "less", "expected"),
    [
        (ports("TCP", (80, 80)), PortSet.NONE, ("TCP", 80)),
        (ports("TCP", (80, 90)), ports("TCP", (80, 85)), ("TCP", 86)),
        (ports("TCP", (80, 90)), ports("TCP", (85, 90)), ("TCP", 80)),
        (ports("TCP", (80, 90)), ports("TCP", (80, 90)), None),
        (PortSet.ALL, ports("TCP", (1, 65535)), ("UDP", 1)),
        (ports("UDP", (53, 53)), PortSet.ALL, None),
    ],
)
def test_a_witness_is_a_port_one_set_admits_and_the_other_does_not(
    more: PortSet, less: PortSet, expected: tuple[str, int] | None
) -> None:
    assert witness(more, less) == expected
    if expected is not None:
        assert more.admits(*expected)
        assert not less.admits(*expected)


def span(text: str) -> tuple[int, int]:
    network = ipaddress.IPv4Network(text)
    return int(network.network_address), int(network.broadcast_address)


def test_private_link_local_and_shared_ranges_are_not_the_internet() -> None:
    assert internet_part((span("10.0.0.0/8"), span("169.254.0.0/16"), span("100.64.0.0/10"))) == ()
    assert internet_part((span("8.8.8.0/24"),)) == (span("8.8.8.0/24"),)
    assert internet_part((span("0.0.0.0/0"),))  # everything holds the internet


def test_the_metadata_address_is_found_inside_a_range() -> None:
    tcp80 = ports("TCP", (80, 80))
    assert metadata_ports((((span("169.254.0.0/16"),), tcp80),)) == tcp80
    assert metadata_ports((((span("10.0.0.0/8"),), tcp80),)) == PortSet.NONE
    assert samples([((((5, 9),), tcp80),)]) == [0, 5, 10]
