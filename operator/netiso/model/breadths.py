"""How much one NetworkPolicy opens, measured as admission measures it: the guardrails' meaning.

Model layer, pure. Three measures, each written so that rendering/cel.py can compute exactly
the same thing inside kube-apiserver (no sorting folds, 64-bit integers only): a namespace
selector that admits every namespace whatever its labels, the ports a rule's entries cover per
protocol, and the addresses a direction's ipBlocks open per family, in units of the profile's
limit. The operator's effective exposure (reachability/exposures.py) refines the last two
across policies; these are the per-policy definitions admission can decide.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from netiso import conventions

MIN_PORT: Final = 1
MAX_PORT: Final = 65535
# The protocol a port entry without one gets from the API server's defaulting.
DEFAULT_PROTOCOL: Final = "TCP"
# Addresses are counted in units of 2**-GRANULE of the profile's limit (the addresses of one
# block of the minimum prefix length): the limit is 2**GRANULE units. Exact for IPv4 with a
# minimum of /8 or more; smaller blocks round up, so the count never falls below the truth.
GRANULE: Final = 24
LIMIT_UNITS: Final = 2**GRANULE
# A block whose unit count needs more than 62 bits (CEL integers are 64-bit) is over the limit
# on its own; its count is capped, as is every block's, so the sum never overflows.
MAX_EXPONENT: Final = 62
CAPPED_UNITS: Final = LIMIT_UNITS + 1
# A CIDR as kube-apiserver's CEL `isCIDR` accepts it: the prefix spelled, no zone; IPv4-mapped
# IPv6 (::ffff:a.b.c.d) is refused there, so it counts as unreadable (broad) here too.
_CIDR_SHAPE: Final = re.compile(r"[0-9A-Fa-f:.]+/[0-9]{1,3}")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def selects_every_namespace(selector: object) -> bool:
    """Whether a namespaceSelector admits every namespace whatever labels namespaces carry:
    `{}`, or only `Exists` on kubernetes.io/metadata.name (which every namespace has).

    Selectors that admit every namespace only given the labels namespaces carry today
    (`DoesNotExist` on a rare label, `NotIn` of unused values) need the inventory: the operator
    judges those (reachability/exposures.py).
    """
    if not isinstance(selector, Mapping):
        return False
    if _mapping(selector.get("matchLabels")):
        return False
    return all(
        isinstance(expression, Mapping)
        and expression.get("key") == conventions.NAMESPACE_NAME_LABEL
        and expression.get("operator") == "Exists"
        for expression in _list(selector.get("matchExpressions"))
    )


def protocol_of(entry: Mapping[str, Any]) -> str:
    """The entry's protocol, TCP when it names none (as the API server defaults it)."""
    protocol = entry.get("protocol")
    return protocol if isinstance(protocol, str) and protocol else DEFAULT_PROTOCOL


def numeric_range(entry: Mapping[str, Any]) -> tuple[int, int] | None:
    """(first, last) of a numeric port entry (`endPort` makes it a range); None otherwise."""
    port = entry.get("port")
    if isinstance(port, bool) or not isinstance(port, int):
        return None
    end = entry.get("endPort")
    last = end if isinstance(end, int) and not isinstance(end, bool) else port
    return port, last


def covered_protocols(entries: Sequence[object]) -> frozenset[str]:
    """The protocols whose numeric entries together cover every port, 1 to 65535.

    The union covers the range when port 1 is covered and, after every range that ends
    below 65535, the next port is covered too: the same test admission's CEL makes.
    """
    ranges: dict[str, list[tuple[int, int]]] = {}
    for entry in entries:
        if isinstance(entry, Mapping) and (found := numeric_range(entry)) is not None:
            ranges.setdefault(protocol_of(entry), []).append(found)
    return frozenset(
        protocol
        for protocol, spans in ranges.items()
        if any(first <= MIN_PORT <= last for first, last in spans)
        and all(
            end >= MAX_PORT or any(first <= end + 1 <= last for first, last in spans)
            for _, end in spans
        )
    )


def parse_cidr(value: object) -> Network | None:
    """The network of an ipBlock CIDR as admission reads it (host bits masked), or None when
    admission cannot read it: no prefix, a zone, an IPv4-mapped IPv6 address."""
    if not isinstance(value, str) or not _CIDR_SHAPE.fullmatch(value):
        return None
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        return None
    return network


@dataclass(frozen=True)
class Block:
    """One ipBlock peer of a direction: its path, its CIDR text and its `except` texts."""

    path: str
    cidr: object
    excepted: tuple[object, ...] = ()


def units(prefix_length: int, *, minimum: int, round_up: bool) -> int | None:
    """The addresses of one block of `prefix_length`, in units (the limit is LIMIT_UNITS),
    rounded up or down; None when the count needs more than 62 bits."""
    exponent = GRANULE + minimum - prefix_length
    if exponent < 0:
        return 1 if round_up else 0
    if exponent > MAX_EXPONENT:
        return None
    return 1 << exponent


