"""The effective exposure of one namespace: who can reach it on which ports, where it can go.

Reachability layer, pure. Namespace-level (not per pod pair, to stay cheap): every rule of
every policy of the namespace, with the engine's semantics (selectors, ipBlock minus except,
port ranges), grouped by peer. Judged against the profile's guardrails across policies and
against the namespace inventory, it finds what no single policy shows: a selector that admits
every namespace that exists, ports that add up to a whole protocol, ipBlocks that add up to
more addresses than the profile allows. Those findings are isolation drift.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, overload

from netiso import conventions
from netiso.model.breadths import parse_cidr, selects_every_namespace
from netiso.model.guardrails import Rule, Violation, violation_message
from netiso.model.limits import Guardrails
from netiso.model.selection import LabelSelector
from netiso.reachability.accessors import ObjectError
from netiso.reachability.addresses import IpBlock
from netiso.reachability.containment import block_within, peer_within
from netiso.reachability.evaluation import resolved_ports
from netiso.reachability.intervals import Intervals, difference, merged
from netiso.reachability.matching import describe
from netiso.reachability.policies import EGRESS, INGRESS, Peer, parse_network_policy
from netiso.reachability.portsets import FULL_RANGE, PROTOCOLS, PortSet
from netiso.reachability.segments import Opened, whole_port_addresses

EVERYWHERE: Final = "everywhere"
EVERY_NAMESPACE: Final = "every namespace"
# A namespace name no label value can equal (names and values are at most 63 characters):
# the name of a namespace created tomorrow, which no In/NotIn list can anticipate.
NEW_NAMESPACE: Final = "n" * 64
_BITS: Final = {4: 32, 6: 128}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Selector peers are compared pairwise (ipBlocks through an index): past this many in one
# direction whose ports cover a protocol, the direction is reported whole (fail closed).
MAX_COMPARED_SELECTORS: Final = 250
# ipBlocks that overlap without one holding the other are cut into pieces (quadratic): past
# this many in a direction, only containment (through the index) adds their ports up.
MAX_SWEPT_BLOCKS: Final = 200
# The "path" of a finding about the sum of the policies: words, not a field.
EXPOSURE_PREFIX: Final = "exposure: "


@dataclass(frozen=True)
class Reach:
    """Traffic a namespace admits from one kind of peer (ingress) or sends to it (egress)."""

    direction: str
    peer: str
    ports: PortSet
    policies: tuple[str, ...] = ()

    def words(self) -> str:
        """`reachable from every namespace on TCP 5432`, `reaches 8.8.8.8/32 on every port`."""
        verb = "reachable from" if self.direction == INGRESS else "reaches"
        return f"{verb} {self.peer} {_on_ports(self.ports)}"


@dataclass(frozen=True)
class Exposure:
    """A namespace's effective exposure, and what of it no guardrail permits."""

    reaches: tuple[Reach, ...] = ()
    findings: tuple[Violation, ...] = field(default=())

    def words(self) -> tuple[str, ...]:
        """One sentence per peer, ingress first."""
        return tuple(reach.words() for reach in self.reaches)


@dataclass(frozen=True)
class _Peered:
    """One peer of one rule of one policy, with the rule's ports."""

    policy: str
    direction: str
    path: str
    peer: Peer | None
    ports: PortSet


