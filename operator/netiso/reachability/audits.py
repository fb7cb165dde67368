"""An exposure audit from the matrix: per workload, which other namespaces and outside ranges
can reach it on which ports, whether it reaches the internet or the cloud metadata address,
and the lateral paths an attacker who holds one workload can take.

Reachability layer, pure. Pod-level and exact (the matrix's answers), unlike the rule-level
`exposures.exposure_of` that the operator reports per namespace: the audit says which pods of
which namespaces, after every policy of both sides is applied.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from netiso.reachability.destinations import (
    METADATA_PORT,
    METADATA_V4,
    METADATA_V6,
    internet_part,
    metadata_ports,
    reaches_internet,
)
from netiso.reachability.evaluation import evaluate
from netiso.reachability.indexing import Matrix
from netiso.reachability.intervals import Intervals
from netiso.reachability.portsets import PortSet
from netiso.reachability.snapshots import Snapshot


@dataclass(frozen=True)
class FromNamespace:
    """Pods of another namespace that may connect to a workload, and on what (the union)."""

    namespace: str
    pods: tuple[str, ...]
    allowed: PortSet


@dataclass(frozen=True)
class FromOutside:
    """Outside IPv4 ranges that may connect to a workload; `internet` when some are public."""

    ranges: Intervals
    allowed: PortSet
    internet: bool


@dataclass(frozen=True)
class WorkloadExposure:
    """One pod (or workload's representative pod) and what can reach it and what it reaches."""

    pod: str
    ingress_isolated: bool
    egress_isolated: bool
    from_namespaces: tuple[FromNamespace, ...]
    from_outside: tuple[FromOutside, ...]
    internet: PortSet
    metadata_v4: PortSet
    metadata_v6: bool


@dataclass(frozen=True)
class Hop:
    """A pod reachable from the start in `hops` connections, through `via` (start first)."""

    pod: str
    hops: int
    via: tuple[str, ...]
    allowed: PortSet


@dataclass
class Audit:
    """Every shown namespace's workloads, and the lateral paths when asked for."""

    namespaces: dict[str, list[WorkloadExposure]] = field(default_factory=dict)
    lateral: list[Hop] | None = None
    start: tuple[str, ...] = ()


def audit(matrix: Matrix, snapshot: Snapshot, *, shown: Iterable[int]) -> Audit:
    """The exposure of the pods `shown` (indices into matrix.pods), by namespace."""
    chosen = sorted(set(shown))
    wanted = set(chosen)
    sources: dict[int, dict[str, list[tuple[str, PortSet]]]] = {i: {} for i in chosen}
    for i, j, ports in matrix.connections():
        if j not in wanted:
            continue
        source = matrix.pods[i]
        if source.namespace == matrix.pods[j].namespace:
            continue
        sources[j].setdefault(source.namespace, []).append((source.key, ports))
    result = Audit()
    for j in chosen:
        pod = matrix.pods[j]
        from_namespaces = []
        for namespace, entries in sorted(sources[j].items()):
            allowed = PortSet.NONE
            for _, ports in entries:
                allowed = allowed.union(ports)
            from_namespaces.append(
                FromNamespace(namespace, tuple(sorted(key for key, _ in entries)), allowed)
            )
        from_outside = tuple(
            FromOutside(ranges, ports, internet=bool(internet_part(ranges)))
            for ranges, ports in matrix.ingress_external[j]
        )
        egress = matrix.egress_external[j]
        v6 = evaluate(
            snapshot, source=pod, destination=METADATA_V6, protocol="TCP", port=METADATA_PORT
        )
        result.namespaces.setdefault(pod.namespace, []).append(
            WorkloadExposure(
                pod=pod.key,
                ingress_isolated=matrix.ingress_isolated[j],
                egress_isolated=matrix.egress_isolated[j],
                from_namespaces=tuple(from_namespaces),
                from_outside=from_outside,
                internet=reaches_internet(egress),
                metadata_v4=metadata_ports(egress),
                metadata_v6=v6.allowed,
            )
        )
    return result


def lateral_paths(matrix: Matrix, start: Sequence[int], *, max_hops: int) -> list[Hop]:
    """Every pod reachable from the `start` pods in at most `max_hops` connections (breadth
    first: each with its shortest path), by hops then key. `allowed` is the last hop's ports."""
    edges: dict[int, list[tuple[int, PortSet]]] = {}
    for i, j, ports in matrix.connections():
        edges.setdefault(i, []).append((j, ports))
    seen = set(start)
    paths: dict[int, tuple[int, ...]] = {i: (i,) for i in start}
    queue = deque((i, 0) for i in start)
    found: list[Hop] = []
    while queue:
        current, depth = queue.popleft()
        if depth >= max_hops:
            continue
        for target, ports in edges.get(current, ()):
            if target in seen:
                continue
            seen.add(target)
            paths[target] = (*paths[current], target)
            found.append(
                Hop(
                    matrix.pods[target].key,
                    depth + 1,
                    tuple(matrix.pods[k].key for k in paths[current]),
                    ports,
                )
            )
            queue.append((target, depth + 1))
    return sorted(found, key=lambda hop: (hop.hops, hop.pod))


METADATA_ADDRESS_V4 = str(METADATA_V4)
METADATA_ADDRESS_V6 = str(METADATA_V6)
