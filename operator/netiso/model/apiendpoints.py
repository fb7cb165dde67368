"""The API server's endpoints, as the `default/kubernetes` EndpointSlices list them.

Model layer, pure. A profile's `apiServer` allow is rendered from this value (one `/32` or
`/128` ipBlock per address, on the ports its slice names); the operator keeps it from the
EndpointSlice watch, the CLI from a read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from netiso.model.profiles import PortRule, Protocol

NAMESPACE: Final = "default"
SERVICE: Final = "kubernetes"
SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"
SLICES_PATH: Final = f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices"
SLICES_SELECTOR: Final = f"{SERVICE_NAME_LABEL}={SERVICE}"


@dataclass(frozen=True)
class EndpointGroup:
    """Addresses (as /32 or /128 CIDRs, sorted) that serve the same ports."""

    cidrs: tuple[str, ...]
    ports: tuple[PortRule, ...]

    def to_context(self) -> dict[str, Any]:
        """JSON-ready, for the template."""
        return {
            "cidrs": list(self.cidrs),
            "ports": [{"protocol": str(p.protocol), "port": p.port} for p in self.ports],
        }


@dataclass(frozen=True)
class ApiServerEndpoints:
    """Every address the API server's Service sends to, grouped by ports; empty when none is
    known (the allow then admits nothing)."""

    groups: tuple[EndpointGroup, ...] = ()

    def describe(self) -> str:
        """`10.0.0.1/32, 10.0.0.2/32 on TCP 6443`, or `no endpoint`."""
        parts = [
            f"{', '.join(group.cidrs)} on "
            + ", ".join(f"{port.protocol} {port.port}" for port in group.ports)
            for group in self.groups
        ]
        return "; ".join(parts) or "no endpoint"


def api_server_endpoints(slices: Iterable[Mapping[str, Any]]) -> ApiServerEndpoints:
    """The endpoints of the given EndpointSlices, canonical (sorted, merged), so the same
    endpoints always give the same value whatever the slices' order or split.

    Every listed address counts, ready or not: the API server's own reconciler lists only the
    live servers, and a connection to a server that is shutting down must finish. Ports
    without a number (a slice may list none) and addresses that are not IPs are skipped.
    """
    by_ports: dict[tuple[PortRule, ...], set[str]] = {}
    for body in slices:
        ports = tuple(
            sorted(
                {
                    PortRule(Protocol(str(port.get("protocol") or "TCP")), port["port"])
                    for port in _items(body.get("ports"))
                    if isinstance(port.get("port"), int)
                    and str(port.get("protocol") or "TCP") in Protocol.__members__.values()
                },
                key=lambda rule: (str(rule.protocol), str(rule.port)),
            )
        )
        if not ports:
            continue
        cidrs = by_ports.setdefault(ports, set())
        for endpoint in _items(body.get("endpoints")):
            for address in endpoint.get("addresses") or ():
                try:
                    ip = ipaddress.ip_address(str(address))
                except ValueError:
                    continue
                cidrs.add(str(ipaddress.ip_network(ip)))
    groups = sorted(
        (
            EndpointGroup(cidrs=tuple(sorted(cidrs, key=_cidr_order)), ports=ports)
            for ports, cidrs in by_ports.items()
            if cidrs
        ),
        key=lambda group: (group.cidrs, str(group.ports)),
    )
    return ApiServerEndpoints(groups=tuple(groups))


def _cidr_order(cidr: str) -> tuple[int, int]:
    network = ipaddress.ip_network(cidr)
    return network.version, int(network.network_address)


def _items(raw: object) -> list[Mapping[str, Any]]:
    return [item for item in raw if isinstance(item, Mapping)] if isinstance(raw, list) else []
