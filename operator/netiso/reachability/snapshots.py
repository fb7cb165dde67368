"""What the engine reasons about: namespaces, pods, policies, and the conventions it follows.

Reachability layer, pure. The API leaves two behaviours to network plugins; `Options` makes
them explicit, with the defaults documented in docs/explain.md.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from netiso.reachability.policies import Policy
from netiso.reachability.services import Controller, Service
from netiso.reachability.workloads import Namespace, Pod, namespace_of


class HostNetwork(enum.StrEnum):
    """How pods with `hostNetwork: true` are treated; the API says it is plugin-defined.

    NODE (default, the most common implementation the concept page describes): selectors
    neither select nor match them; their traffic is the node's, so they are never isolated and
    only ipBlock peers covering their IP match them. POD: treated like any other pod.
    """

    NODE = "node"
    POD = "pod"


@dataclass(frozen=True)
class Options:
    """The plugin-defined conventions.

    `ip_blocks_match_pods` (default True): an ipBlock peer matches a pod whose IP is known
    (from status.podIP/podIPs), as plugins match packets by address; pods without a known IP
    are matched by selectors only. False: ipBlocks match only addresses outside the input.
    """

    host_network: HostNetwork = HostNetwork.NODE
    ip_blocks_match_pods: bool = True


@dataclass
class Snapshot:
    """The objects, indexed: pods and policies by namespace, namespaces by name."""

    pods: tuple[Pod, ...]
    policies: tuple[Policy, ...]
    declared: Mapping[str, Namespace]
    options: Options = field(default_factory=Options)
    services: tuple[Service, ...] = ()
    controllers: tuple[Controller, ...] = ()
    namespaces: dict[str, Namespace] = field(init=False)
    pods_by_namespace: dict[str, list[Pod]] = field(init=False)
    policies_by_namespace: dict[str, list[Policy]] = field(init=False)

    def __post_init__(self) -> None:
        self.namespaces = dict(self.declared)
        self.pods_by_namespace = defaultdict(list)
        self.policies_by_namespace = defaultdict(list)
        for pod in self.pods:
            self.pods_by_namespace[pod.namespace].append(pod)
            self.namespace(pod.namespace)
        for policy in self.policies:
            self.policies_by_namespace[policy.namespace].append(policy)
            self.namespace(policy.namespace)

    def namespace(self, name: str) -> Namespace:
        """A namespace by name; one the input does not declare has only its name label."""
        found = self.namespaces.get(name)
        if found is None:
            found = self.namespaces[name] = namespace_of(name)
        return found

    def selectable(self, pod: Pod) -> bool:
        """Whether selectors can select or match the pod (not so for node-network pods)."""
        return not (pod.host_network and self.options.host_network is HostNetwork.NODE)

    def pod(self, key: str) -> Pod | None:
        """A pod by its key (`ns/name` or `ns/name[Kind]`)."""
        namespace = key.partition("/")[0]
        for pod in self.pods_by_namespace.get(namespace, ()):
            if pod.key == key:
                return pod
        return None


def make_snapshot(
    *,
    namespaces: Iterable[Namespace],
    pods: Iterable[Pod],
    policies: Iterable[Policy],
    options: Options | None = None,
    services: Iterable[Service] = (),
    controllers: Iterable[Controller] = (),
) -> Snapshot:
    """A snapshot of the given objects (later namespaces of the same name win). Services and
    controllers only name pods (`services`); the engine never reads them."""
    return Snapshot(
        pods=tuple(pods),
        policies=tuple(policies),
        declared={namespace.name: namespace for namespace in namespaces},
        options=options or Options(),
        services=tuple(services),
        controllers=tuple(controllers),
    )
