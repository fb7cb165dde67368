"""Whether one NetworkPolicy peer admits no more than another, decided from the spelling alone.

Reachability layer, pure. A peer reached on some ports by one rule and on the others by a
rule for a wider peer (`team=b` and `team Exists`, `10.0.0.0/9` and `10.0.0.0/8`, or the
same peer spelled twice: matchLabels and `In`) is reached on all of them. The test is
sufficient, not complete: every requirement of the wider selector must follow from one
requirement of the narrower (so it needs no namespace inventory and no relabel can change it).
"""

from __future__ import annotations

import functools

from netiso import conventions
from netiso.model.selection import LabelSelector, SelectorOperator, SelectorRequirement
from netiso.reachability.addresses import IpBlock
from netiso.reachability.policies import Peer

_NAME = conventions.NAMESPACE_NAME_LABEL


def peer_within(inner: Peer | None, outer: Peer | None, *, namespace: str) -> bool:
    """Whether every source or destination `inner` admits, `outer` admits too (None is a rule
    without peers: everywhere). `namespace` is the policy's own (a peer without a
    namespaceSelector is in it)."""
    if outer is None:
        return True
    if inner is None:
        return False
    if inner.ip_block is not None or outer.ip_block is not None:
        return (
            inner.ip_block is not None
            and outer.ip_block is not None
            and block_within(inner.ip_block, outer.ip_block)
        )
    return _namespaces_within(
        inner.namespace_selector, outer.namespace_selector, namespace=namespace
    ) and selector_within(
        inner.pod_selector or LabelSelector(), outer.pod_selector or LabelSelector()
    )


def block_within(inner: IpBlock, outer: IpBlock) -> bool:
    """Whether the addresses of `inner` (its CIDR less its exceptions) are all in `outer`'s:
    its CIDR inside outer's, and every outer exception it overlaps inside one of its own."""
    if inner.cidr.version != outer.cidr.version:
        return False
    if not inner.cidr.subnet_of(outer.cidr):  # type: ignore[arg-type]
        return False
    return all(
        not hole.overlaps(inner.cidr)
        or any(
            own.version == hole.version and hole.subnet_of(own)  # type: ignore[arg-type]
            for own in inner.excepted
        )
        for hole in outer.excepted
    )


def selector_within(inner: LabelSelector, outer: LabelSelector) -> bool:
    """Whether every label set `inner` matches, `outer` matches: each requirement of outer
    follows from a requirement of inner."""
    inner_requirements = _requirements(inner)
    return all(
        any(_implies(given, wanted) for given in inner_requirements)
        for wanted in _requirements(outer)
    )


def _namespaces_within(
    inner: LabelSelector | None, outer: LabelSelector | None, *, namespace: str
) -> bool:
    own = SelectorRequirement(_NAME, SelectorOperator.IN, (namespace,))
    if inner is None and outer is None:
        return True
    if outer is None:
        # Inside the policy's namespace only if inner names it alone.
        assert inner is not None
        return any(_implies(given, own) for given in _requirements(inner))
    if inner is None:
        # The policy's namespace is inside outer if outer asks only about its name.
        return all(_implies(own, wanted) for wanted in _requirements(outer))
    return selector_within(inner, outer)


@functools.lru_cache(maxsize=4096)
def _requirements(selector: LabelSelector) -> tuple[SelectorRequirement, ...]:
    return (
        *(
            SelectorRequirement(key, SelectorOperator.IN, (value,))
            for key, value in selector.match_labels
        ),
        *selector.match_expressions,
    )


def _implies(given: SelectorRequirement, wanted: SelectorRequirement) -> bool:
    """Whether every label set meeting `given` meets `wanted`."""
    if given.key != wanted.key:
        return False
    values, needed = set(given.values), set(wanted.values)
    match wanted.operator, given.operator:
        case SelectorOperator.IN, SelectorOperator.IN:
            return values <= needed
        case SelectorOperator.EXISTS, SelectorOperator.IN | SelectorOperator.EXISTS:
            return True
        case SelectorOperator.NOT_IN, SelectorOperator.IN:
            return not values & needed
        case SelectorOperator.NOT_IN, SelectorOperator.NOT_IN:
            return needed <= values
        case SelectorOperator.NOT_IN | SelectorOperator.DOES_NOT_EXIST, (
            SelectorOperator.DOES_NOT_EXIST
        ):
            return True
    return False
