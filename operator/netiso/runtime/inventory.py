"""Reads for reachability: namespaces, pods and every NetworkPolicy, with the user's credentials.

Cluster layer. Unlike reading.py (netiso's own objects), these list everything a user may see,
page by page, for `netiso matrix` and `netiso explain` on a live cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netiso.runtime.client import ApiClient
from netiso.runtime.reading import ALL_POLICIES, NAMESPACES, get_object, list_all, policy_path

ALL_PODS = "/api/v1/pods"
# Where the objects a user may name live: a Service, or a workload controller.
NAMED_PATHS = {
    "Service": ("/api/v1", "services"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "StatefulSet": ("/apis/apps/v1", "statefulsets"),
    "DaemonSet": ("/apis/apps/v1", "daemonsets"),
    "ReplicaSet": ("/apis/apps/v1", "replicasets"),
}


@dataclass(frozen=True)
class Inventory:
    """The raw objects reachability needs, as the API server returned them."""

    namespaces: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    policies: list[dict[str, Any]]


async def read_inventory(api: ApiClient, *, namespace: str | None = None) -> Inventory:
    """Every namespace, and the pods and NetworkPolicies of one namespace or of all of them.

    Namespaces are always listed in full: namespaceSelector peers match their labels.
    """
    pods_path = f"{NAMESPACES}/{namespace}/pods" if namespace else ALL_PODS
    policies_path = policy_path(namespace) if namespace else ALL_POLICIES
    return Inventory(
        namespaces=[item async for item in list_all(api, NAMESPACES)],
        pods=[item async for item in list_all(api, pods_path)],
        policies=[item async for item in list_all(api, policies_path)],
    )


async def read_named(
    api: ApiClient, *, kind: str, namespace: str, name: str
) -> tuple[str, dict[str, Any] | None]:
    """One Service or workload controller (a kind of NAMED_PATHS) by name; None when absent.
    A single get, so naming a Service needs `get services` in its namespace, no more."""
    prefix, plural = NAMED_PATHS[kind]
    return kind, await get_object(api, f"{prefix}/namespaces/{namespace}/{plural}/{name}")
