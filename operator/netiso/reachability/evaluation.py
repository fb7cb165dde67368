"""One connection, evaluated with its evidence: which policies isolate each side, which rule,
peer and port admitted the traffic, or why each candidate rule did not.

Reachability layer, pure. This is the reference evaluation `netiso explain` prints; the matrix
(`indexing`) computes the same answers in bulk and the tests check that both agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from netiso.reachability.addresses import Address
from netiso.reachability.intervals import merged
from netiso.reachability.matching import describe, mismatches
from netiso.reachability.policies import EGRESS, INGRESS, Peer, Policy, PortEntry, Rule
from netiso.reachability.portsets import MAX_PORT, MIN_PORT, PortSet
from netiso.reachability.snapshots import Snapshot
from netiso.reachability.workloads import Pod

Endpoint = Pod | Address

# Why a peer did not match, from the most to the least specific: the triage names the closest.
POD_LABELS: Final = "pod labels"
NAMESPACE: Final = "namespace"
ADDRESS: Final = "address"
SELF_NOTE: Final = "traffic of a pod to itself: a pod cannot block access to itself"


def endpoint_name(endpoint: Endpoint) -> str:
    """A pod's key, or an address as text."""
    return endpoint.key if isinstance(endpoint, Pod) else str(endpoint)


def resolved_ports(entries: Sequence[PortEntry], destination: Pod | None) -> PortSet:
    """What a rule's `ports` admit towards `destination` (None: an address outside the input).

    No entries admit everything; an entry without a port admits its whole protocol; a named
    port admits the destination's container ports of that name and protocol, so it admits
    nothing towards an address outside the input.
    """
    if not entries:
        return PortSet.ALL
    result = PortSet.NONE
    for entry in entries:
        if entry.port is None:
            intervals: tuple[tuple[int, int], ...] = ((MIN_PORT, MAX_PORT),)
        elif isinstance(entry.port, int):
            intervals = ((entry.port, entry.end_port or entry.port),)
        elif destination is None:
            continue
        else:
            intervals = merged(
                (number, number) for number in destination.resolve(entry.port, entry.protocol)
            )
        result = result.union(PortSet.of(entry.protocol, intervals))
    return result


def selecting_policies(snapshot: Snapshot, pod: Pod, *, direction: str) -> tuple[Policy, ...]:
    """The policies that select the pod and govern the direction: the pod is isolated if any."""
    if not snapshot.selectable(pod):
        return ()
    # By name, as the API server lists them: the evidence reads the same from files or live.
    return tuple(
        sorted(
            (
                policy
                for policy in snapshot.policies_by_namespace.get(pod.namespace, ())
                if policy.governs(direction) and policy.pod_selector.matches(pod.labels)
            ),
            key=lambda policy: policy.name,
        )
    )


@dataclass(frozen=True)
class PeerCheck:
    """One peer against the other endpoint: matched, or why not (`failure` names the part)."""

    index: int
    description: str
    matched: bool
    reason: str
    failure: str = ""


@dataclass(frozen=True)
class RuleCheck:
    """One rule of one policy against the connection."""

    policy: str
    direction: str
    index: int
    peers: tuple[PeerCheck, ...]
    port_matched: bool
    port_reason: str

    @property
    def peer_matched(self) -> bool:
        """Whether some peer (or the absence of peers) admits the other endpoint."""
        return not self.peers or any(check.matched for check in self.peers)

    @property
    def admitted(self) -> bool:
        """Whether this rule admits the connection."""
        return self.peer_matched and self.port_matched

    @property
    def closest_failure(self) -> str:
        """POD_LABELS when some peer failed only on pod labels, else the first failure kind."""
        kinds = [check.failure for check in self.peers if not check.matched]
        return POD_LABELS if POD_LABELS in kinds else (kinds[0] if kinds else "")


@dataclass(frozen=True)
class Side:
    """One direction at one endpoint: egress at the source or ingress at the destination."""

    direction: str
    subject: str
    applies: bool
    isolated: bool
    policies: tuple[str, ...]
    rules: tuple[RuleCheck, ...]
    note: str = ""

    @property
    def allowed(self) -> bool:
        """Not governed, not isolated, or some rule admits the connection."""
        return not self.applies or not self.isolated or any(rule.admitted for rule in self.rules)


