"""The reachability matrix as a graph to draw: namespaces as boxes, workload groups as nodes,
external ranges as nodes outside the boxes, edges labelled with what is allowed; and where each
of them goes on the page.

Top layer beside cli, pure: a Matrix and its Grouping in, positions out; pictures.py writes the
markup. A node is the pods of one reachability group inside one namespace (they behave
identically). A large graph collapses to one node per namespace, but for the namespaces asked
to stay expanded. The layout is netiso's own and deterministic (no Graphviz needed), so a
picture is the same on every machine and a golden screenshot can hold it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from netiso.reachability.grouping import Grouping
from netiso.reachability.indexing import Matrix
from netiso.reachability.intervals import Intervals
from netiso.reachability.portsets import PortSet

# More nodes than this and namespaces collapse to one node each (but for --expand ones).
EXPAND_AT_MOST: Final = 40
# The most nodes one picture draws; beyond it the user narrows with --namespace/--selector.
MAX_NODES: Final = 400
# Workload names shown in a node's label before the rest is counted.
_SHOWN_MEMBERS: Final = 2
# A pod's own suffixes, left out of its workload's name: a ReplicaSet's hash and the pod's
# random part (`web-7d9f8b6c4-x2x9z`), a StatefulSet ordinal (`db-0`).
_POD_SUFFIX: Final = re.compile(r"(-[a-z0-9]{6,10})?-[a-z0-9]{5}$|-\d+$")

# Page geometry, in CSS pixels.
NODE_WIDTH: Final = 200
NODE_HEIGHT: Final = 34
_NODE_GAP: Final = 14
_BOX_PAD: Final = 16
_BOX_HEADER: Final = 30
_ROW_GAP: Final = 36
MARGIN: Final = 30
# The channel between the two columns, where edges between them and their labels run.
CHANNEL: Final = 300
# Room beside the columns for edges within one column, which bulge outwards.
BULGE: Final = 150


@dataclass(frozen=True)
class Node:
    """Something drawn as one rounded box: a workload group, a collapsed namespace, or an
    external address range. `members` are the pod keys (or CIDRs) it stands for."""

    id: str
    label: str
    kind: str  # "workload", "namespace" (collapsed) or "external"
    namespace: str  # "" for an external range
    members: tuple[str, ...]
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True)
class Edge:
    """What `source` may send to `target`; `source == target` is between two of its pods."""

    source: str
    target: str
    allowed: PortSet
    # Also from target to source, with the same answer: drawn once, with two arrowheads.
    both: bool = False

    @property
    def label(self) -> str:
        return self.allowed.describe()


@dataclass(frozen=True)
class Box:
    """A namespace (or the outside world, `namespace == ""`) with its nodes inside."""

    namespace: str
    x: float
    y: float
    width: float
    height: float
    collapsed: bool = False


@dataclass(frozen=True)
class Graph:
    """Everything placed: boxes, nodes, edges, and the page's size."""

    boxes: tuple[Box, ...]
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    width: float
    height: float
    # Namespaces drawn as one node each, and those drawn with their workloads.
    collapsed: tuple[str, ...] = ()
    expanded: tuple[str, ...] = ()
    by_id: dict[str, Node] = field(default_factory=dict, compare=False)

    def node(self, node_id: str) -> Node:
        return self.by_id[node_id]

    def internal(self) -> list[Node]:
        """The nodes inside the cluster, in drawing order (the matrix's axes)."""
        return [node for node in self.nodes if node.kind != "external"]

    def allowed(self, source: str, target: str) -> PortSet:
        for edge in self.edges:
            if (edge.source, edge.target) == (source, target) or (
                edge.both and (edge.target, edge.source) == (source, target)
            ):
                return edge.allowed
        return PortSet.NONE


class TooLarge(ValueError):
    """More nodes than a picture can show; the message says how to narrow it."""


def workload_name(name: str, *, kind: str) -> str:
    """A workload's own name (`kind` set) as it is; a pod's without its suffixes:
    `web-7d9f8b6c4-x2x9z` -> `web`, `db-0` -> `db`."""
    if kind:
        return name
    return _POD_SUFFIX.sub("", name) or name


def members_label(workloads: Sequence[str]) -> str:
    """The workloads of a node: `gateway, ledger +1`."""
    names = list(dict.fromkeys(workloads))
    shown = ", ".join(names[:_SHOWN_MEMBERS])
    return shown + (f" +{len(names) - _SHOWN_MEMBERS}" if len(names) > _SHOWN_MEMBERS else "")


