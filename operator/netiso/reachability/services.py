"""Services and workload controllers as people name them: which pods each stands for, and which
pod port a Service port leads to.

Reachability layer, pure. Policies see pod addresses and container ports after a Service's
address translation, so a question about `svc/NAME:PORT` is a question about the pods the
Service selects on the port its `targetPort` names (a number, or a container port name resolved
on each pod). A controller (Deployment, StatefulSet, DaemonSet, ReplicaSet) stands for the pods
its `spec.selector` selects in its namespace, and for its representative pod when the input
holds the controller itself (see workloads.parse_workload).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from netiso.model.problems import Problem
from netiso.model.selection import LabelSelector, parse_label_selector
from netiso.reachability.accessors import (
    ObjectError,
    identity,
    items,
    labels,
    mapping,
    string,
)
from netiso.reachability.portsets import PROTOCOLS
from netiso.reachability.workloads import Pod

# The controllers a user may name, by the kind in their objects.
CONTROLLER_KINDS: Final = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


@dataclass(frozen=True)
class ServicePort:
    """One entry of a Service's `spec.ports`: `target` is a number or a container port name."""

    name: str
    port: int
    target: int | str
    protocol: str

    def describe(self) -> str:
        """`80/TCP (http) -> targetPort 8080`."""
        name = f" ({self.name})" if self.name else ""
        return f"{self.port}/{self.protocol}{name} -> targetPort {self.target}"


@dataclass(frozen=True)
class Service:
    """A Service: its pod selector (None when it has none: its endpoints are managed by hand
    or it is an ExternalName) and its ports."""

    namespace: str
    name: str
    selector: Mapping[str, str] | None = field(default=None, hash=False)
    ports: tuple[ServicePort, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def port(self, text: str, protocol: str | None = None) -> ServicePort | None:
        """The service port named `text`, or numbered `text` (protocol None: any)."""
        for entry in self.ports:
            if protocol is not None and entry.protocol != protocol:
                continue
            if entry.name == text or (text.isdigit() and entry.port == int(text)):
                return entry
        return None

    def selects(self, pod: Pod) -> bool:
        """Whether the Service sends traffic to the pod (same namespace, every selector label)."""
        if not self.selector or pod.namespace != self.namespace:
            return False
        return all(pod.labels.get(key) == value for key, value in self.selector.items())


def target_port(entry: ServicePort, pod: Pod) -> int | None:
    """The pod port a Service port leads to on `pod`; None when the named target port is not
    one of the pod's container ports (the Service sends that pod nothing on this port)."""
    if isinstance(entry.target, int):
        return entry.target
    numbers = pod.resolve(entry.target, entry.protocol)
    return numbers[0] if numbers else None


@dataclass(frozen=True)
class Controller:
    """A workload controller: the pods of its namespace its `spec.selector` selects."""

    kind: str
    namespace: str
    name: str
    selector: LabelSelector

    def selects(self, pod: Pod) -> bool:
        """A pod of the controller: the representative pod built from it, or a pod of its
        namespace its selector selects (an empty selector selects nothing, as the API server
        refuses one)."""
        if pod.namespace != self.namespace:
            return False
        if pod.kind:
            return pod.kind == self.kind and pod.name == self.name
        return not self.selector.selects_all and self.selector.matches(pod.labels)

    def pods(self, pods: Iterable[Pod]) -> tuple[Pod, ...]:
        """Its running pods, when the input holds any; else its representative pod."""
        found = [pod for pod in pods if self.selects(pod)]
        running = tuple(pod for pod in found if not pod.kind)
        return running or tuple(found)


def parse_service(body: Mapping[str, Any], *, default_namespace: str = "default") -> Service:
    """A Service object; ObjectError names bad fields."""
    problems: list[Problem] = []
    metadata = mapping(body.get("metadata"), path="metadata", problems=problems)
    namespace, name = identity(metadata, default_namespace=default_namespace, problems=problems)
    spec = mapping(body.get("spec"), path="spec", problems=problems)
    selector = labels(spec.get("selector"), path="spec.selector", problems=problems)
    ports: list[ServicePort] = []
    for index, raw in enumerate(items(spec.get("ports"), path="spec.ports", problems=problems)):
        path = f"spec.ports[{index}]"
        entry = mapping(raw, path=path, problems=problems)
        number = entry.get("port")
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
            problems.append(Problem(f"{path}.port", "must be a number 1-65535"))
            continue
        protocol = entry.get("protocol") or "TCP"
        if protocol not in PROTOCOLS:
            problems.append(Problem(f"{path}.protocol", f"must be one of {', '.join(PROTOCOLS)}"))
            continue
        target = entry.get("targetPort", number)
        if isinstance(target, bool) or not isinstance(target, int | str):
            problems.append(Problem(f"{path}.targetPort", "must be a number or a port name"))
            continue
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        if isinstance(target, int) and not 1 <= target <= 65535:
            problems.append(Problem(f"{path}.targetPort", "must be 1-65535"))
            continue
        port_name = string(entry.get("name"), path=f"{path}.name", problems=problems)
        ports.append(ServicePort(port_name, number, target, protocol))
    if problems:
        raise ObjectError(problems)
    return Service(namespace, name, selector or None, tuple(ports))


def parse_controller(body: Mapping[str, Any], *, default_namespace: str = "default") -> Controller:
    """A Deployment, StatefulSet, DaemonSet or ReplicaSet: its kind, identity and selector."""
    problems: list[Problem] = []
    kind = str(body.get("kind"))
    metadata = mapping(body.get("metadata"), path="metadata", problems=problems)
    namespace, name = identity(metadata, default_namespace=default_namespace, problems=problems)
    spec = mapping(body.get("spec"), path="spec", problems=problems)
    selector = parse_label_selector(
        spec.get("selector") or {}, path="spec.selector", problems=problems
    )
    if problems:
        raise ObjectError(problems)
    return Controller(kind, namespace, name, selector)
