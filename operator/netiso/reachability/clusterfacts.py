"""What the cluster holds that a profile depends on, as plain facts: pods (ports, probes,
readiness), Services, EndpointSlices and NodeLocal DNSCache, parsed from API objects.

Reachability layer, pure: `netiso doctor` parses them from what it lists, and
`reachability.dependencies` judges a profile against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from netiso.model.apiendpoints import ApiServerEndpoints
from netiso.reachability.workloads import NamedPort, Pod

SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"
# NodeLocal DNSCache's DaemonSet, labelled as upstream's cluster/addons/dns/nodelocaldns.
NODE_LOCAL_DNS_LABEL: Final = "k8s-app=node-local-dns"
_FINISHED_PHASES: Final = frozenset({"Succeeded", "Failed"})
_PROBE_KINDS: Final = ("readinessProbe", "livenessProbe", "startupProbe")
_PROBE_HANDLERS: Final = ("httpGet", "tcpSocket", "grpc")


@dataclass(frozen=True)
class ContainerPort:
    """A port a container declares; `name` is "" when it has none."""

    protocol: str
    number: int
    name: str = ""

    def words(self) -> str:
        named = f" ({self.name})" if self.name else ""
        return f"{self.protocol} {self.number}{named}"


@dataclass(frozen=True)
class Probe:
    """A kubelet probe that opens a connection to the pod: which, how, on which port."""

    kind: str
    handler: str
    port: int | str


@dataclass(frozen=True)
class PodFacts:
    """What the checks need of a pod. `running`: not finished (Succeeded/Failed)."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    running: bool = True
    host_network: bool = False
    ports: tuple[ContainerPort, ...] = ()
    probes: tuple[Probe, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def as_destination(self) -> Pod:
        """The pod as the reachability engine sees it, named ports resolvable."""
        named = tuple(
            NamedPort(name=port.name, protocol=port.protocol, number=port.number)
            for port in self.ports
            if port.name
        )
        return Pod(namespace=self.namespace, name=self.name, labels=self.labels, named_ports=named)


@dataclass(frozen=True)
class ServiceFacts:
    """A Service: its namespace, name and the port numbers it serves."""

    namespace: str
    name: str
    ports: tuple[int, ...] = ()
    cluster_ip: str = ""


@dataclass(frozen=True)
class SlicePort:
    """An EndpointSlice port: the number the endpoints listen on (the Service's targetPort)."""

    protocol: str
    number: int
    name: str = ""


@dataclass(frozen=True)
class SliceEndpoint:
    """One endpoint: its pod (`pod` "" when not a pod), addresses and readiness."""

    pod: str
    addresses: tuple[str, ...]
    ready: bool


@dataclass(frozen=True)
class SliceFacts:
    """An EndpointSlice of a Service."""

    namespace: str
    name: str
    service: str
    ports: tuple[SlicePort, ...] = ()
    endpoints: tuple[SliceEndpoint, ...] = ()


@dataclass(frozen=True)
class NodeLocalDns:
    """A NodeLocal DNSCache DaemonSet and the addresses it listens on (from `-localip`)."""

    namespace: str
    name: str
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterFacts:
    """What the checks know of the cluster. `node_local` None: not looked for; `api_server`
    None: the API server's endpoints not read; `api_service`: the `default/kubernetes` Service."""

    pods: tuple[PodFacts, ...] = ()
    services: tuple[ServiceFacts, ...] = ()
    slices: tuple[SliceFacts, ...] = ()
    node_local: tuple[NodeLocalDns, ...] | None = None
    api_server: ApiServerEndpoints | None = None
    api_service: ServiceFacts | None = None

    def pods_in(self, namespace: str) -> list[PodFacts]:
        return [pod for pod in self.pods if pod.namespace == namespace and pod.running]


def _dict(raw: object) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}


def _list(raw: object) -> list[Any]:
    return raw if isinstance(raw, list) else []


def _labels(raw: object) -> dict[str, str]:
    return {str(key): str(value) for key, value in _dict(raw).items()}