def build_graph(
    matrix: Matrix,
    grouping: Grouping,
    *,
    cidrs: Callable[[Intervals], Sequence[str]],
    expand: Collection[str] = (),
    collapse: bool | None = None,
    shown: Callable[[str], str] = str,
) -> Graph:
    """The graph of `grouping` (of `matrix`'s pods), laid out.

    `cidrs(ranges) -> list[str]` names address ranges; `shown(name)` makes an input's name
    printable (control characters escaped). `collapse`: None collapses when there
    are more than EXPAND_AT_MOST workload nodes; the namespaces in `expand` stay expanded.
    Raises TooLarge beyond MAX_NODES.
    """
    # Fine nodes: one per (group, namespace).
    fine: dict[tuple[int, str], list[str]] = {}
    workloads: dict[tuple[int, str], list[str]] = {}
    for number, group in enumerate(grouping.groups):
        for index in group:
            pod = matrix.pods[index]
            where = (number, shown(pod.namespace))
            fine.setdefault(where, []).append(shown(pod.key))
            workloads.setdefault(where, []).append(shown(workload_name(pod.name, kind=pod.kind)))
    namespaces = sorted({namespace for _, namespace in fine})
    unknown = sorted(set(expand) - set(namespaces))
    if unknown:
        raise TooLarge(f"--expand: no pod of namespace {', '.join(unknown)} is shown")
    if collapse is None:
        collapse = len(fine) > EXPAND_AT_MOST
    collapsed = [ns for ns in namespaces if collapse and ns not in expand]
    folded = set(collapsed)

    def shown_id(number: int, namespace: str) -> str:
        return f"ns:{namespace}" if namespace in folded else f"g{number}:{namespace}"

    members: dict[str, list[str]] = defaultdict(list)
    names: dict[str, list[str]] = defaultdict(list)
    kinds: dict[str, tuple[str, str]] = {}
    for (number, namespace), keys in sorted(fine.items(), key=lambda item: item[0][::-1]):
        node_id = shown_id(number, namespace)
        members[node_id].extend(keys)
        names[node_id].extend(workloads[(number, namespace)])
        kinds[node_id] = ("namespace" if namespace in folded else "workload", namespace)
    edges: dict[tuple[str, str], PortSet] = {}

    def add(source: str, target: str, allowed: PortSet) -> None:
        if not allowed.empty:
            edges[(source, target)] = edges.get((source, target), PortSet.NONE).union(allowed)

    by_group: dict[int, list[str]] = defaultdict(list)
    for number, namespace in fine:
        by_group[number].append(namespace)
    for (a, b), allowed in grouping.between.items():
        for first in by_group[a]:
            for second in by_group[b]:
                source, target = shown_id(a, first), shown_id(b, second)
                # A group to itself means between two different pods: none in a lone pod.
                if a == b and first == second and len(fine[(a, first)]) < 2:
                    continue
                add(source, target, allowed)
    external_ids: dict[Intervals, str] = {}
    external_members: dict[str, tuple[str, ...]] = {}
    for number, namespaces_of in by_group.items():
        for direction, externals in (
            ("egress", grouping.egress_external[number]),
            ("ingress", grouping.ingress_external[number]),
        ):
            for ranges, allowed in externals:
                node_id = external_ids.setdefault(ranges, f"ext:{len(external_ids)}")
                external_members[node_id] = tuple(cidrs(ranges))
                for namespace in namespaces_of:
                    inside = shown_id(number, namespace)
                    if direction == "egress":
                        add(inside, node_id, allowed)
                    else:
                        add(node_id, inside, allowed)
    count = len(members) + len(external_members)
    if count > MAX_NODES:
        raise TooLarge(
            f"{count} nodes are too many for a picture (at most {MAX_NODES}); narrow it with "
            "--namespace or --selector"
        )
    nodes = [
        Node(
            id=node_id,
            label=namespace if kind == "namespace" else members_label(names[node_id]),
            kind=kind,
            namespace=namespace,
            members=tuple(keys),
        )
        for node_id, keys in members.items()
        for kind, namespace in [kinds[node_id]]
    ]
    nodes += [
        Node(id=node_id, label=_ranges_label(ranges), kind="external", namespace="", members=ranges)
        for node_id, ranges in external_members.items()
    ]
    edge_list = []
    for (source, target), allowed in sorted(edges.items()):
        back = edges.get((target, source))
        if source != target and back == allowed:
            if source < target:  # the pair once, from its first end
                edge_list.append(Edge(source, target, allowed, both=True))
        else:
            edge_list.append(Edge(source, target, allowed))
    return _laid_out(
        nodes, tuple(edge_list), collapsed=tuple(collapsed), expanded=tuple(sorted(set(expand)))
    )