@dataclass(frozen=True)
class Verdict:
    """A connection's answer with the evidence for both sides."""

    source: str
    destination: str
    protocol: str
    port: int
    egress: Side
    ingress: Side

    @property
    def allowed(self) -> bool:
        """A connection needs the source's egress AND the destination's ingress."""
        return self.egress.allowed and self.ingress.allowed


def evaluate(
    snapshot: Snapshot, *, source: Endpoint, destination: Endpoint, protocol: str, port: int
) -> Verdict:
    """Whether `source` may open a connection to `destination` on `port`/`protocol`, and why."""
    dst_pod = destination if isinstance(destination, Pod) else None
    egress = _side(
        snapshot,
        direction=EGRESS,
        subject=source,
        other=destination,
        dst_pod=dst_pod,
        protocol=protocol,
        port=port,
    )
    ingress = _side(
        snapshot,
        direction=INGRESS,
        subject=destination,
        other=source,
        dst_pod=dst_pod,
        protocol=protocol,
        port=port,
    )
    return Verdict(
        source=endpoint_name(source),
        destination=endpoint_name(destination),
        protocol=protocol,
        port=port,
        egress=egress,
        ingress=ingress,
    )


def _side(
    snapshot: Snapshot,
    *,
    direction: str,
    subject: Endpoint,
    other: Endpoint,
    dst_pod: Pod | None,
    protocol: str,
    port: int,
) -> Side:
    name = endpoint_name(subject)
    if not isinstance(subject, Pod):
        return Side(
            direction, name, applies=False, isolated=False, policies=(), rules=(),
            note="an address outside the input: no NetworkPolicy governs it",
        )  # fmt: skip
    if not snapshot.selectable(subject):
        return Side(
            direction, name, applies=True, isolated=False, policies=(), rules=(),
            note="a hostNetwork pod: its traffic is the node's, which policies do not select",
        )  # fmt: skip
    if isinstance(other, Pod) and other.key == subject.key:
        # The concept page: "a pod cannot block access to itself".
        return Side(
            direction, name, applies=False, isolated=False, policies=(), rules=(),
            note=SELF_NOTE,
        )  # fmt: skip
    policies = selecting_policies(snapshot, subject, direction=direction)
    checks = tuple(
        _rule_check(
            snapshot,
            policy=policy,
            direction=direction,
            index=index,
            rule=rule,
            other=other,
            dst_pod=dst_pod,
            protocol=protocol,
            port=port,
        )
        for policy in policies
        for index, rule in enumerate(policy.rules(direction))
    )
    return Side(
        direction,
        name,
        applies=True,
        isolated=bool(policies),
        policies=tuple(policy.key for policy in policies),
        rules=checks,
    )


def _rule_check(
    snapshot: Snapshot,
    *,
    policy: Policy,
    direction: str,
    index: int,
    rule: Rule,
    other: Endpoint,
    dst_pod: Pod | None,
    protocol: str,
    port: int,
) -> RuleCheck:
    peers = tuple(
        peer_check(snapshot, namespace=policy.namespace, peer=peer, index=position, endpoint=other)
        for position, peer in enumerate(rule.peers)
    )
    port_matched, port_reason = _port_check(
        rule.ports, dst_pod=dst_pod, protocol=protocol, port=port
    )
    return RuleCheck(
        policy=policy.key,
        direction=direction,
        index=index,
        peers=peers,
        port_matched=port_matched,
        port_reason=port_reason,
    )


def describe_peer(peer: Peer) -> str:
    """`namespaceSelector a=b AND podSelector c=d`, `podSelector {}`, `ipBlock 10.0.0.0/8`."""
    if peer.ip_block is not None:
        return f"ipBlock {peer.ip_block.describe()}"
    parts = []
    if peer.namespace_selector is not None:
        parts.append(f"namespaceSelector {describe(peer.namespace_selector)}")
    if peer.pod_selector is not None:
        parts.append(f"podSelector {describe(peer.pod_selector)}")
    return " AND ".join(parts)


