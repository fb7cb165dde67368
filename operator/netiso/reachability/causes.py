"""Why a connection's answer differs between two versions of the objects: which policy, added,
removed or changed (or which label), now admits it, stops admitting it, or isolates a pod.

Reachability layer, pure. A change of allowed ports is explained at one witness port (allowed
by one version and not the other): both versions are evaluated there with the reference
evaluation (`evaluation.evaluate`), and each side whose answer flipped is explained from its
evidence. Policies are compared by content, so a renamed label or a widened selector counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from netiso.reachability.evaluation import Endpoint, Side, evaluate
from netiso.reachability.policies import Policy
from netiso.reachability.portsets import PROTOCOLS, PortSet
from netiso.reachability.snapshots import Snapshot

ADDED: Final = "added"
REMOVED: Final = "removed"
CHANGED: Final = "changed"
UNCHANGED: Final = "unchanged"


@dataclass(frozen=True)
class Cause:
    """One reason: the policy involved (its key; "" for a pod or label change), what happened
    to it between the versions, and the sentence that explains it."""

    policy: str
    state: str
    words: str


def policy_states(before: Snapshot, after: Snapshot) -> dict[str, str]:
    """ADDED, REMOVED, CHANGED or UNCHANGED for every policy of either version, by key."""
    old: Mapping[str, Policy] = {policy.key: policy for policy in before.policies}
    new: Mapping[str, Policy] = {policy.key: policy for policy in after.policies}
    states = {}
    for key in old.keys() | new.keys():
        if key not in old:
            states[key] = ADDED
        elif key not in new:
            states[key] = REMOVED
        else:
            states[key] = UNCHANGED if old[key] == new[key] else CHANGED
    return states


def witness(more: PortSet, less: PortSet) -> tuple[str, int] | None:
    """A protocol and port `more` admits and `less` does not; None when there is none among
    TCP, UDP and SCTP (`more` may still admit other protocols, such as ICMP)."""
    for protocol in PROTOCOLS:
        for first, last in more.ranges(protocol):
            candidates = {first, last}
            for low, high in less.ranges(protocol):
                candidates.update(value for value in (low - 1, high + 1) if first <= value <= last)
            for port in sorted(candidates):
                if not less.admits(protocol, port):
                    return protocol, port
    return None


def explain_change(
    *,
    before: Snapshot,
    after: Snapshot,
    source: Endpoint | None,
    destination: Endpoint | None,
    old_source: Endpoint | None,
    old_destination: Endpoint | None,
    protocol: str,
    port: int,
    states: Mapping[str, str],
) -> tuple[Cause, ...]:
    """Why the connection on protocol/port is answered differently by the two versions.
    An endpoint None in one version is a pod that version does not have."""
    causes: list[Cause] = []
    for endpoint, old in ((source, old_source), (destination, old_destination)):
        if endpoint is None and old is not None:
            causes.append(Cause("", REMOVED, f"{_name(old)} is removed"))
        elif old is None and endpoint is not None:
            causes.append(Cause("", ADDED, f"{_name(endpoint)} is new"))
    if source is None or destination is None or old_source is None or old_destination is None:
        return tuple(causes)
    was = evaluate(
        before, source=old_source, destination=old_destination, protocol=protocol, port=port
    )
    now = evaluate(after, source=source, destination=destination, protocol=protocol, port=port)
    for old_side, new_side in ((was.egress, now.egress), (was.ingress, now.ingress)):
        if old_side.allowed != new_side.allowed:
            causes.extend(_side_causes(old_side, new_side, states=states))
    return tuple(causes)


def _side_causes(old: Side, new: Side, *, states: Mapping[str, str]) -> list[Cause]:
    direction = new.direction.lower()
    subject = new.subject
    if new.allowed:
        if not new.isolated:
            return [
                Cause(
                    key,
                    states.get(key, UNCHANGED),
                    f"{subject} is no longer isolated for {direction}: {key} "
                    f"{_did(states.get(key, UNCHANGED), 'no longer selects it')}",
                )
                for key in old.policies
            ] or [Cause("", CHANGED, f"{subject} is no longer isolated for {direction}")]
        return [
            Cause(
                rule.policy,
                states.get(rule.policy, UNCHANGED),
                f"{rule.policy} {direction} rule {rule.index} admits it ("
                + _did(states.get(rule.policy, UNCHANGED), "labels changed and it now matches")
                + ")",
            )
            for rule in new.rules
            if rule.admitted
        ]
    if not old.isolated:
        isolating = [key for key in new.policies if states.get(key, UNCHANGED) != UNCHANGED]
        return [
            Cause(
                key,
                states.get(key, UNCHANGED),
                f"{subject} is newly isolated for {direction} by {key} "
                f"({_did(states.get(key, UNCHANGED), 'labels changed and it now selects it')}), "
                f"and no {direction} rule admits this",
            )
            for key in isolating or list(new.policies)
        ]
    return [
        Cause(
            rule.policy,
            states.get(rule.policy, UNCHANGED),
            f"{rule.policy} {direction} rule {rule.index} admitted it and "
            + (
                "is removed"
                if states.get(rule.policy) == REMOVED
                else "is changed: it no longer does"
                if states.get(rule.policy) == CHANGED
                else "no longer matches (labels changed)"
            ),
        )
        for rule in old.rules
        if rule.admitted
    ]


def _did(state: str, otherwise: str) -> str:
    if state == ADDED:
        return "added"
    if state == REMOVED:
        return "removed"
    if state == CHANGED:
        return "changed"
    return f"unchanged: {otherwise}"


def _name(endpoint: Endpoint) -> str:
    return endpoint.key if hasattr(endpoint, "key") else str(endpoint)