def broad_paths(
    blocks: Sequence[Block],
    *,
    minimums: Mapping[int, int],
    allowed: Sequence[Network],
) -> list[str]:
    """The paths of the ipBlocks of one direction that make it open more addresses than the
    profile allows, in the order given.

    A CIDR admission cannot read is broad. Per family (`minimums`: 4 and 6 to the minimum
    prefix length; 0 turns the family off), the blocks outside every allowed CIDR are counted:
    each block not inside another (the first of equal ones) counts its addresses less its
    outermost exceptions that no other counted block overlaps. When the count exceeds one
    block of the minimum prefix, every counted block of the family is broad.
    """
    networks = [parse_cidr(block.cidr) for block in blocks]
    counted = [
        network is not None
        and minimums.get(network.version, 0) > 0
        and not any(_contains(outer, network) for outer in allowed)
        for network in networks
    ]
    index = _Index(networks, counted)
    over: dict[int, bool] = {}
    for version, minimum in minimums.items():
        total = 0
        for position, network in enumerate(networks):
            if network is None or network.version != version or not counted[position]:
                continue
            if index.inside_another(position, network):
                continue
            total += _block_units(
                position, network=network, excepted=blocks[position].excepted, index=index,
                minimum=minimum,
            )  # fmt: skip
        over[version] = total > LIMIT_UNITS
    return [
        block.path
        for block, network, count in zip(blocks, networks, counted, strict=True)
        if network is None or (count and over.get(network.version, False))
    ]


class _Index:
    """The counted blocks, for the two questions broad_paths asks of each in near-constant
    time (a policy may hold 20,000 ipBlocks): is it inside another, does one overlap a hole."""

    def __init__(self, networks: Sequence[Network | None], counted: Sequence[bool]) -> None:
        self._at: dict[Network, list[int]] = {}
        self._lengths: dict[int, set[int]] = {}
        starts: dict[int, list[tuple[int, int]]] = {}
        for position, (network, count) in enumerate(zip(networks, counted, strict=True)):
            if network is None or not count:
                continue
            self._at.setdefault(network, []).append(position)
            self._lengths.setdefault(network.version, set()).add(network.prefixlen)
            starts.setdefault(network.version, []).append((int(network.network_address), position))
        self._starts = {version: sorted(found) for version, found in starts.items()}

    def _supernets(self, network: Network, *, longest: int) -> Iterator[Network]:
        for length in sorted(self._lengths.get(network.version, ())):
            if length > longest:
                break
            yield network if length == network.prefixlen else network.supernet(new_prefix=length)

    def inside_another(self, position: int, network: Network) -> bool:
        """Whether another counted block holds the block: a larger one, or an equal one
        that comes first."""
        for outer in self._supernets(network, longest=network.prefixlen):
            found = self._at.get(outer, ())
            if outer.prefixlen < network.prefixlen and found:
                return True
            if outer.prefixlen == network.prefixlen and any(other < position for other in found):
                return True
        return False

    def overlaps(self, hole: Network, *, besides: int) -> bool:
        """Whether a counted block other than `besides` holds the hole or lies in it."""
        for outer in self._supernets(hole, longest=hole.prefixlen):
            if any(other != besides for other in self._at.get(outer, ())):
                return True
        # Any counted block starting inside the hole lies in it (or holds it): CIDRs nest.
        starts = self._starts.get(hole.version, [])
        first, last = int(hole.network_address), int(hole.broadcast_address)
        at = bisect.bisect_left(starts, (first, -1))
        while at < len(starts) and starts[at][0] <= last:
            if starts[at][1] != besides:
                return True
            at += 1
        return False


def _block_units(
    position: int,
    *,
    network: Network,
    excepted: Sequence[object],
    index: _Index,
    minimum: int,
) -> int:
    whole = units(network.prefixlen, minimum=minimum, round_up=True)
    if whole is None:
        return CAPPED_UNITS
    holes = [parse_cidr(text) for text in excepted]
    removed = 0
    for place, hole in enumerate(holes):
        # Only the outermost exceptions (the first of equal ones), inside the block, and
        # overlapped by no other counted block: their addresses are surely not opened.
        if hole is None or not _contains(network, hole):
            continue
        if any(
            other is not None
            and _contains(other, hole)
            and (other.prefixlen < hole.prefixlen or earlier < place)
            for earlier, other in enumerate(holes)
            if earlier != place
        ):
            continue
        if index.overlaps(hole, besides=position):
            continue
        removed += units(hole.prefixlen, minimum=minimum, round_up=False) or 0
    return min(CAPPED_UNITS, max(0, whole - removed))


def _contains(outer: Network, inner: Network) -> bool:
    return outer.version == inner.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []
