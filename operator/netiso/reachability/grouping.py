"""Pods that behave identically, grouped, so a large matrix reads as a short table.

Reachability layer, pure. Two pods share a group only when every answer involving them is the
same: to and from every other pod, to and from external addresses, and between themselves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from netiso.reachability.indexing import External, Matrix
from netiso.reachability.portsets import PortSet


@dataclass(frozen=True)
class Grouping:
    """Groups of pod indexes (sorted by their first pod), and the answers between groups.

    `between[(a, b)]` is what a pod of group a may send to a pod of group b (a != b, or a == b
    for two different pods of one group); pairs left out are denied.
    """

    groups: tuple[tuple[int, ...], ...]
    between: dict[tuple[int, int], PortSet]
    egress_external: tuple[External, ...]
    ingress_external: tuple[External, ...]


def group_pods(matrix: Matrix, shown: Sequence[int]) -> Grouping:
    """Group the pods `shown` (indexes into matrix.pods), looking at answers among them only."""
    visible = set(shown)
    rows: dict[int, dict[int, PortSet]] = defaultdict(dict)
    columns: dict[int, dict[int, PortSet]] = defaultdict(dict)
    for i, j, allowed in matrix.connections():
        if i in visible and j in visible:
            rows[i][j] = allowed
            columns[j][i] = allowed
    # Pods the engine cannot tell apart (same namespace, labels, named ports, host network,
    # no IP) behave identically by construction, also towards each other.
    twins: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for index in shown:
        pod = matrix.pods[index]
        key = (
            pod.namespace,
            tuple(sorted(pod.labels.items())),
            pod.named_ports,
            pod.host_network,
            pod.ips or index,
        )
        twins[key].append(index)
    by_signature: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for members in twins.values():
        first = members[0]
        inside = set(members)
        intra = rows[first].get(members[1]) if len(members) > 1 else None
        signature = (
            frozenset((j, p) for j, p in rows[first].items() if j not in inside),
            frozenset((i, p) for i, p in columns[first].items() if i not in inside),
            matrix.egress_external[first],
            matrix.ingress_external[first],
        )
        if intra is not None and not intra.empty:
            # Twins that talk to each other cannot merge with others (they are denied across).
            by_signature[(*signature, tuple(members))].extend(members)
        else:
            by_signature[signature].extend(members)
    groups = sorted(
        (
            tuple(sorted(members, key=lambda i: matrix.pods[i].key))
            for members in by_signature.values()
        ),
        key=lambda members: matrix.pods[members[0]].key,
    )
    group_of = {member: number for number, members in enumerate(groups) for member in members}
    between: dict[tuple[int, int], PortSet] = {}
    for number, group in enumerate(groups):
        first = group[0]
        for j, allowed in rows[first].items():
            target = group_of[j]
            if target != number or j != first:
                between[(number, target)] = allowed
    return Grouping(
        groups=tuple(groups),
        between=between,
        egress_external=tuple(matrix.egress_external[group[0]] for group in groups),
        ingress_external=tuple(matrix.ingress_external[group[0]] for group in groups),
    )


def alike_namespaces(matrix: Matrix, shown: Sequence[int]) -> list[tuple[str, ...]]:
    """Namespaces that behave alike, in sets of two or more, each sorted by name.

    Alike: the same pod names, and each pod's answers the same once its own namespace's name
    is taken out: towards pods of its own namespace (by name), towards every other pod (the
    same pods), and towards outside addresses. Such namespaces are denied to each other (a
    link between them would make their answers name different pods), so one of them stands for
    all: every answer of the others is the same answer with the namespace renamed.
    """
    visible = set(shown)
    rows: dict[int, set[tuple[object, PortSet]]] = defaultdict(set)
    columns: dict[int, set[tuple[object, PortSet]]] = defaultdict(set)
    pods = matrix.pods

    def relative(index: int, home: str) -> object:
        pod = pods[index]
        return ("own", pod.name, pod.kind) if pod.namespace == home else index

    for i, j, allowed in matrix.connections():
        if i in visible and j in visible:
            rows[i].add((relative(j, pods[i].namespace), allowed))
            columns[j].add((relative(i, pods[j].namespace), allowed))
    members: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for index in shown:
        pod = pods[index]
        members[pod.namespace].append(
            (
                pod.name,
                pod.kind,
                frozenset(rows[index]),
                frozenset(columns[index]),
                matrix.egress_external[index],
                matrix.ingress_external[index],
            )
        )
    by_signature: dict[frozenset[tuple[object, ...]], list[str]] = defaultdict(list)
    for namespace, entries in members.items():
        by_signature[frozenset(entries)].append(namespace)
    return sorted(tuple(sorted(names)) for names in by_signature.values() if len(names) > 1)
