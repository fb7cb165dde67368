"""NetworkPolicy as values: policy types with the API's defaults, rules, peers and port entries.

Reachability layer, pure. `parse_network_policy` applies the defaulting the API server does
(policyTypes, port protocol) and rejects what its validation rejects, so the engine sees the
objects a cluster would store.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, TypeVar

from netiso.model.fields import json_type, shown
from netiso.model.problems import Problem
from netiso.model.selection import LabelSelector
from netiso.reachability.accessors import ObjectError, identity, items, mapping
from netiso.reachability.addresses import IpBlock, parse_ip_block
from netiso.reachability.matching import parse_selector
from netiso.reachability.portsets import MAX_PORT, MIN_PORT, PROTOCOLS

INGRESS: Final = "Ingress"
EGRESS: Final = "Egress"

_Shared = TypeVar("_Shared")


@dataclass(frozen=True)
class PortEntry:
    """One `ports` item: a protocol and a number, a range (`end_port`), a name, or every port."""

    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None

    def describe(self) -> str:
        """`8080/TCP`, `8000-8080/TCP`, `http/TCP` or `all/UDP`."""
        if self.port is None:
            return f"all/{self.protocol}"
        if self.end_port is not None:
            return f"{self.port}-{self.end_port}/{self.protocol}"
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True)
class Peer:
    """A `from`/`to` item: selectors (both present means both must match) or an ipBlock."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IpBlock | None = None


@dataclass(frozen=True)
class Rule:
    """An ingress or egress rule; no peers means every peer, no ports means every port."""

    peers: tuple[Peer, ...] = ()
    ports: tuple[PortEntry, ...] = ()


@dataclass(frozen=True)
class Policy:
    """A NetworkPolicy: which pods of its namespace it selects and which directions it governs.

    `ingress`/`egress` hold the rules of the directions the policy governs only: the API
    ignores ingress rules of a policy whose policyTypes is [Egress], and vice versa.
    """

    namespace: str
    name: str
    pod_selector: LabelSelector
    governs_ingress: bool
    governs_egress: bool
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()

    @property
    def key(self) -> str:
        """`namespace/name`."""
        return f"{self.namespace}/{self.name}"

    def rules(self, direction: str) -> tuple[Rule, ...]:
        """The rules of a direction (INGRESS or EGRESS)."""
        return self.ingress if direction == INGRESS else self.egress

    def governs(self, direction: str) -> bool:
        """Whether the policy isolates the pods it selects in that direction."""
        return self.governs_ingress if direction == INGRESS else self.governs_egress


