"""Allowed traffic as a value: everything, or port intervals per protocol (TCP, UDP, SCTP).

Reachability layer, pure. `PortSet.ALL` is "every protocol and port" (a rule without ports),
which is more than the three protocols' full port ranges: it also admits e.g. ICMP.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from netiso.reachability.intervals import Intervals, intersection, merged

PROTOCOLS: Final = ("TCP", "UDP", "SCTP")
MIN_PORT: Final = 1
MAX_PORT: Final = 65535
FULL_RANGE: Final[Intervals] = ((MIN_PORT, MAX_PORT),)


@dataclass(frozen=True)
class PortSet:
    """Everything (`everything=True`) or, per protocol in PROTOCOLS order, merged port intervals."""

    everything: bool = False
    tcp: Intervals = ()
    udp: Intervals = ()
    sctp: Intervals = ()

    ALL: ClassVar[PortSet]
    NONE: ClassVar[PortSet]

    @classmethod
    def of(cls, protocol: str, intervals: Intervals) -> PortSet:
        """The ports `intervals` of one protocol."""
        canonical = merged(intervals)
        if protocol == "TCP":
            return cls(tcp=canonical)
        if protocol == "UDP":
            return cls(udp=canonical)
        return cls(sctp=canonical)

    def ranges(self, protocol: str) -> Intervals:
        """The port intervals of a protocol (the full range when everything is allowed)."""
        if self.everything:
            return FULL_RANGE
        return getattr(self, protocol.lower())  # type: ignore[no-any-return]

    @property
    def empty(self) -> bool:
        """True when nothing at all is allowed."""
        return not self.everything and not (self.tcp or self.udp or self.sctp)

    def admits(self, protocol: str, port: int) -> bool:
        """Whether one port of one protocol is allowed."""
        return self.everything or any(
            first <= port <= last for first, last in self.ranges(protocol)
        )

    def union(self, other: PortSet) -> PortSet:
        """Traffic allowed by either set."""
        return _union(self, other)

    def intersection(self, other: PortSet) -> PortSet:
        """Traffic allowed by both sets."""
        return _intersection(self, other)

    def to_json(self) -> dict[str, Any]:
        """`{"all": true}` or `{"TCP": [[lo, hi], ...], "UDP": [...], "SCTP": [...]}`."""
        if self.everything:
            return {"all": True}
        return {protocol: [list(pair) for pair in self.ranges(protocol)] for protocol in PROTOCOLS}

    def describe(self) -> str:
        """Short human form: `all`, `none`, or `TCP 80, 8000-8080; UDP 53`."""
        if self.everything:
            return "all"
        parts = []
        for protocol in PROTOCOLS:
            ranges = self.ranges(protocol)
            if ranges:
                shown = ", ".join(
                    str(first) if first == last else f"{first}-{last}" for first, last in ranges
                )
                parts.append(f"{protocol} {shown}")
        return "; ".join(parts) if parts else "none"


PortSet.ALL = PortSet(everything=True)
PortSet.NONE = PortSet()


@functools.lru_cache(maxsize=65536)
def _union(left: PortSet, right: PortSet) -> PortSet:
    if left.everything or right.empty:
        return left
    if right.everything or left.empty:
        return right
    return PortSet(
        tcp=merged(left.tcp + right.tcp),
        udp=merged(left.udp + right.udp),
        sctp=merged(left.sctp + right.sctp),
    )


@functools.lru_cache(maxsize=65536)
def _intersection(left: PortSet, right: PortSet) -> PortSet:
    if left.everything:
        return right
    if right.everything:
        return left
    return PortSet(
        tcp=intersection(left.tcp, right.tcp),
        udp=intersection(left.udp, right.udp),
        sctp=intersection(left.sctp, right.sctp),
    )