def pod_facts(body: Mapping[str, Any]) -> PodFacts:
    """A Pod object as the checks see it (lenient: missing fields are empty)."""
    metadata = _dict(body.get("metadata"))
    spec = _dict(body.get("spec"))
    ports: list[ContainerPort] = []
    probes: list[Probe] = []
    for container in _list(spec.get("containers")):
        container = _dict(container)
        for port in _list(container.get("ports")):
            port = _dict(port)
            number = port.get("containerPort")
            if isinstance(number, int):
                protocol = str(port.get("protocol") or "TCP")
                ports.append(ContainerPort(protocol, number, str(port.get("name") or "")))
        for kind in _PROBE_KINDS:
            probe = _dict(container.get(kind))
            for handler in _PROBE_HANDLERS:
                target = probe.get(handler)
                if isinstance(target, Mapping) and isinstance(target.get("port"), int | str):
                    probes.append(Probe(kind=kind, handler=handler, port=target["port"]))
    phase = _dict(body.get("status")).get("phase")
    return PodFacts(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        labels=_labels(metadata.get("labels")),
        running=phase not in _FINISHED_PHASES,
        host_network=spec.get("hostNetwork") is True,
        ports=tuple(ports),
        probes=tuple(probes),
    )


def service_facts(body: Mapping[str, Any]) -> ServiceFacts:
    metadata = _dict(body.get("metadata"))
    ports = tuple(
        port["port"]
        for port in map(_dict, _list(_dict(body.get("spec")).get("ports")))
        if isinstance(port.get("port"), int)
    )
    cluster_ip = _dict(body.get("spec")).get("clusterIP")
    return ServiceFacts(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        ports=ports,
        cluster_ip=cluster_ip if isinstance(cluster_ip, str) and cluster_ip != "None" else "",
    )


def slice_facts(body: Mapping[str, Any]) -> SliceFacts:
    """An EndpointSlice; an endpoint is ready unless its `ready` condition is false (the API's
    rule: an unknown condition counts as ready)."""
    metadata = _dict(body.get("metadata"))
    ports = tuple(
        SlicePort(str(port.get("protocol") or "TCP"), port["port"], str(port.get("name") or ""))
        for port in map(_dict, _list(body.get("ports")))
        if isinstance(port.get("port"), int)
    )
    endpoints = []
    for endpoint in map(_dict, _list(body.get("endpoints"))):
        reference = _dict(endpoint.get("targetRef"))
        pod = str(reference.get("name") or "") if reference.get("kind") == "Pod" else ""
        ready = _dict(endpoint.get("conditions")).get("ready") is not False
        addresses = tuple(str(address) for address in _list(endpoint.get("addresses")))
        endpoints.append(SliceEndpoint(pod=pod, addresses=addresses, ready=ready))
    return SliceFacts(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        service=_labels(metadata.get("labels")).get(SERVICE_NAME_LABEL, ""),
        ports=ports,
        endpoints=tuple(endpoints),
    )


def node_local_dns(body: Mapping[str, Any]) -> NodeLocalDns:
    """A NodeLocal DNSCache DaemonSet; its addresses from the containers' `-localip` argument
    (`-localip 169.254.20.10,10.96.0.10` or `-localip=...`)."""
    metadata = _dict(body.get("metadata"))
    template = _dict(_dict(_dict(body.get("spec")).get("template")).get("spec"))
    addresses: list[str] = []
    for container in map(_dict, _list(template.get("containers"))):
        words = [str(word) for word in _list(container.get("args"))]
        words += [str(word) for word in _list(container.get("command"))]
        for index, word in enumerate(words):
            value = None
            if word.lstrip("-") == "localip" and index + 1 < len(words):
                value = words[index + 1]
            elif word.lstrip("-").startswith("localip="):
                value = word.partition("=")[2]
            if value:
                addresses += [part.strip() for part in value.split(",") if part.strip()]
    return NodeLocalDns(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        addresses=tuple(dict.fromkeys(addresses)),
    )
