"""What `explain --from/--to` and `matrix TARGET` name, the way kubectl names it: a pod, a
Service, a workload, a label selector, an IP address or a CIDR, each turned into the pods (or
addresses) it stands for.

Top layer beside cli: parsing is pure text; resolution reads a reachability Snapshot, whose
Services and controllers gathering.py fills from files or the live cluster. Whatever cannot be
found is a UsageError naming the option and the object (exit status 2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from netiso.cli.exits import UsageError
from netiso.model.selection import LabelSelector
from netiso.reachability.addresses import Address, Network, parse_address, parse_network, segments
from netiso.reachability.evaluation import Endpoint
from netiso.reachability.services import Service, ServicePort
from netiso.reachability.snapshots import Snapshot
from netiso.reachability.workloads import Pod

POD: Final = "Pod"
SERVICE: Final = "Service"
# A pod key (`ns/name`, `ns/name[Kind]`), or a name found by its prefix (`ns/name`).
KEY: Final = "Key"
SELECTOR: Final = "Selector"
ADDRESS: Final = "Address"
NETWORK: Final = "Network"
# kubectl's names and short names of the kinds a target may name.
KINDS: Final = {
    **dict.fromkeys(("po", "pod", "pods"), POD),
    **dict.fromkeys(("svc", "service", "services"), SERVICE),
    **dict.fromkeys(("deploy", "deployment", "deployments"), "Deployment"),
    **dict.fromkeys(("sts", "statefulset", "statefulsets"), "StatefulSet"),
    **dict.fromkeys(("ds", "daemonset", "daemonsets"), "DaemonSet"),
    **dict.fromkeys(("rs", "replicaset", "replicasets"), "ReplicaSet"),
}
SHORT_NAMES: Final = {
    POD: "pod",
    SERVICE: "svc",
    "Deployment": "deploy",
    "StatefulSet": "sts",
    "DaemonSet": "ds",
    "ReplicaSet": "rs",
}
# Pod names and keys never hold these; label selectors always do.
_SELECTOR = re.compile(r"=|^\s*!|\s(not)?in\s*\(")
# Kubernetes object names (DNS subdomains).
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


@dataclass(frozen=True)
class Reference:
    """A target as typed: its kind, its namespace (None: the default one, or every namespace
    for a selector with -A), its name (or selector, or address) and a Service port."""

    text: str
    kind: str
    namespace: str | None
    name: str
    port: str = ""

    @property
    def fetched(self) -> bool:
        """Whether the object must be read (a Service or a controller); pods come in bulk."""
        return self.kind not in (POD, KEY, SELECTOR, ADDRESS, NETWORK)


@dataclass(frozen=True)
class Target:
    """What a reference stands for: endpoints with one shown name each (a pod's key, or the
    CIDR piece an address answers for) and, for a Service, the Service."""

    label: str
    members: tuple[Endpoint, ...]
    names: tuple[str, ...]
    service: Service | None = None

    @property
    def single(self) -> bool:
        """A plain pod or address: printed as before, without a heading."""
        return self.label == "" and len(self.members) == 1


def parse_reference(text: str, *, option: str) -> Reference:
    """`ns/pod`, `ns/name[Kind]`, `KIND/NAME`, `ns/KIND/NAME`, `svc/NAME:PORT`, a bare name, a
    label selector (`app=web`), an IP address or a CIDR."""
    text = text.strip()
    if not text:
        raise UsageError(f"{option}: empty")
    if parse_address(text) is not None:
        return Reference(text, ADDRESS, None, text)
    if parse_network(text) is not None:
        return Reference(text, NETWORK, None, text)
    if _SELECTOR.search(text):
        return Reference(text, SELECTOR, None, text)
    parts = text.split("/")
    if len(parts) == 3 and parts[1].lower() in KINDS:
        namespace, kind, name = parts[0], KINDS[parts[1].lower()], parts[2]
    elif len(parts) == 2 and parts[0].lower() in KINDS:
        namespace, kind, name = None, KINDS[parts[0].lower()], parts[1]
    elif len(parts) == 2:
        namespace, kind, name = parts[0], KEY, parts[1]
    elif len(parts) == 1:
        namespace, kind, name = None, KEY, parts[0]
    else:
        raise UsageError(
            f"{option}: expected NAMESPACE/POD, KIND/NAME, NAMESPACE/KIND/NAME, a label "
            f"selector or an IP address, got {text!r}"
        )
    port = ""
    if kind == SERVICE and ":" in name:
        name, _, port = name.partition(":")
        if not port:
            raise UsageError(f"{option}: {text!r}: a port must follow ':'")
    reference = Reference(text, kind, namespace, name, port)
    if not name or namespace == "":
        raise UsageError(f"{option}: cannot read {text!r}")
    # Read by name from the API server: only a name it could hold goes into a request's path.
    if reference.fetched and not all(_NAME.fullmatch(part) for part in (name, namespace or "x")):
        raise UsageError(f"{option}: {text!r}: not a Kubernetes object name")
    return reference


def resolve_target(
    snapshot: Snapshot,
    reference: Reference,
    *,
    option: str,
    namespace: str,
    all_namespaces: bool = False,
) -> Target:
    """The pods or addresses a reference stands for; `namespace` is where one without a
    namespace is looked for (-n, else the context's), `all_namespaces` widens a selector."""
    where = reference.namespace or namespace
    kind = reference.kind
    if kind == ADDRESS:
        address = parse_address(reference.name)
        assert address is not None  # parse_reference checked it
        endpoint = _address_endpoint(snapshot, address, option=option, text=reference.text)
        name = endpoint.key if isinstance(endpoint, Pod) else str(endpoint)
        return Target("", (endpoint,), (name,))
    if kind == NETWORK:
        return _network_target(snapshot, reference, option=option)
    if kind == SELECTOR:
        # Imported here: the kubectl selector syntax lives with matrix's -l.
        from netiso.cli.matrices import parse_label_query

        selector = parse_label_query(reference.name)
        scope = "every namespace" if all_namespaces else f"namespace {where}"
        pods = _selected(snapshot, selector, namespace=None if all_namespaces else where)
        if not pods:
            raise UsageError(f"{option}: no pod in {scope} matches {reference.name!r}")
        return _pods_target(f"pods matching {reference.name} in {scope}", pods)
    if kind == KEY:
        pod = _pod_by_key(snapshot, f"{where}/{reference.name}", option=option)
        return Target("", (pod,), (pod.key,))
    if kind == POD:
        found = snapshot.pod(f"{where}/{reference.name}")
        if found is None:
            raise UsageError(f"{option}: no pod {where}/{reference.name} in the input")
        return Target("", (found,), (found.key,))
    if kind == SERVICE:
        service = next(
            (s for s in snapshot.services if (s.namespace, s.name) == (where, reference.name)),
            None,
        )
        if service is None:
            raise UsageError(f"{option}: no Service {where}/{reference.name} in the input")
        if service.selector is None:
            raise UsageError(
                f"{option}: Service {service.key} has no selector: its endpoints are not "
                "pods netiso can name (ask about the pods or addresses behind it)"
            )
        pods = tuple(
            pod for pod in snapshot.pods_by_namespace.get(where, ()) if service.selects(pod)
        )
        if not pods:
            shown = ",".join(f"{key}={value}" for key, value in sorted(service.selector.items()))
            raise UsageError(
                f"{option}: Service {service.key} selects no pod in the input (selector {shown})"
            )
        return _pods_target(f"svc/{service.name} in {where}", pods, service=service)
    return _controller_target(snapshot, reference, where=where, option=option)


def service_port(service: Service, text: str, *, protocol: str | None, option: str) -> ServicePort:
    """The Service port `text` names (a number or a name); with no text, its only port."""
    shown = ", ".join(entry.describe() for entry in service.ports) or "none"
    if not text:
        if len(service.ports) == 1:
            return service.ports[0]
        raise UsageError(
            f"{option}: Service {service.key} has {len(service.ports)} ports ({shown}): name "
            f"one, as svc/{service.name}:PORT or with --port"
        )
    found = service.port(text, protocol)
    if found is None:
        raise UsageError(f"{option}: Service {service.key} has no port {text} (ports: {shown})")
    return found


def _address_endpoint(snapshot: Snapshot, address: Address, *, option: str, text: str) -> Endpoint:
    """The one pod carrying the IP (hostNetwork pods excepted under --host-network=node), or
    the address itself, outside the input."""
    owners = [pod for pod in snapshot.pods if address in pod.ips and snapshot.selectable(pod)]
    if len(owners) > 1:
        shown = ", ".join(pod.key for pod in owners)
        raise UsageError(f"{option}: {text} is the IP of several pods ({shown})")
    return owners[0] if owners else address


def _network_target(snapshot: Snapshot, reference: Reference, *, option: str) -> Target:
    """One address per piece of the range that every ipBlock treats alike."""
    network = parse_network(reference.name)
    assert network is not None  # parse_reference checked it
    if any(pod.ips and any(ip in network for ip in pod.ips) for pod in snapshot.pods):
        raise UsageError(
            f"{option}: {reference.text} holds pod IPs of the input: name the pods, or a range "
            "outside the cluster"
        )
    blocks = (
        peer.ip_block
        for policy in snapshot.policies
        for rule in (*policy.ingress, *policy.egress)
        for peer in rule.peers
        if peer.ip_block is not None
    )
    pieces: Sequence[Network] = segments(network, blocks)
    return Target(
        f"{network} ({len(pieces)} range(s) the policies treat alike)",
        tuple(piece.network_address for piece in pieces),
        tuple(str(piece) for piece in pieces),
    )


def _pod_by_key(snapshot: Snapshot, text: str, *, option: str) -> Pod:
    """A pod by `ns/name` or `ns/name[Kind]`, or the one workload whose key starts so."""
    found = snapshot.pod(text)
    if found is not None:
        return found
    namespace = text.partition("/")[0]
    candidates = [
        pod
        for pod in snapshot.pods_by_namespace.get(namespace, ())
        if pod.key.startswith(f"{text}[")
    ]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        shown = ", ".join(pod.key for pod in candidates)
        raise UsageError(f"{option}: {text} is ambiguous: {shown}")
    raise UsageError(f"{option}: no pod {text} in the input")


def _controller_target(
    snapshot: Snapshot, reference: Reference, *, where: str, option: str
) -> Target:
    kind, name = reference.kind, reference.name
    label = f"{SHORT_NAMES[kind]}/{name} in {where}"
    controller = next(
        (c for c in snapshot.controllers if (c.kind, c.namespace, c.name) == (kind, where, name)),
        None,
    )
    if controller is not None:
        pods = controller.pods(snapshot.pods_by_namespace.get(where, ()))
        if not pods:
            raise UsageError(f"{option}: {kind} {where}/{name} has no pods in the input")
        return _pods_target(label, pods)
    representative = snapshot.pod(f"{where}/{name}[{kind}]")
    if representative is None:
        raise UsageError(f"{option}: no {kind} {where}/{name} in the input")
    return _pods_target(label, (representative,))


def _selected(
    snapshot: Snapshot, selector: LabelSelector, *, namespace: str | None
) -> tuple[Pod, ...]:
    pods: Iterable[Pod] = (
        snapshot.pods if namespace is None else snapshot.pods_by_namespace.get(namespace, ())
    )
    return tuple(pod for pod in pods if selector.matches(pod.labels))


def _pods_target(label: str, pods: Sequence[Pod], *, service: Service | None = None) -> Target:
    ordered = tuple(sorted(pods, key=lambda pod: pod.key))
    return Target(label, ordered, tuple(pod.key for pod in ordered), service=service)