def exposure_of(
    *,
    namespace: str,
    policies: Iterable[Mapping[str, Any] | str],
    judged: Iterable[Mapping[str, Any] | str],
    guardrails: Guardrails,
    inventory: Callable[[], Iterable[Mapping[str, str]]],
    describe: bool = True,
) -> Exposure:
    """The exposure `policies` (all of the namespace's, netiso's included) give `namespace`,
    and the findings about `judged` (the namespace owners' policies without an exception).
    A policy is a body or its JSON document (parsed once per document, then remembered).

    `inventory()` gives the labels of the namespaces known to exist (read only when a selector
    admits a new unlabelled namespace, which counts too). Findings repeat nothing a single
    policy's guardrails already report: they are what only the sum of the policies, or the
    inventory, shows. Without `describe` only the findings are computed (the operator's
    reconcile needs no words; `netiso status` does).
    """
    known = _Known(inventory)
    reaches: tuple[Reach, ...] = ()
    if describe:
        everything = _peered(policies, namespace=namespace, known=known)
        reaches = _reaches(everything, namespace=namespace, known=known)
    owned = _peered(judged, namespace=namespace, known=known)
    findings = [
        *_every_namespace_findings(owned, namespace=namespace, known=known, guardrails=guardrails),
        *_port_findings(owned, namespace=namespace, known=known, guardrails=guardrails),
        *_address_findings(owned, guardrails=guardrails),
    ]
    return Exposure(
        reaches=reaches,
        findings=tuple(replace(finding, namespace=namespace) for finding in findings),
    )


class _Known(Sequence[Mapping[str, str]]):
    """The inventory, a new unlabelled namespace first: most selectors fail on that one, so
    the inventory is read only for the few that admit a namespace nobody labelled."""

    def __init__(self, inventory: Callable[[], Iterable[Mapping[str, str]]]) -> None:
        self._read = inventory
        self._labels: list[Mapping[str, str]] | None = None

    def _all(self) -> list[Mapping[str, str]]:
        if self._labels is None:
            new = {conventions.NAMESPACE_NAME_LABEL: NEW_NAMESPACE}
            self._labels = [new, *self._read()]
        return self._labels

    def __iter__(self) -> Iterator[Mapping[str, str]]:
        yield {conventions.NAMESPACE_NAME_LABEL: NEW_NAMESPACE}
        yield from self._all()[1:]

    def __len__(self) -> int:
        return len(self._all())

    @overload
    def __getitem__(self, index: int) -> Mapping[str, str]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Mapping[str, str]]: ...
    def __getitem__(self, index: int | slice) -> Mapping[str, str] | Sequence[Mapping[str, str]]:
        return self._all()[index]


def _peered(
    bodies: Iterable[Mapping[str, Any] | str], *, namespace: str, known: Sequence[Mapping[str, str]]
) -> list[_Peered]:
    found: list[_Peered] = []
    for body in bodies:
        found.extend(_peered_document(body) if isinstance(body, str) else _peered_body(body))
    return found


@functools.lru_cache(maxsize=4096)
def _peered_document(document: str) -> tuple[_Peered, ...]:
    """The peers of a policy given as JSON (ForeignPolicy.document): many namespaces hold the
    same policy, and a namespace is reconciled again and again with the same ones."""
    body = json.loads(document)
    return _peered_body(body) if isinstance(body, Mapping) else ()


def _peered_body(body: Mapping[str, Any]) -> tuple[_Peered, ...]:
    try:
        policy = parse_network_policy(body)
    except ObjectError:
        # The API server stores no such policy; nothing to add up.
        return ()
    found: list[_Peered] = []
    for direction, key, peers_key in ((INGRESS, "ingress", "from"), (EGRESS, "egress", "to")):
        for index, rule in enumerate(policy.rules(direction)):
            ports = resolved_ports(rule.ports, None)
            path = f"spec.{key}[{index}]"
            if not rule.peers:
                whole = f"{path}.{peers_key}"
                found.append(_Peered(policy.name, direction, whole, None, ports))
            for position, peer in enumerate(rule.peers):
                found.append(
                    _Peered(policy.name, direction, f"{path}.{peers_key}[{position}]", peer, ports)
                )
    return tuple(found)