def _ranges_label(ranges: Sequence[str]) -> str:
    if len(ranges) == 1 and ranges[0] == "0.0.0.0/0":
        return "any address (0.0.0.0/0)"
    return ", ".join(ranges[:_SHOWN_MEMBERS]) + (
        f" +{len(ranges) - _SHOWN_MEMBERS}" if len(ranges) > _SHOWN_MEMBERS else ""
    )


def _laid_out(
    nodes: Sequence[Node],
    edges: Sequence[Edge],
    *,
    collapsed: tuple[str, ...],
    expanded: tuple[str, ...],
) -> Graph:
    """Two columns of boxes, the namespaces that send more on the left, those that receive
    more on the right, the external ranges at the foot of the shorter column. An edge between
    the columns runs in the channel between them; one within a column bulges outwards: no
    edge crosses a box."""
    inside: dict[str, list[Node]] = defaultdict(list)
    for node in nodes:
        inside[node.namespace].append(node)
    namespace_of = {node.id: node.namespace for node in nodes}
    balance: dict[str, int] = defaultdict(int)
    for edge in edges:
        a, b = namespace_of[edge.source], namespace_of[edge.target]
        if a != b and not edge.both:
            balance[a] += 1
            balance[b] -= 1
    order = sorted((ns for ns in inside if ns), key=lambda ns: (-balance[ns], ns))

    def height_of(count: int) -> float:
        return _BOX_HEADER + count * NODE_HEIGHT + max(0, count - 1) * _NODE_GAP + _BOX_PAD

    # Namespaces that exchange traffic go to opposite columns, so their edges cross the
    # channel instead of bulging outwards; the taller column may be 60% of the total at most.
    weight: dict[tuple[str, str], int] = defaultdict(int)
    for edge in edges:
        a, b = namespace_of[edge.source], namespace_of[edge.target]
        if a != b:
            weight[(a, b)] += 1
            weight[(b, a)] += 1
    sizes = {ns: height_of(len(nodes_of)) + _ROW_GAP for ns, nodes_of in inside.items()}
    total = sum(sizes.values())
    columns: tuple[list[str], list[str]] = ([], [])
    heights = [0.0, 0.0]
    degree = {ns: sum(weight[(ns, other)] for other in inside) for ns in order}
    for namespace in sorted(order, key=lambda ns: (-degree[ns], ns)):
        costs = [sum(weight[(namespace, other)] for other in column) for column in columns]
        pick = min((0, 1), key=lambda side: (costs[side], heights[side], side))
        if heights[pick] + sizes[namespace] > 0.6 * total and heights[1 - pick] < heights[pick]:
            pick = 1 - pick
        columns[pick].append(namespace)
        heights[pick] += sizes[namespace]
    for column in columns:
        column.sort(key=lambda ns: (-balance[ns], ns))
    # The outside world joins the column it exchanges less traffic with.
    if inside.get(""):
        costs = [sum(weight[("", other)] for other in column) for column in columns]
        outside = min((0, 1), key=lambda side: (costs[side], heights[side], -side))
    else:
        outside = 1

    box_width = NODE_WIDTH + 2 * _BOX_PAD
    lefts = (MARGIN + BULGE, MARGIN + BULGE + box_width + CHANNEL)
    placed: list[Node] = []
    boxes: list[Box] = []
    for number, column in enumerate(columns):
        y = float(MARGIN)
        entries = [(ns, inside[ns]) for ns in column]
        if number == outside and inside.get(""):
            entries.append(("", inside[""]))
        for namespace, members in entries:
            height = height_of(len(members))
            boxes.append(
                Box(
                    namespace,
                    lefts[number],
                    y,
                    box_width,
                    height,
                    collapsed=namespace in collapsed,
                )
            )
            placed += _stack(members, x=lefts[number] + _BOX_PAD, y=y + _BOX_HEADER)
            y += height + _ROW_GAP
    height = max((box.y + box.height for box in boxes), default=0) + MARGIN
    return Graph(
        boxes=tuple(boxes),
        nodes=tuple(placed),
        edges=tuple(edges),
        width=lefts[1] + box_width + BULGE + MARGIN,
        height=height,
        collapsed=collapsed,
        expanded=expanded,
        by_id={node.id: node for node in placed},
    )


def _stack(nodes: Iterable[Node], *, x: float, y: float) -> list[Node]:
    return [
        Node(
            id=node.id,
            label=node.label,
            kind=node.kind,
            namespace=node.namespace,
            members=node.members,
            x=x,
            y=y + number * (NODE_HEIGHT + _NODE_GAP),
        )
        for number, node in enumerate(nodes)
    ]
