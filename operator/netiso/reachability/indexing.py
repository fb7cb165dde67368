"""Every pod pair and every pod's external traffic at once, without visiting every pair.

Reachability layer, pure. Selectors are evaluated once per distinct (namespace, selector), each
rule's peers once per distinct rule, and a pod's allowed peers are kept as a sparse map, so the
work grows with the number of allowed pairs rather than with the square of the pod count. Only
pairs where neither side is isolated are dense, and they are produced lazily.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from netiso.model.selection import LabelSelector
from netiso.reachability.addresses import IPV4_SPACE, IpBlock
from netiso.reachability.evaluation import resolved_ports
from netiso.reachability.intervals import Intervals, merged
from netiso.reachability.policies import Rule
from netiso.reachability.portsets import PortSet
from netiso.reachability.snapshots import Snapshot
from netiso.reachability.workloads import NamedPort, Pod

# A rule as the engine indexes it: the namespace of its policy decides podSelector-only peers.
ScopedRule = tuple[str, Rule]
# External traffic of one pod in one direction: disjoint IPv4 ranges, grouped by what they admit.
External = tuple[tuple[Intervals, PortSet], ...]


@dataclass
class Matrix:
    """Who can reach whom: pods sorted by key, with sparse allow maps per isolated pod."""

    pods: tuple[Pod, ...]
    egress_isolated: list[bool]
    ingress_isolated: list[bool]
    egress: list[dict[int, PortSet]]
    ingress: list[dict[int, PortSet]]
    admitted_by: list[list[tuple[int, PortSet]]]
    egress_external: list[External]
    ingress_external: list[External]

    def allowed(self, source: int, destination: int) -> PortSet:
        """What `pods[source]` may send to `pods[destination]`."""
        if self.egress_isolated[source]:
            sent = self.egress[source].get(destination, PortSet.NONE)
        else:
            sent = PortSet.ALL
        if self.ingress_isolated[destination]:
            return sent.intersection(self.ingress[destination].get(source, PortSet.NONE))
        return sent

    def connections(self) -> Iterator[tuple[int, int, PortSet]]:
        """Every ordered pair of distinct pods with something allowed, by source, destination."""
        open_destinations = [j for j, isolated in enumerate(self.ingress_isolated) if not isolated]
        for i in range(len(self.pods)):
            if self.egress_isolated[i]:
                row = sorted(self.egress[i])
            else:
                # Not isolated for egress: every open destination, plus isolated ones that admit i.
                row = sorted({*open_destinations, *(j for j, _ in self.admitted_by[i])})
            for j in row:
                if j == i:
                    continue
                allowed = self.allowed(i, j)
                if not allowed.empty:
                    yield i, j, allowed


def compute_matrix(snapshot: Snapshot) -> Matrix:
    """The reachability matrix of a snapshot."""
    return _Indexer(snapshot).run()


class _Indexer:
    """Caches keyed by small integers: a rule is hashed once (its id), a pod's named ports
    once (its signature), so no cache lookup rehashes nested selectors."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.pods = tuple(sorted(snapshot.pods, key=lambda pod: pod.key))
        self.by_namespace: dict[str, list[int]] = defaultdict(list)
        for index, pod in enumerate(self.pods):
            if snapshot.selectable(pod):
                self.by_namespace[pod.namespace].append(index)
        # Pod addresses sorted per IP version, so an ipBlock finds its pods by bisection
        # instead of testing every address (100,000 policies x 3,000 pods took minutes).
        self._addresses: dict[int, tuple[list[int], list[int]]] = {}
        if snapshot.options.ip_blocks_match_pods:
            by_version: dict[int, list[tuple[int, int]]] = defaultdict(list)
            for index, pod in enumerate(self.pods):
                for address in pod.ips:
                    by_version[address.version].append((int(address), index))
            for version, entries in by_version.items():
                entries.sort()
                self._addresses[version] = (
                    [value for value, _ in entries],
                    [index for _, index in entries],
                )
        self._blocks: dict[IpBlock, frozenset[int]] = {}
        signatures: dict[tuple[NamedPort, ...], int] = {}
        self.signature = [
            signatures.setdefault(pod.named_ports, len(signatures)) for pod in self.pods
        ]
        self.rules: list[ScopedRule] = []
        self._rule_ids: dict[ScopedRule, int] = {}
        self._named: list[bool] = []
        # Ports and external answers do not depend on the rule's namespace: keyed by content.
        self._contents: dict[Rule, int] = {}
        self.content: list[int] = []
        self._selected: dict[tuple[str, LabelSelector | None], tuple[int, ...]] = {}
        self._namespaces: dict[LabelSelector, tuple[str, ...]] = {}
        self._peers: dict[int, tuple[int, ...] | None] = {}
        self._ports: dict[tuple[int, int], PortSet] = {}
        self._egress_maps: dict[tuple[int, ...], dict[int, PortSet]] = {}
        self._ingress_maps: dict[tuple[tuple[int, ...], int], dict[int, PortSet]] = {}
        self._external: dict[tuple[tuple[int, ...], int], External] = {}

    def rule_id(self, scoped: ScopedRule) -> int:
        """A small integer per distinct (namespace, rule)."""
        found = self._rule_ids.get(scoped)
        if found is None:
            found = self._rule_ids[scoped] = len(self.rules)
            self.rules.append(scoped)
            self._named.append(any(isinstance(entry.port, str) for entry in scoped[1].ports))
            self.content.append(self._contents.setdefault(scoped[1], len(self._contents)))
        return found

    def run(self) -> Matrix:
        count = len(self.pods)
        egress_rules: list[list[int]] = [[] for _ in range(count)]
        ingress_rules: list[list[int]] = [[] for _ in range(count)]
        egress_isolated = [False] * count
        ingress_isolated = [False] * count
        for policy in self.snapshot.policies:
            selected = self.select(policy.namespace, policy.pod_selector)
            if not selected:
                continue
            egress_ids = [self.rule_id((policy.namespace, rule)) for rule in policy.egress]
            ingress_ids = [self.rule_id((policy.namespace, rule)) for rule in policy.ingress]
            for index in selected:
                if policy.governs_egress:
                    egress_isolated[index] = True
                    egress_rules[index].extend(egress_ids)
                if policy.governs_ingress:
                    ingress_isolated[index] = True
                    ingress_rules[index].extend(ingress_ids)
        egress = [
            self.egress_map(tuple(egress_rules[i])) if egress_isolated[i] else {}
            for i in range(count)
        ]
        ingress = [
            self.ingress_map(j, tuple(ingress_rules[j])) if ingress_isolated[j] else {}
            for j in range(count)
        ]
        admitted_by: list[list[tuple[int, PortSet]]] = [[] for _ in range(count)]
        for j, sources in enumerate(ingress):
            for i, ports in sources.items():
                admitted_by[i].append((j, ports))
        egress_external = [
            self.external(tuple(egress_rules[i]), None) if egress_isolated[i] else _OPEN
            for i in range(count)
        ]
        ingress_external = [
            self.external(tuple(ingress_rules[j]), j) if ingress_isolated[j] else _OPEN
            for j in range(count)
        ]
        return Matrix(
            pods=self.pods,
            egress_isolated=egress_isolated,
            ingress_isolated=ingress_isolated,
            egress=egress,
            ingress=ingress,
            admitted_by=admitted_by,
            egress_external=egress_external,
            ingress_external=ingress_external,
        )

    def select(self, namespace: str, selector: LabelSelector | None) -> tuple[int, ...]:
        """Selectable pods of a namespace matching a pod selector (None: all of them)."""
        key = (namespace, selector)
        found = self._selected.get(key)
        if found is None:
            candidates = self.by_namespace.get(namespace, [])
            if selector is None or selector.selects_all:
                found = tuple(candidates)
            else:
                found = tuple(i for i in candidates if selector.matches(self.pods[i].labels))
            self._selected[key] = found
        return found

    def matching_namespaces(self, selector: LabelSelector) -> tuple[str, ...]:
        found = self._namespaces.get(selector)
        if found is None:
            found = tuple(
                name
                for name, namespace in self.snapshot.namespaces.items()
                if selector.matches(namespace.labels)
            )
            self._namespaces[selector] = found
        return found

    def peers(self, rule_id: int) -> tuple[int, ...] | None:
        """The pods a rule's peers match; None when the rule has no peers (every pod)."""
        if rule_id in self._peers:
            return self._peers[rule_id]
        namespace, rule = self.rules[rule_id]
        found: tuple[int, ...] | None = None
        if rule.peers:
            members: set[int] = set()
            for peer in rule.peers:
                if peer.ip_block is not None:
                    members.update(self.in_block(peer.ip_block))
                    continue
                names = (
                    (namespace,)
                    if peer.namespace_selector is None
                    else self.matching_namespaces(peer.namespace_selector)
                )
                for name in names:
                    members.update(self.select(name, peer.pod_selector))
            found = tuple(sorted(members))
        self._peers[rule_id] = found
        return found

    def in_block(self, block: IpBlock) -> frozenset[int]:
        """The pods with an address in the block (its CIDR minus its exceptions)."""
        found = self._blocks.get(block)
        if found is None:
            values, owners = self._addresses.get(block.cidr.version, ([], []))
            first = bisect.bisect_left(values, int(block.cidr.network_address))
            last = bisect.bisect_right(values, int(block.cidr.broadcast_address))
            excepted = [
                (int(network.network_address), int(network.broadcast_address))
                for network in block.excepted
            ]
            found = self._blocks[block] = frozenset(
                owners[position]
                for position in range(first, last)
                if not any(low <= values[position] <= high for low, high in excepted)
            )
        return found

    def ports(self, rule_id: int, destination: int | None) -> PortSet:
        """What a rule's ports admit towards a pod (None: an address outside the input)."""
        named = self._named[rule_id]
        signature = self.signature[destination] if named and destination is not None else -1
        key = (self.content[rule_id], signature)
        found = self._ports.get(key)
        if found is None:
            pod = self.pods[destination] if named and destination is not None else None
            found = self._ports[key] = resolved_ports(self.rules[rule_id][1].ports, pod)
        return found

    def egress_map(self, rule_ids: tuple[int, ...]) -> dict[int, PortSet]:
        """Destinations the rules admit (ports resolved on each destination), shared by pods
        with the same egress rules."""
        found = self._egress_maps.get(rule_ids)
        if found is not None:
            return found
        result: dict[int, PortSet] = {}
        for rule_id in rule_ids:
            members = self.peers(rule_id)
            targets: Sequence[int] = range(len(self.pods)) if members is None else members
            for j in targets:
                ports = self.ports(rule_id, j)
                if ports.empty:
                    continue
                previous = result.get(j)
                result[j] = ports if previous is None else previous.union(ports)
        self._egress_maps[rule_ids] = result
        return result

    def ingress_map(self, destination: int, rule_ids: tuple[int, ...]) -> dict[int, PortSet]:
        """Sources the rules admit, with the ports resolved on the destination."""
        key = (rule_ids, self.signature[destination])
        cached = self._ingress_maps.get(key)
        if cached is not None:
            return cached
        result: dict[int, PortSet] = {}
        for rule_id in rule_ids:
            ports = self.ports(rule_id, destination)
            if ports.empty:
                continue
            members = self.peers(rule_id)
            sources: Sequence[int] = range(len(self.pods)) if members is None else members
            for i in sources:
                previous = result.get(i)
                result[i] = ports if previous is None else previous.union(ports)
        self._ingress_maps[key] = result
        return result

    def external(self, rule_ids: tuple[int, ...], destination: int | None) -> External:
        """What the rules admit to or from IPv4 addresses outside the input.

        Selector peers never match such addresses; ipBlock peers and rules without peers do.
        For egress the destination is the address, so named ports admit nothing.
        """
        contents = tuple(self.content[rule_id] for rule_id in rule_ids)
        key = (contents, -1 if destination is None else self.signature[destination])
        found = self._external.get(key)
        if found is None:
            pieces: list[tuple[Intervals, PortSet]] = []
            for rule_id in rule_ids:
                rule = self.rules[rule_id][1]
                ports = self.ports(rule_id, destination)
                if ports.empty:
                    continue
                if not rule.peers:
                    pieces.append((IPV4_SPACE, ports))
                    continue
                ranges = merged(
                    interval
                    for peer in rule.peers
                    if peer.ip_block is not None
                    for interval in peer.ip_block.ipv4_ranges()
                )
                if ranges:
                    pieces.append((ranges, ports))
            found = self._external[key] = partition(pieces)
        return found


_OPEN: External = ((IPV4_SPACE, PortSet.ALL),)


def partition(pieces: Sequence[tuple[Intervals, PortSet]]) -> External:
    """Overlapping (ranges, ports) pieces as disjoint ranges, each with the union of its ports,
    grouped by the ports they admit (addresses in no piece are left out: denied)."""
    if not pieces:
        return ()
    points = sorted(
        {first for ranges, _ in pieces for first, _last in ranges}
        | {last + 1 for ranges, _ in pieces for _first, last in ranges}
    )
    grouped: dict[PortSet, list[tuple[int, int]]] = {}
    for start, stop in itertools.pairwise(points):
        allowed = PortSet.NONE
        for ranges, ports in pieces:
            position = bisect.bisect_right(ranges, (start, 2**129)) - 1
            if position >= 0 and ranges[position][0] <= start <= ranges[position][1]:
                allowed = allowed.union(ports)
        if not allowed.empty:
            grouped.setdefault(allowed, []).append((start, stop - 1))
    return tuple((merged(ranges), ports) for ports, ranges in grouped.items())