def inventory_keys(policies: Iterable[Mapping[str, Any] | str]) -> frozenset[str]:
    """The namespace label keys the findings about `policies` depend on.

    Only namespaceSelectors of which one admits a new unlabelled namespace (without admitting
    every namespace whatever its labels) may start or stop admitting every namespace, alone
    or together, when some namespace's labels change; and only a change under one of their
    keys can tell. Any other label change, of any namespace, leaves the findings as they are.
    """
    new = {conventions.NAMESPACE_NAME_LABEL: NEW_NAMESPACE}
    selectors = [
        selector
        for item in _peered(policies, namespace="", known=())
        if item.peer is not None
        and (selector := item.peer.namespace_selector) is not None
        and not selects_every_namespace(selector.to_kubernetes())
    ]
    if not any(selector.matches(new) for selector in selectors):
        return frozenset()
    # Several selectors may admit every namespace only together: each one's keys count.
    keys: set[str] = set()
    for selector in selectors:
        keys.update(key for key, _ in selector.match_labels)
        keys.update(requirement.key for requirement in selector.match_expressions)
    return frozenset(keys)


def admits_every_namespace(
    selector: LabelSelector, *, namespace: str = "", known: Sequence[Mapping[str, str]]
) -> bool:
    """Whether a namespaceSelector matches every known namespace and a new unlabelled one,
    `namespace` (the policy's own) aside: leaving out only itself (`NotIn [<own name>]`)
    still admits every other namespace."""
    return all(selector.matches(labels) for labels in _others(known, namespace=namespace))


def _others(known: Sequence[Mapping[str, str]], *, namespace: str) -> Iterator[Mapping[str, str]]:
    return (
        labels
        for labels in known
        if not namespace or labels.get(conventions.NAMESPACE_NAME_LABEL) != namespace
    )


def _peer_name(peer: Peer | None, *, namespace: str, known: Sequence[Mapping[str, str]]) -> str:
    if peer is None:
        return EVERYWHERE
    if peer.ip_block is not None:
        return _block_words(peer.ip_block.cidr, peer.ip_block.excepted)
    pods = peer.pod_selector
    some_pods = pods is not None and not pods.selects_all
    if peer.namespace_selector is None:
        where = f"namespace {namespace}"
    elif admits_every_namespace(peer.namespace_selector, namespace=namespace, known=known):
        where = EVERY_NAMESPACE
    else:
        where = f"namespaces matching {describe(peer.namespace_selector)}"
    return f"pods matching {describe(pods)} in {where}" if some_pods and pods else where


def _reaches(
    peered: Sequence[_Peered], *, namespace: str, known: Sequence[Mapping[str, str]]
) -> tuple[Reach, ...]:
    grouped: dict[tuple[str, str], tuple[PortSet, set[str]]] = {}
    for item in peered:
        name = _peer_name(item.peer, namespace=namespace, known=known)
        ports, names = grouped.get((item.direction, name), (PortSet.NONE, set()))
        grouped[(item.direction, name)] = (ports.union(item.ports), names | {item.policy})
    order = {INGRESS: 0, EGRESS: 1}
    return tuple(
        Reach(direction, name, ports, tuple(sorted(names)))
        for (direction, name), (ports, names) in sorted(
            grouped.items(), key=lambda entry: (order[entry[0][0]], entry[0][1])
        )
        if not ports.empty
    )


def _every_namespace_findings(
    peered: Sequence[_Peered],
    *,
    namespace: str,
    known: Sequence[Mapping[str, str]],
    guardrails: Guardrails,
) -> list[Violation]:
    """Selectors that admit every namespace that exists, where no label pattern shows it."""
    if guardrails.allow_all_namespaces:
        return []
    found = []
    alone: set[str] = set()
    for item in peered:
        selector = item.peer.namespace_selector if item.peer is not None else None
        if selector is None:
            continue
        if selects_every_namespace(selector.to_kubernetes()):
            alone.add(item.direction)
            continue
        if admits_every_namespace(selector, namespace=namespace, known=known):
            alone.add(item.direction)
            path = f"{item.path}.namespaceSelector"
            found.append(_finding(Rule.ALL_NAMESPACES, path=path, policy=item.policy))
    for direction in (INGRESS, EGRESS):
        if direction not in alone:
            found.extend(
                _every_namespace_together(
                    peered, direction=direction, namespace=namespace, known=known
                )
            )
    return found


