"""Reads from the API server: namespaces, profiles and managed NetworkPolicies.

Cluster layer. The operator itself reads through Kopf's watches and indexes; these calls serve
the CLI (`netiso diff`, `netiso status`) and the conflict check before a create.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from netiso import conventions
from netiso.cluster.client import ApiClient

MANAGED_SELECTOR = f"{conventions.MANAGED_BY_LABEL}={conventions.MANAGED_BY_VALUE}"
OPTED_IN_SELECTOR = conventions.PROFILE_LABEL
NETWORKING = "/apis/networking.k8s.io/v1"
PROFILES = f"/apis/{conventions.GROUP}/{conventions.VERSION}/{conventions.PLURAL}"
NAMESPACES = "/api/v1/namespaces"
ALL_POLICIES = f"{NETWORKING}/networkpolicies"


def policy_path(namespace: str, name: str | None = None) -> str:
    """REST path of a namespace's NetworkPolicies, or of one of them."""
    base = f"{NETWORKING}/namespaces/{namespace}/networkpolicies"
    return f"{base}/{name}" if name else base


def profile_path(name: str, *, status: bool = False) -> str:
    """REST path of an IsolationProfile (or its status subresource)."""
    return f"{PROFILES}/{name}" + ("/status" if status else "")


async def list_all(
    api: ApiClient, path: str, *, label_selector: str | None = None, page: int = 500
) -> AsyncIterator[dict[str, Any]]:
    """Every item of a collection, fetched in pages so a 10,000-item list stays small."""
    token = ""
    while True:
        params = {"limit": str(page)}
        if label_selector:
            params["labelSelector"] = label_selector
        if token:
            params["continue"] = token
        _, payload = await api.request("GET", path, verb="list", params=params)
        for item in payload.get("items") or []:
            yield item
        token = (payload.get("metadata") or {}).get("continue") or ""
        if not token:
            return


async def get_object(api: ApiClient, path: str) -> dict[str, Any] | None:
    """One object, or None when it does not exist."""
    status, payload = await api.request("GET", path, verb="get", allow_statuses=frozenset({404}))
    return None if status == 404 else payload


async def managed_policies(api: ApiClient, namespace: str | None = None) -> list[dict[str, Any]]:
    """Managed NetworkPolicies in one namespace, or in all of them."""
    path = policy_path(namespace) if namespace else ALL_POLICIES
    return [item async for item in list_all(api, path, label_selector=MANAGED_SELECTOR)]


async def opted_in_namespaces(api: ApiClient) -> list[dict[str, Any]]:
    """Namespaces that carry the opt-in label, whatever its value."""
    return [item async for item in list_all(api, NAMESPACES, label_selector=OPTED_IN_SELECTOR)]


async def profiles(api: ApiClient) -> list[dict[str, Any]]:
    """All IsolationProfiles."""
    return [item async for item in list_all(api, PROFILES)]
