"""Addresses outside the cluster that matter to an audit: the cloud metadata address and the
internet (everything public), as opposed to private and link-local ranges.

Reachability layer, pure. The metadata address (169.254.169.254, and fd00:ec2::254 on AWS's
IPv6) hands out the node's cloud credentials to any pod that reaches it: a server-side request
forgery in one pod becomes the node's identity. That is why an audit names it on its own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

from netiso.reachability.addresses import Address
from netiso.reachability.indexing import External
from netiso.reachability.intervals import Intervals, difference, intersection, merged
from netiso.reachability.portsets import PortSet

METADATA_V4: Final = ipaddress.IPv4Address("169.254.169.254")
METADATA_V6: Final = ipaddress.IPv6Address("fd00:ec2::254")
METADATA_ADDRESSES: Final[tuple[Address, ...]] = (METADATA_V4, METADATA_V6)
# Where the metadata service listens.
METADATA_PORT: Final = 80
# IPv4 ranges that are not the internet: private, shared (CGNAT), loopback, link-local,
# multicast and reserved (RFC 1918, 6598, 1122, 3927, 5771, 1112).
NOT_INTERNET: Final = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/3",
)


def _span(text: str) -> tuple[int, int]:
    network = ipaddress.IPv4Network(text)
    return int(network.network_address), int(network.broadcast_address)


_PRIVATE: Final[Intervals] = merged(_span(text) for text in NOT_INTERNET)
_INTERNET: Final[Intervals] = difference(((0, 2**32 - 1),), _PRIVATE)


def internet_part(ranges: Intervals) -> Intervals:
    """The public IPv4 addresses among `ranges`."""
    return intersection(ranges, _INTERNET)


def reaches_internet(external: External) -> PortSet:
    """What an egress External admits towards some public address (NONE: nothing)."""
    result = PortSet.NONE
    for ranges, ports in external:
        if internet_part(ranges):
            result = result.union(ports)
    return result


def metadata_ports(external: External) -> PortSet:
    """What an egress External admits towards 169.254.169.254."""
    value = int(METADATA_V4)
    for ranges, ports in external:
        if any(first <= value <= last for first, last in ranges):
            return ports
    return PortSet.NONE


def samples(externals: Iterable[External]) -> list[int]:
    """One IPv4 address (as an integer) per piece of the address space on which every given
    External is constant: comparing two Externals at these addresses compares them whole."""
    cuts = {0}
    for external in externals:
        for ranges, _ in external:
            for first, last in ranges:
                cuts.add(first)
                if last < 2**32 - 1:
                    cuts.add(last + 1)
    return sorted(cuts)


def ports_at(external: External, address: int) -> PortSet:
    """What an External admits at one IPv4 address (as an integer)."""
    for ranges, ports in external:
        if any(first <= address <= last for first, last in ranges):
            return ports
    return PortSet.NONE