def _every_namespace_together(
    peered: Sequence[_Peered],
    *,
    direction: str,
    namespace: str,
    known: Sequence[Mapping[str, str]],
) -> list[Violation]:
    """Namespace selectors of one direction that, none alone, together admit every namespace
    that exists and a new unlabelled one (`team=b` beside `team` DoesNotExist, `In [b]`
    beside `NotIn [b]`), in one rule or spread over rules and policies."""
    items = [
        (item, item.peer.namespace_selector)
        for item in peered
        if item.direction == direction
        and item.peer is not None
        and item.peer.namespace_selector is not None
    ]
    selectors = [selector for _, selector in items]
    # The new namespace comes first: the inventory is read only if some selector admits it.
    if len(items) < 2 or not all(
        any(selector.matches(labels) for selector in selectors)
        for labels in _others(known, namespace=namespace)
    ):
        return []
    policies = sorted({item.policy for item, _ in items})
    verb = "reachable from" if direction == INGRESS else "reaching"
    words = f"{EXPOSURE_PREFIX}{verb} {EVERY_NAMESPACE} through the namespaceSelectors of " + (
        ", ".join(policies)
    )
    return [_finding(Rule.ALL_NAMESPACES, path=words, policy=policy) for policy in policies]


def _port_findings(
    peered: Sequence[_Peered],
    *,
    namespace: str,
    known: Sequence[Mapping[str, str]],
    guardrails: Guardrails,
) -> list[Violation]:
    """Peers reached on every port of a protocol only by several rules together."""
    if guardrails.allow_rules_without_ports:
        return []
    groups: dict[tuple[str, str], list[_Peered]] = {}
    for item in peered:
        name = _peer_name(item.peer, namespace=namespace, known=known)
        groups.setdefault((item.direction, name), []).append(item)
    # A peer is also reached through the rules of every peer that admits all it admits.
    wider: dict[tuple[str, str], list[tuple[str, str]]] = {}
    found = []
    for direction in (INGRESS, EGRESS):
        compared = _wider_peers(groups, direction=direction, namespace=namespace)
        if compared is None:
            found.extend(_too_many_peers(groups, direction=direction))
        else:
            wider.update(compared)
    reported: list[_Peered] = []
    for key, own in sorted(groups.items()):
        if any(other < key and key in wider.get(other, ()) for other in wider.get(key, ())):
            continue  # the same peer spelled twice: said once, under the first spelling
        items = [*own, *(item for other in wider.get(key, ()) for item in groups[other])]
        union = PortSet.NONE
        for item in items:
            union = union.union(item.ports)
        whole = [p for p in PROTOCOLS if union.ranges(p) == FULL_RANGE]
        alone = {p for item in items for p in PROTOCOLS if item.ports.ranges(p) == FULL_RANGE}
        if not whole or set(whole) <= alone:
            continue
        words = Reach(key[0], key[1], union).words()
        reported.append(own[0])
        for policy in sorted({item.policy for item in items}):
            found.append(_finding(Rule.NO_PORTS, path=f"{EXPOSURE_PREFIX}{words}", policy=policy))
    for direction in (INGRESS, EGRESS):
        found.extend(_overlap_findings(groups, direction=direction, reported=reported))
    return found


