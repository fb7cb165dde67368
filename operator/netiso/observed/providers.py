"""The pods, Services and EndpointSlices that profiles depend on, kept per namespace.

Observed layer, pure: `needs_of` says which collections a profile's DNS, gateway and
monitoring checks read (only where the profile names them); `ProviderIndex` holds what the
operator's watches of those collections last said, parsed into the facts
`reachability.dependencies` judges, and tells whether an event changed anything it keeps.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netiso.model.profiles import Profile
from netiso.reachability.clusterfacts import (
    ClusterFacts,
    PodFacts,
    ServiceFacts,
    SliceFacts,
    pod_facts,
    service_facts,
    slice_facts,
)


class Provided(enum.StrEnum):
    """A collection a dependency check reads; the value is its plural resource name."""

    PODS = "pods"
    SERVICES = "services"
    SLICES = "endpointslices"


@dataclass(frozen=True, order=True)
class Need:
    """One collection in one namespace that a profile's checks read."""

    namespace: str
    kind: Provided

    def words(self) -> str:
        return f"{self.kind} in namespace {self.namespace}"


def needs_of(profile: Profile) -> frozenset[Need]:
    """What the operator must watch to judge `profile`'s dependencies: the DNS namespace's
    pods, Services and EndpointSlices while egress is denied and DNS allowed; the pods of the
    gateway and monitoring namespaces while ingress is denied and those allows are on. Empty
    when the profile depends on nothing the cluster holds."""
    needs: set[Need] = set()
    if profile.default_deny.egress and profile.dns.enabled:
        needs.update(Need(profile.dns.namespace, kind) for kind in Provided)
    if profile.default_deny.ingress:
        for peers in (profile.gateway, profile.monitoring):
            if peers.enabled:
                needs.update(Need(name, Provided.PODS) for name in peers.namespaces)
    return frozenset(needs)


def _key(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("name") or "")


Fact = PodFacts | ServiceFacts | SliceFacts


def _parse(kind: Provided, body: Mapping[str, Any]) -> Fact:
    if kind is Provided.PODS:
        return pod_facts(body)
    if kind is Provided.SERVICES:
        return service_facts(body)
    return slice_facts(body)


class ProviderIndex:
    """The facts of every watched collection, by need and object name.

    A collection counts as known only once it has been listed (`relisted`); facts of a need
    that is no longer watched are dropped with `forget`. Events that change nothing the
    checks read (a pod's status heartbeat, a new resourceVersion) report no change, so they
    cost no recomputation.
    """

    def __init__(self) -> None:
        self._facts: dict[Need, dict[str, Fact]] = {}

    def listed(self, need: Need) -> bool:
        """Whether the collection has been listed since it was first needed."""
        return need in self._facts

    def relisted(self, need: Need, items: Sequence[Mapping[str, Any]]) -> bool:
        """The whole collection as a listing returned it; True when anything changed."""
        fresh = {_key(body): _parse(need.kind, body) for body in items}
        changed = self._facts.get(need) != fresh
        self._facts[need] = fresh
        return changed

    def seen(self, need: Need, body: Mapping[str, Any], *, deleted: bool) -> bool:
        """One watch event; True when it changed what the checks read."""
        known = self._facts.setdefault(need, {})
        name = _key(body)
        if deleted:
            return known.pop(name, None) is not None
        fact = _parse(need.kind, body)
        if known.get(name) == fact:
            return False
        known[name] = fact
        return True

    def forget(self, need: Need) -> None:
        """The collection is no longer watched."""
        self._facts.pop(need, None)

    def facts(self, needs: Iterable[Need]) -> ClusterFacts:
        """What the index holds for `needs`, as the dependency checks take it."""
        pods: list[PodFacts] = []
        services: list[ServiceFacts] = []
        slices: list[SliceFacts] = []
        for need in sorted(set(needs)):
            for _, fact in sorted(self._facts.get(need, {}).items()):
                if isinstance(fact, PodFacts):
                    pods.append(fact)
                elif isinstance(fact, ServiceFacts):
                    services.append(fact)
                else:
                    slices.append(fact)
        return ClusterFacts(pods=tuple(pods), services=tuple(services), slices=tuple(slices))

    def size(self) -> int:
        """How many objects the index holds."""
        return sum(len(facts) for facts in self._facts.values())