def peer_check(
    snapshot: Snapshot, *, namespace: str, peer: Peer, index: int, endpoint: Endpoint
) -> PeerCheck:
    """Whether a peer of a policy in `namespace` matches an endpoint, and why not."""
    description = describe_peer(peer)

    def failed(reason: str, failure: str) -> PeerCheck:
        return PeerCheck(index, description, matched=False, reason=reason, failure=failure)

    if peer.ip_block is not None:
        block = peer.ip_block
        if not isinstance(endpoint, Pod):
            if block.matches(endpoint):
                return PeerCheck(index, description, matched=True, reason=f"{endpoint} is in it")
            return failed(f"{endpoint} is not in {block.describe()}", ADDRESS)
        if not snapshot.options.ip_blocks_match_pods:
            return failed("ipBlock peers match only addresses outside the input", ADDRESS)
        if not endpoint.ips:
            return failed(f"{endpoint.key} has no known IP; only selectors match it", ADDRESS)
        for address in endpoint.ips:
            if block.matches(address):
                return PeerCheck(
                    index, description, matched=True, reason=f"pod IP {address} is in it"
                )
        shown = ", ".join(str(address) for address in endpoint.ips)
        return failed(f"pod IP {shown} is not in {block.describe()}", ADDRESS)
    if not isinstance(endpoint, Pod):
        return failed(f"{endpoint} is not a pod: selectors match pods only", ADDRESS)
    if not snapshot.selectable(endpoint):
        return failed(f"{endpoint.key} is a hostNetwork pod: selectors do not match it", ADDRESS)
    reasons = []
    if peer.namespace_selector is None:
        if endpoint.namespace != namespace:
            reasons.append(
                f"{endpoint.key} is in namespace {endpoint.namespace}; a podSelector without a "
                f"namespaceSelector matches pods in the policy's namespace {namespace} only"
            )
    else:
        labels = snapshot.namespace(endpoint.namespace).labels
        if mismatched := mismatches(peer.namespace_selector, labels):
            reasons.append(f"namespace {endpoint.namespace}: {'; '.join(mismatched)}")
    pod_mismatched = (
        mismatches(peer.pod_selector, endpoint.labels) if peer.pod_selector is not None else ()
    )
    if pod_mismatched:
        reasons.append(f"pod {endpoint.key}: {'; '.join(pod_mismatched)}")
    if reasons:
        # Only the namespace wrong: a namespace label mismatch; the pod wrong too: a selector
        # mismatch (the peer names other pods altogether).
        return failed("; ".join(reasons), POD_LABELS if pod_mismatched else NAMESPACE)
    return PeerCheck(index, description, matched=True, reason=f"{endpoint.key} matches")


def _port_check(
    entries: Sequence[PortEntry], *, dst_pod: Pod | None, protocol: str, port: int
) -> tuple[bool, str]:
    if not entries:
        return True, "the rule lists no ports: all ports and protocols"
    reasons = []
    for entry in entries:
        shown = entry.describe()
        if entry.protocol != protocol:
            reasons.append(f"{shown}: protocol {protocol} differs")
            continue
        if entry.port is None:
            return True, f"{shown} admits every {protocol} port"
        if isinstance(entry.port, int):
            last = entry.end_port or entry.port
            if entry.port <= port <= last:
                return True, f"{shown} admits {port}/{protocol}"
            reasons.append(f"{shown}: port {port} is outside it")
            continue
        if dst_pod is None:
            reasons.append(f"{shown}: a named port cannot match an address outside the input")
            continue
        numbers = dst_pod.resolve(entry.port, entry.protocol)
        if not numbers:
            reasons.append(
                f"{shown}: named port {entry.port}/{entry.protocol} not found on the "
                f"destination {dst_pod.key}"
            )
        elif port in numbers:
            return True, f"{shown} is {port}/{protocol} on {dst_pod.key}"
        else:
            reasons.append(f"{shown} is {numbers[0]} on {dst_pod.key}, not {port}")
    return False, "; ".join(reasons)