class Interner:
    """One copy of each distinct selector, rule and rule list, shared by every policy holding
    it: a dump of 100,000 policies repeats a few hundred distinct rules, so memory follows the
    distinct content instead of the policy count (365 MiB before, for that dump). Equal values
    are interchangeable: every policy value is frozen and compared by content."""

    def __init__(self) -> None:
        self._seen: dict[object, object] = {}

    def policy(self, policy: Policy) -> Policy:
        """The policy with its parts replaced by their shared copies."""
        return replace(
            policy,
            namespace=sys.intern(policy.namespace),
            pod_selector=self._one(policy.pod_selector),
            ingress=self._rules(policy.ingress),
            egress=self._rules(policy.egress),
        )

    def _rules(self, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        return self._one(tuple(self._one(rule) for rule in rules))

    def _one(self, value: _Shared) -> _Shared:
        found = self._seen.setdefault(value, value)
        return found  # type: ignore[return-value]


def parse_network_policy(body: Mapping[str, Any], *, default_namespace: str = "default") -> Policy:
    """A NetworkPolicy object as the API server would store it; ObjectError names bad fields."""
    problems: list[Problem] = []
    metadata = mapping(body.get("metadata"), path="metadata", problems=problems)
    namespace, name = identity(metadata, default_namespace=default_namespace, problems=problems)
    spec = mapping(body.get("spec"), path="spec", problems=problems)
    pod_selector = parse_selector(
        spec.get("podSelector"), path="spec.podSelector", problems=problems
    )
    raw_ingress = items(spec.get("ingress"), path="spec.ingress", problems=problems)
    raw_egress = items(spec.get("egress"), path="spec.egress", problems=problems)
    types = []
    for index, item in enumerate(
        items(spec.get("policyTypes"), path="spec.policyTypes", problems=problems)
    ):
        if item not in (INGRESS, EGRESS):
            problems.append(
                Problem(
                    f"spec.policyTypes[{index}]", f"must be Ingress or Egress, got {shown(item)}"
                )
            )
        types.append(item)
    if not types:
        # The API server's defaulting: every policy governs ingress; egress only when it has
        # egress rules (an empty `egress: []` does not count).
        types = [INGRESS, EGRESS] if raw_egress else [INGRESS]
    governs_ingress = INGRESS in types
    governs_egress = EGRESS in types
    ingress = tuple(
        _rule(raw, path=f"spec.ingress[{index}]", peers_key="from", problems=problems)
        for index, raw in enumerate(raw_ingress)
    )
    egress = tuple(
        _rule(raw, path=f"spec.egress[{index}]", peers_key="to", problems=problems)
        for index, raw in enumerate(raw_egress)
    )
    if problems:
        raise ObjectError(problems)
    return Policy(
        namespace=namespace,
        name=name,
        pod_selector=pod_selector,
        governs_ingress=governs_ingress,
        governs_egress=governs_egress,
        ingress=ingress if governs_ingress else (),
        egress=egress if governs_egress else (),
    )


def _rule(raw: object, *, path: str, peers_key: str, problems: list[Problem]) -> Rule:
    body = mapping(raw, path=path, problems=problems)
    peers = tuple(
        _peer(item, path=f"{path}.{peers_key}[{index}]", problems=problems)
        for index, item in enumerate(
            items(body.get(peers_key), path=f"{path}.{peers_key}", problems=problems)
        )
    )
    ports = tuple(
        _port(item, path=f"{path}.ports[{index}]", problems=problems)
        for index, item in enumerate(
            items(body.get("ports"), path=f"{path}.ports", problems=problems)
        )
    )
    return Rule(peers=peers, ports=ports)


def _peer(raw: object, *, path: str, problems: list[Problem]) -> Peer:
    body = mapping(raw, path=path, problems=problems)
    pod_selector = namespace_selector = ip_block = None
    if body.get("podSelector") is not None:
        pod_selector = parse_selector(
            body["podSelector"], path=f"{path}.podSelector", problems=problems
        )
    if body.get("namespaceSelector") is not None:
        namespace_selector = parse_selector(
            body["namespaceSelector"], path=f"{path}.namespaceSelector", problems=problems
        )
    if body.get("ipBlock") is not None:
        ip_block = parse_ip_block(body["ipBlock"], path=f"{path}.ipBlock", problems=problems)
        if pod_selector is not None or namespace_selector is not None:
            problems.append(
                Problem(
                    f"{path}.ipBlock", "may not be combined with podSelector or namespaceSelector"
                )
            )
    elif pod_selector is None and namespace_selector is None:
        problems.append(
            Problem(path, "must specify one of podSelector, namespaceSelector or ipBlock")
        )
    return Peer(pod_selector=pod_selector, namespace_selector=namespace_selector, ip_block=ip_block)


def _port(raw: object, *, path: str, problems: list[Problem]) -> PortEntry:
    body = mapping(raw, path=path, problems=problems)
    protocol = body.get("protocol")
    if protocol is None:
        protocol = "TCP"
    elif protocol not in PROTOCOLS:
        problems.append(
            Problem(
                f"{path}.protocol", f"must be one of {', '.join(PROTOCOLS)}, got {shown(protocol)}"
            )
        )
        protocol = "TCP"
    port = body.get("port")
    end_port = body.get("endPort")
    if port is not None:
        if isinstance(port, bool) or not isinstance(port, int | str):
            problems.append(
                Problem(f"{path}.port", f"must be a number or a port name, got {json_type(port)}")
            )
            port = None
        elif isinstance(port, int) and not MIN_PORT <= port <= MAX_PORT:
            problems.append(Problem(f"{path}.port", f"must be 1-65535, got {port}"))
        elif isinstance(port, str) and not port:
            problems.append(Problem(f"{path}.port", "must not be empty"))
            port = None
    if end_port is not None:
        if isinstance(end_port, bool) or not isinstance(end_port, int):
            problems.append(
                Problem(f"{path}.endPort", f"must be a number, got {json_type(end_port)}")
            )
            end_port = None
        elif not isinstance(port, int):
            problems.append(Problem(f"{path}.endPort", "needs a numeric port"))
            end_port = None
        elif not port <= end_port <= MAX_PORT:
            problems.append(
                Problem(
                    f"{path}.endPort", f"must be between port ({port}) and 65535, got {end_port}"
                )
            )
            end_port = None
    return PortEntry(protocol=protocol, port=port, end_port=end_port)
