"""What changed between two matrices: the connections between pods and to and from outside
addresses that one allows and the other does not (or on other ports).

Reachability layer, pure. Pods are matched by key, so the two matrices may hold different
pods (a pull request adds a workload): a pod in only one of them has all its connections
added or removed. `matrix --profile` uses it to show every namespace a profile changes;
`diff-reach` to list the connections a change of manifests opens and closes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from netiso.reachability.indexing import External, Matrix
from netiso.reachability.portsets import PortSet


@dataclass(frozen=True)
class PairChange:
    """A connection between two pods (by key) whose allowed traffic differs."""

    source: str
    destination: str
    before: PortSet
    after: PortSet

    @property
    def added(self) -> bool:
        return self.before.empty

    @property
    def removed(self) -> bool:
        return self.after.empty


@dataclass(frozen=True)
class ExternalChange:
    """A pod's traffic to (`egress`) or from outside addresses that differs."""

    pod: str
    egress: bool
    before: External
    after: External


def _pairs(matrix: Matrix) -> dict[tuple[str, str], PortSet]:
    keys = [pod.key for pod in matrix.pods]
    return {(keys[i], keys[j]): ports for i, j, ports in matrix.connections()}


def pair_changes(before: Matrix, after: Matrix) -> list[PairChange]:
    """Every ordered pair of pods whose allowed traffic differs, sorted by keys."""
    old, new = _pairs(before), _pairs(after)
    changes = []
    for pair in sorted(old.keys() | new.keys()):
        was, now = old.get(pair, PortSet.NONE), new.get(pair, PortSet.NONE)
        if was != now:
            changes.append(PairChange(pair[0], pair[1], was, now))
    return changes


def external_changes(before: Matrix, after: Matrix) -> list[ExternalChange]:
    """Every pod and direction whose external traffic differs, sorted by pod key."""
    old = dict(_externals(before))
    new = dict(_externals(after))
    return [
        ExternalChange(key, egress, old.get((key, egress), ()), new.get((key, egress), ()))
        for key, egress in sorted(old.keys() | new.keys())
        if old.get((key, egress), ()) != new.get((key, egress), ())
    ]


def _externals(matrix: Matrix) -> Iterator[tuple[tuple[str, bool], External]]:
    for index, pod in enumerate(matrix.pods):
        yield (pod.key, True), matrix.egress_external[index]
        yield (pod.key, False), matrix.ingress_external[index]


def changed_namespaces(before: Matrix, after: Matrix) -> set[str]:
    """The namespaces of every pod whose connections or external traffic differ."""
    namespaces = {
        key.partition("/")[0] for change in external_changes(before, after) for key in (change.pod,)
    }
    for change in pair_changes(before, after):
        namespaces.add(change.source.partition("/")[0])
        namespaces.add(change.destination.partition("/")[0])
    return namespaces
