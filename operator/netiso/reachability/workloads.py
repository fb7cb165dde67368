"""Pods and namespaces as reachability sees them, from Pods, workload controllers and Namespaces.

Reachability layer, pure. A workload controller stands in as one representative pod built from
its pod template and named `ns/name[Kind]`; a Pod keeps its own name and, when its status
carries them, its IPs (used by ipBlock peers, see `snapshots.Options`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from netiso import conventions
from netiso.model.problems import Problem
from netiso.reachability.accessors import ObjectError, identity, items, labels, mapping, string
from netiso.reachability.addresses import Address, parse_address
from netiso.reachability.portsets import PROTOCOLS

# Where each controller keeps its pod template.
TEMPLATE_PATHS: Final[Mapping[str, tuple[str, ...]]] = {
    "Deployment": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
# Pods that have finished hold no connections and NetworkPolicy no longer applies to them.
_FINISHED_PHASES: Final = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class NamedPort:
    """A container port with a name, which `ports[].port: <name>` refers to."""

    name: str
    protocol: str
    number: int


@dataclass(frozen=True)
class Pod:
    """A pod (or a workload's representative pod): where it runs and what selects it."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    named_ports: tuple[NamedPort, ...] = ()
    ips: tuple[Address, ...] = ()
    host_network: bool = False
    kind: str = ""

    @property
    def key(self) -> str:
        """`ns/name` for a Pod, `ns/name[Kind]` for a workload's representative pod."""
        suffix = f"[{self.kind}]" if self.kind else ""
        return f"{self.namespace}/{self.name}{suffix}"

    def resolve(self, name: str, protocol: str) -> tuple[int, ...]:
        """The numbers of the container ports called `name` with `protocol`; empty if none."""
        return tuple(
            port.number
            for port in self.named_ports
            if port.name == name and port.protocol == protocol
        )


@dataclass(frozen=True)
class Namespace:
    """A namespace and its labels, which always include kubernetes.io/metadata.name."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)


def namespace_of(name: str, declared: Mapping[str, str] | None = None) -> Namespace:
    """A namespace; one the input does not declare has only the name label the API server sets."""
    labels_ = dict(declared or {})
    labels_[conventions.NAMESPACE_NAME_LABEL] = name
    return Namespace(name, labels_)


def parse_namespace(body: Mapping[str, Any]) -> Namespace:
    """A Namespace object."""
    problems: list[Problem] = []
    metadata = mapping(body.get("metadata"), path="metadata", problems=problems)
    name = string(metadata.get("name"), path="metadata.name", problems=problems)
    if not name:
        problems.append(Problem("metadata.name", "required"))
    declared = labels(metadata.get("labels"), path="metadata.labels", problems=problems)
    if problems:
        raise ObjectError(problems)
    return namespace_of(name, declared)


def parse_pod(body: Mapping[str, Any], *, default_namespace: str = "default") -> Pod | None:
    """A Pod object; None for a pod that has finished (phase Succeeded or Failed)."""
    problems: list[Problem] = []
    metadata = mapping(body.get("metadata"), path="metadata", problems=problems)
    status = mapping(body.get("status"), path="status", problems=problems)
    phase = string(status.get("phase"), path="status.phase", problems=problems)
    ips: list[Address] = []
    raw_ips = [
        entry.get("ip")
        for entry in items(status.get("podIPs"), path="status.podIPs", problems=problems)
        if isinstance(entry, Mapping)
    ]
    if status.get("podIP") is not None:
        raw_ips.insert(0, status.get("podIP"))
    for raw in raw_ips:
        text = string(raw, path="status.podIP", problems=problems)
        address = parse_address(text) if text else None
        if text and address is None:
            problems.append(Problem("status.podIP", f"must be an IP address, got {text!r}"))
        elif address is not None and address not in ips:
            ips.append(address)
    pod = _pod_from(
        metadata=metadata,
        spec=body.get("spec"),
        spec_path="spec",
        default_namespace=default_namespace,
        problems=problems,
    )
    if problems:
        raise ObjectError(problems)
    if phase in _FINISHED_PHASES:
        return None
    return Pod(
        namespace=pod.namespace,
        name=pod.name,
        labels=pod.labels,
        named_ports=pod.named_ports,
        ips=tuple(ips),
        host_network=pod.host_network,
    )


def parse_workload(body: Mapping[str, Any], *, default_namespace: str = "default") -> Pod:
    """The representative pod of a workload controller (a kind in TEMPLATE_PATHS)."""
    problems: list[Problem] = []
    kind = str(body.get("kind"))
    metadata = mapping(body.get("metadata"), path="metadata", problems=problems)
    template: object = body
    path = ""
    for part in TEMPLATE_PATHS[kind]:
        template = mapping(template, path=path or "object", problems=problems).get(part)
        path = f"{path}.{part}" if path else part
    template_body = mapping(template, path=path, problems=problems)
    template_metadata = mapping(
        template_body.get("metadata"), path=f"{path}.metadata", problems=problems
    )
    pod = _pod_from(
        metadata={
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "labels": template_metadata.get("labels"),
        },
        spec=template_body.get("spec"),
        spec_path=f"{path}.spec",
        default_namespace=default_namespace,
        problems=problems,
        labels_path=f"{path}.metadata.labels",
    )
    if problems:
        raise ObjectError(problems)
    return Pod(
        namespace=pod.namespace,
        name=pod.name,
        labels=pod.labels,
        named_ports=pod.named_ports,
        host_network=pod.host_network,
        kind=kind,
    )


def _pod_from(
    *,
    metadata: Mapping[str, Any],
    spec: object,
    spec_path: str,
    default_namespace: str,
    problems: list[Problem],
    labels_path: str = "metadata.labels",
) -> Pod:
    namespace, name = identity(metadata, default_namespace=default_namespace, problems=problems)
    pod_labels = labels(metadata.get("labels"), path=labels_path, problems=problems)
    body = mapping(spec, path=spec_path, problems=problems)
    host_network = body.get("hostNetwork", False)
    if not isinstance(host_network, bool):
        problems.append(Problem(f"{spec_path}.hostNetwork", "must be a boolean"))
        host_network = False
    named_ports: list[NamedPort] = []
    containers = items(body.get("containers"), path=f"{spec_path}.containers", problems=problems)
    for index, raw_container in enumerate(containers):
        container_path = f"{spec_path}.containers[{index}]"
        container = mapping(raw_container, path=container_path, problems=problems)
        for position, raw_port in enumerate(
            items(container.get("ports"), path=f"{container_path}.ports", problems=problems)
        ):
            port_path = f"{container_path}.ports[{position}]"
            port = mapping(raw_port, path=port_path, problems=problems)
            number = port.get("containerPort")
            if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
                problems.append(Problem(f"{port_path}.containerPort", "must be a number 1-65535"))
                continue
            protocol = port.get("protocol") or "TCP"
            if protocol not in PROTOCOLS:
                problems.append(
                    Problem(f"{port_path}.protocol", f"must be one of {', '.join(PROTOCOLS)}")
                )
                continue
            port_name = string(port.get("name"), path=f"{port_path}.name", problems=problems)
            if port_name:
                named_ports.append(NamedPort(port_name, protocol, number))
    return Pod(
        namespace=namespace,
        name=name,
        labels=pod_labels,
        named_ports=tuple(named_ports),
        host_network=host_network,
    )
