"""IP addresses and ipBlock peers: CIDR minus its exceptions, for one address or as IPv4 ranges.

Reachability layer, pure. Addresses are compared as integers within one IP version; the matrix
reports external (non-pod) traffic for IPv4, as inclusive first-last integer ranges.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from netiso.model.problems import Problem
from netiso.reachability.accessors import items, mapping, string
from netiso.reachability.intervals import Intervals, difference, merged

IPV4_SPACE: Final[Intervals] = ((0, 2**32 - 1),)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class IpBlock:
    """An ipBlock peer: every address in `cidr` except those in `excepted`."""

    cidr: Network
    excepted: tuple[Network, ...] = ()

    def matches(self, address: Address) -> bool:
        """Whether the address is in the CIDR and in none of the exceptions."""
        return (
            address.version == self.cidr.version
            and address in self.cidr
            and not any(address in network for network in self.excepted)
        )

    def ipv4_ranges(self) -> Intervals:
        """The IPv4 addresses of the block as integer ranges (empty for an IPv6 block)."""
        if self.cidr.version != 4:
            return ()
        return difference(
            (_range(self.cidr),), merged(_range(network) for network in self.excepted)
        )

    def describe(self) -> str:
        """`10.0.0.0/8 except 10.1.0.0/16`."""
        if not self.excepted:
            return str(self.cidr)
        return f"{self.cidr} except {', '.join(str(network) for network in self.excepted)}"


def _range(network: Network) -> tuple[int, int]:
    return int(network.network_address), int(network.broadcast_address)


def parse_address(text: str) -> Address | None:
    """An IP address, or None when `text` is not one."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def format_ipv4(value: int) -> str:
    """An IPv4 address from its integer."""
    return str(ipaddress.IPv4Address(value))


def parse_ip_block(raw: object, *, path: str, problems: list[Problem]) -> IpBlock | None:
    """An ipBlock; exceptions must lie inside the CIDR, as the API server validates."""
    body = mapping(raw, path=path, problems=problems)
    cidr = _network(body.get("cidr"), path=f"{path}.cidr", problems=problems)
    if cidr is None:
        return None
    excepted = []
    for index, item in enumerate(
        items(body.get("except"), path=f"{path}.except", problems=problems)
    ):
        network = _network(item, path=f"{path}.except[{index}]", problems=problems)
        if network is None:
            continue
        if network.version != cidr.version or not network.subnet_of(cidr):  # type: ignore[arg-type]
            problems.append(Problem(f"{path}.except[{index}]", f"must be within {cidr}"))
            continue
        excepted.append(network)
    return IpBlock(cidr, tuple(excepted))


def _network(raw: object, *, path: str, problems: list[Problem]) -> Network | None:
    text = string(raw, path=path, problems=problems)
    if not text:
        problems.append(Problem(path, "required: a CIDR such as 10.0.0.0/8"))
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        problems.append(Problem(path, f"must be a CIDR such as 10.0.0.0/8, got {text!r}"))
        return None


def segments(network: Network, blocks: Iterable[IpBlock]) -> tuple[Network, ...]:
    """`network` cut where any of the blocks' CIDRs or exceptions begin or end, as the fewest
    CIDRs: every address of one piece is matched by the same blocks, so one address per piece
    answers for the whole piece (how `explain` answers for a range)."""
    first, last = _range(network)
    cuts = {first, last + 1}
    for block in blocks:
        for edge in (block.cidr, *block.excepted):
            if edge.version != network.version:
                continue
            low, high = _range(edge)
            cuts.update(value for value in (low, high + 1) if first < value <= last)
    bounds = sorted(cuts)
    make = ipaddress.IPv4Address if network.version == 4 else ipaddress.IPv6Address
    pieces: list[Network] = []
    for low, high in itertools.pairwise(bounds):
        pieces.extend(ipaddress.summarize_address_range(make(low), make(high - 1)))
    return tuple(pieces)


def parse_network(text: str) -> Network | None:
    """A CIDR (`10.0.0.0/8`; host bits may be set), or None when `text` is not one."""
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
