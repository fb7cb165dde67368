"""Reads from the API server: namespaces, profiles and managed NetworkPolicies.

Cluster layer. The operator reads once at startup (`list_everything`, summarised page by page)
and then through its watches; the other calls serve the CLI (`netiso diff`, `netiso status`)
and the conflict check before a create.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from netiso import conventions
from netiso.cluster.caching import resource_version
from netiso.cluster.client import ApiClient
from netiso.cluster.drifts import LivePolicy
from netiso.model.entries import NamespaceEntry, ProfileEntry

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


@dataclass(frozen=True)
class Listing:
    """The startup listing, summarised: (resourceVersion, summary) pairs per kind."""

    namespaces: tuple[tuple[str, NamespaceEntry], ...]
    policies: tuple[tuple[str, LivePolicy], ...]
    profiles: tuple[tuple[str, ProfileEntry], ...]


async def list_everything(api: ApiClient) -> Listing:
    """List opted-in namespaces, managed policies and profiles, summarising page by page.

    Each page is summarised as it arrives, so at most one page of full objects is in memory:
    holding 40,000 policy bodies at once cost 200 MiB at 10,000 namespaces.
    """
    namespaces = tuple(
        [
            (resource_version(body), NamespaceEntry.from_body(body))
            async for body in list_all(api, NAMESPACES, label_selector=OPTED_IN_SELECTOR)
        ]
    )
    policies = tuple(
        [
            (resource_version(body), LivePolicy.from_body(body))
            async for body in list_all(api, ALL_POLICIES, label_selector=MANAGED_SELECTOR)
        ]
    )
    profiles = tuple(
        [
            (resource_version(body), ProfileEntry.from_body(body))
            async for body in list_all(api, PROFILES)
        ]
    )
    return Listing(namespaces=namespaces, policies=policies, profiles=profiles)
