"""Addresses that overlapping ipBlocks together reach on every port of a protocol.

Reachability layer, pure. `10.0.0.0/9` on the low ports beside `10.0.0.0/8 except
10.1.0.0/16` on the high ones opens every port to the addresses in both: neither block holds
the other, so peer containment (containment.py) cannot tell. The address space is cut at
every block and exception boundary, and each piece gets the ports of the blocks covering it.
Quadratic in the blocks, so bounded by the caller.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from netiso.reachability.addresses import IpBlock
from netiso.reachability.intervals import Intervals, difference, merged
from netiso.reachability.portsets import FULL_RANGE, PROTOCOLS, PortSet

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Opened:
    """One ipBlock peer of a direction with the ports its rules give it."""

    block: IpBlock
    ports: PortSet
    policies: frozenset[str]


@dataclass(frozen=True)
class Whole:
    """Addresses reached on every port of `protocols`, only by several blocks together."""

    networks: tuple[Network, ...]
    protocols: tuple[str, ...]
    policies: frozenset[str]


def whole_port_addresses(opened: Sequence[Opened]) -> list[Whole]:
    """The addresses that the blocks together, and no block alone, reach on every port of a
    protocol; adjacent pieces with the same protocols and policies are joined."""
    joined: dict[tuple[tuple[str, ...], frozenset[str]], list[Network]] = {}
    for version in (4, 6):
        mine = [item for item in opened if item.block.cidr.version == version]
        spans = [_addresses(item.block) for item in mine]
        cuts = sorted({edge for ranges in spans for a, b in ranges for edge in (a, b + 1)})
        address = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
        for first, after in itertools.pairwise(cuts):
            covering = [
                item for item, ranges in zip(mine, spans, strict=True) if _holds(ranges, first)
            ]
            union = PortSet.NONE
            for item in covering:
                union = union.union(item.ports)
            protocols = tuple(
                protocol
                for protocol in PROTOCOLS
                if union.ranges(protocol) == FULL_RANGE
                and not any(item.ports.ranges(protocol) == FULL_RANGE for item in covering)
            )
            if not protocols:
                continue
            policies = frozenset(name for item in covering for name in item.policies)
            joined.setdefault((protocols, policies), []).extend(
                ipaddress.summarize_address_range(address(first), address(after - 1))
            )
    return [
        Whole(tuple(networks), protocols, policies)
        for (protocols, policies), networks in joined.items()
    ]


def _addresses(block: IpBlock) -> Intervals:
    holes = merged(
        (int(hole.network_address), int(hole.broadcast_address))
        for hole in block.excepted
        if hole.version == block.cidr.version
    )
    whole = ((int(block.cidr.network_address), int(block.cidr.broadcast_address)),)
    return difference(whole, holes)


def _holds(ranges: Intervals, address: int) -> bool:
    at = bisect.bisect_right(ranges, (address, 2**129)) - 1
    return at >= 0 and ranges[at][0] <= address <= ranges[at][1]
