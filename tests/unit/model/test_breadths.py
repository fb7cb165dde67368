"""The measures of breadths.py: the indexed address count equals the plain pairwise one."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from netiso.model.breadths import (
    CAPPED_UNITS,
    LIMIT_UNITS,
    Block,
    Network,
    broad_paths,
    parse_cidr,
    units,
)

POOL = (
    "0.0.0.0/0", "10.0.0.0/7", "10.0.0.0/8", "11.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24",
    "10.1.2.3/32", "12.0.0.0/9", "::/0", "fd00::/8", "fd00::/120", "fd00::1/128", "bad",
)  # fmt: skip


def reference(
    blocks: Sequence[Block], *, minimums: dict[int, int], allowed: Sequence[Network]
) -> list[str]:
    """broad_paths' definition, every block compared with every other (quadratic)."""

    def inside(inner: Network, outer: Network) -> bool:
        return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]

    nets = [parse_cidr(block.cidr) for block in blocks]
    counted = [
        n is not None and minimums.get(n.version, 0) > 0 and not any(inside(n, a) for a in allowed)
        for n in nets
    ]
    over = {}
    for version, minimum in minimums.items():
        total = 0
        for i, n in enumerate(nets):
            if n is None or n.version != version or not counted[i]:
                continue
            if any(
                counted[j] and j != i and m is not None and inside(n, m)
                and (m.prefixlen < n.prefixlen or j < i)
                for j, m in enumerate(nets)
            ):  # fmt: skip
                continue
            whole = units(n.prefixlen, minimum=minimum, round_up=True)
            if whole is None:
                total += CAPPED_UNITS
                continue
            holes = [parse_cidr(text) for text in blocks[i].excepted]
            removed = 0
            for x, h in enumerate(holes):
                if h is None or not inside(h, n):
                    continue
                if any(
                    g is not None and inside(h, g) and (g.prefixlen < h.prefixlen or y < x)
                    for y, g in enumerate(holes)
                    if y != x
                ):
                    continue
                if any(
                    counted[j] and j != i and m is not None and (inside(h, m) or inside(m, h))
                    for j, m in enumerate(nets)
                ):
                    continue
                removed += units(h.prefixlen, minimum=minimum, round_up=False) or 0
            total += min(CAPPED_UNITS, max(0, whole - removed))
        over[version] = total > LIMIT_UNITS
    return [
        b.path
        for b, n, c in zip(blocks, nets, counted, strict=True)
        if n is None or (c and over.get(n.version, False))
    ]


@st.composite
def blocks(draw: st.DrawFn) -> Block:
    cidr = draw(st.sampled_from(POOL))
    network = parse_cidr(cidr)
    holes: list[str] = []
    if network is not None and network.prefixlen < network.max_prefixlen:
        longest = min(network.max_prefixlen, network.prefixlen + 4)
        inside = [
            str(sub) for length in range(network.prefixlen + 1, longest + 1)
            for sub in list(network.subnets(new_prefix=length))[:2]
        ]  # fmt: skip
        holes = draw(st.lists(st.sampled_from(inside), max_size=3))
    return Block(path=cidr, cidr=cidr, excepted=tuple(holes))


@settings(max_examples=100, deadline=None)
@given(
    found=st.lists(blocks(), max_size=8),
    four=st.sampled_from((0, 7, 8, 16)),
    six=st.sampled_from((0, 8, 32, 120)),
    allowed=st.lists(st.sampled_from(("10.0.0.0/8", "fd00::/8")), max_size=1),
)
def test_the_indexed_count_is_the_pairwise_count(
    found: list[Block], four: int, six: int, allowed: list[str]
) -> None:
    networks = [ipaddress.ip_network(text) for text in allowed]
    minimums = {4: four, 6: six}
    assert broad_paths(found, minimums=minimums, allowed=networks) == reference(
        found, minimums=minimums, allowed=networks
    )


def test_twenty_thousand_blocks_are_measured_quickly() -> None:
    many = [Block(path=str(n), cidr=f"10.{n // 256 % 256}.{n % 256}.0/24") for n in range(20_000)]
    assert broad_paths(many, minimums={4: 8, 6: 32}, allowed=()) == []