def _overlap_findings(
    groups: Mapping[tuple[str, str], Sequence[_Peered]],
    *,
    direction: str,
    reported: Sequence[_Peered],
) -> list[Violation]:
    """Addresses reached on every port only where ipBlocks overlap without one holding the
    other (containment cannot tell), and not said already; skipped past MAX_SWEPT_BLOCKS."""
    opened = []
    for (found_direction, _), items in groups.items():
        peer = items[0].peer
        if found_direction != direction or peer is None or peer.ip_block is None:
            continue
        union = PortSet.NONE
        for item in items:
            union = union.union(item.ports)
        opened.append(Opened(peer.ip_block, union, frozenset(item.policy for item in items)))
    total = PortSet.NONE
    for one in opened:
        total = total.union(one.ports)
    if len(opened) > MAX_SWEPT_BLOCKS or not any(total.ranges(p) == FULL_RANGE for p in PROTOCOLS):
        return []
    said = [item.peer.ip_block for item in reported if item.peer and item.peer.ip_block]
    findings = []
    for whole in whole_port_addresses(opened):
        if all(
            any(block_within(IpBlock(network), block) for block in said if block)
            for network in whole.networks
        ):
            continue
        shown = ", ".join(str(network) for network in whole.networks[:3])
        if len(whole.networks) > 3:
            shown += f" (and {len(whole.networks) - 3} more)"
        ports = PortSet.NONE
        for protocol in whole.protocols:
            ports = ports.union(PortSet.of(protocol, FULL_RANGE))
        words = Reach(direction, shown, ports).words()
        for policy in sorted(whole.policies):
            findings.append(
                _finding(Rule.NO_PORTS, path=f"{EXPOSURE_PREFIX}{words}", policy=policy)
            )
    return findings


def _too_many_peers(
    groups: Mapping[tuple[str, str], Sequence[_Peered]], *, direction: str
) -> list[Violation]:
    """Fail closed: a direction with more selector peers than can be compared pairwise,
    whose ports together cover a protocol, is reported as reached on every port."""
    mine = {key: found for key, found in groups.items() if key[0] == direction}
    items = [item for found in mine.values() for item in found]
    union = PortSet.NONE
    for item in items:
        union = union.union(item.ports)
    verb = "reachable from" if direction == INGRESS else "reaching"
    words = (
        f"{EXPOSURE_PREFIX}{verb} {len(mine)} peers {_on_ports(union)}: more than "
        f"{MAX_COMPARED_SELECTORS:,} selectors, too many to tell which peer gets which ports"
    )
    return [
        _finding(Rule.NO_PORTS, path=words, policy=policy)
        for policy in sorted({item.policy for item in items})
    ]


def _wider_peers(
    groups: Mapping[tuple[str, str], Sequence[_Peered]], *, direction: str, namespace: str
) -> dict[tuple[str, str], list[tuple[str, str]]] | None:
    """For each peer of a direction, the other peers that admit all it admits; compared only
    when the direction's ports together cover a whole protocol (else no peer can be reached
    on every port, and the pairs are not worth comparing). None when there are more selector
    peers than MAX_COMPARED_SELECTORS (the comparison is quadratic in them)."""
    mine = {key: items for key, items in groups.items() if key[0] == direction}
    union = PortSet.NONE
    for items in mine.values():
        for item in items:
            union = union.union(item.ports)
    if not any(union.ranges(p) == FULL_RANGE for p in PROTOCOLS):
        return {}
    # ipBlocks (a policy may hold 20,000) are compared only with the blocks holding their CIDR.
    blocks: dict[Network, list[tuple[str, str]]] = {}
    others: list[tuple[str, str]] = []
    for key, items in mine.items():
        peer = items[0].peer
        if peer is not None and peer.ip_block is not None:
            blocks.setdefault(peer.ip_block.cidr, []).append(key)
        else:
            others.append(key)
    if len(others) > MAX_COMPARED_SELECTORS:
        return None
    lengths = sorted({network.prefixlen for network in blocks})
    wider: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key, items in mine.items():
        peer = items[0].peer
        if peer is not None and peer.ip_block is not None:
            cidr = peer.ip_block.cidr
            candidates = [
                *(
                    found
                    for length in lengths
                    if length <= cidr.prefixlen
                    for found in blocks.get(cidr.supernet(new_prefix=length), ())
                ),
                *(other for other in others if mine[other][0].peer is None),
            ]
        else:
            candidates = others
        for other in candidates:
            if other != key and peer_within(peer, mine[other][0].peer, namespace=namespace):
                wider.setdefault(key, []).append(other)
    return wider


def _address_findings(peered: Sequence[_Peered], *, guardrails: Guardrails) -> list[Violation]:
    """Directions whose ipBlocks, over all the policies, open more addresses than the
    profile's limit (addresses inside allowed CIDRs do not count)."""
    minimums = {4: guardrails.min_prefix_ipv4, 6: guardrails.min_prefix_ipv6}
    allowed: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
    for text in guardrails.allowed_cidrs:
        network = parse_cidr(text)
        if network is not None:
            allowed[network.version].append(_span(network))
    found: list[Violation] = []
    if len({item.policy for item in peered if item.peer and item.peer.ip_block}) < 2:
        # One policy alone is measured by its own guardrails (an upper bound of this).
        return found
    for direction in (INGRESS, EGRESS):
        for version, minimum in minimums.items():
            if minimum <= 0:
                continue
            spans: list[tuple[int, int]] = []
            policies: set[str] = set()
            for item in peered:
                if item.direction != direction or item.peer is None:
                    continue
                block = item.peer.ip_block
                if block is None:
                    continue
                ranges = _block_ranges(block.cidr, block.excepted, version=version)
                if ranges:
                    spans.extend(ranges)
                    policies.add(item.policy)
            opened = difference(merged(spans), merged(allowed[version]))
            count = sum(last - first + 1 for first, last in opened)
            if count <= 2 ** (_BITS[version] - minimum) or len(policies) < 2:
                # One policy alone is measured by its own guardrails (an upper bound of this).
                continue
            verb = "reachable from" if direction == INGRESS else "reaching"
            words = (
                f"{EXPOSURE_PREFIX}{verb} {count:,} IPv{version} addresses through the ipBlocks of "
                f"{', '.join(sorted(policies))}"
            )
            for policy in sorted(policies):
                found.append(_finding(Rule.BROAD_CIDR, path=words, policy=policy))
    return found


def _block_ranges(
    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network,
    excepted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
    *,
    version: int,
) -> Intervals:
    """The addresses of an ipBlock in one family; IPv4-mapped IPv6 counts as IPv4."""
    base = _as_family(cidr)
    if base is None or base[0] != version:
        return ()
    holes = [hole for hole in map(_as_family, excepted) if hole is not None and hole[0] == version]
    return difference((base[1],), merged(hole[1] for hole in holes))


def _as_family(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> tuple[int, tuple[int, int]] | None:
    if isinstance(network, ipaddress.IPv6Network):
        mapped = network.network_address.ipv4_mapped
        if mapped is not None and network.prefixlen >= 96:
            first = int(mapped)
            return 4, (first, first + network.num_addresses - 1)
    return network.version, _span(network)


def _span(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int]:
    return int(network.network_address), int(network.broadcast_address)


def _block_words(
    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network,
    excepted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> str:
    if not excepted:
        return str(cidr)
    return f"{cidr} except {', '.join(str(network) for network in excepted)}"


def _on_ports(ports: PortSet) -> str:
    if ports.everything:
        return "on every port of every protocol"
    parts = []
    for protocol in PROTOCOLS:
        ranges = ports.ranges(protocol)
        if ranges == FULL_RANGE:
            parts.append(f"every {protocol} port")
        elif ranges:
            shown = ", ".join(
                str(first) if first == last else f"{first}-{last}" for first, last in ranges
            )
            parts.append(f"{protocol} {shown}")
    return "on " + "; ".join(parts) if parts else "on no port"


def _finding(rule: Rule, *, path: str, policy: str) -> Violation:
    return Violation(
        rule=rule, path=path, message=violation_message(rule, path), namespace="", policy=policy
    )
