"""Reads from the API server: namespaces, profiles and NetworkPolicies.

Cluster layer. The operator reads once at startup (`list_everything`, summarised page by page)
and then through its watches; the other calls serve the CLI (`netiso diff`, `netiso status`)
and the conflict check before a create.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

from netiso import conventions
from netiso.model import apiendpoints
from netiso.observed.drifts import LivePolicy
from netiso.observed.entries import NamespaceEntry, ProfileEntry
from netiso.observed.foreign import ForeignPolicy, summarise
from netiso.observed.view import namespace_labels_of, resource_version
from netiso.runtime.client import ApiClient
from netiso.runtime.errors import Forbidden

log = logging.getLogger(__name__)

OPTED_IN_SELECTOR = conventions.PROFILE_LABEL
T = TypeVar("T")
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


async def list_pages(
    api: ApiClient,
    path: str,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    page: int = 500,
) -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
    """A collection in pages of (items, resourceVersion of the snapshot), so a 10,000-item
    list never sits in memory at once. Every page carries the first page's version: the
    continue token keeps the whole listing at that one snapshot."""
    token = ""
    version = ""
    while True:
        params = {"limit": str(page)}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if token:
            params["continue"] = token
        _, payload = await api.request("GET", path, verb="list", params=params)
        metadata = payload.get("metadata") or {}
        version = version or str(metadata.get("resourceVersion") or "")
        yield list(payload.get("items") or []), version
        token = metadata.get("continue") or ""
        if not token:
            return


async def list_all(
    api: ApiClient, path: str, *, label_selector: str | None = None, page: int = 500
) -> AsyncIterator[dict[str, Any]]:
    """Every item of a collection, fetched in pages so a 10,000-item list stays small."""
    async for items, _ in list_pages(api, path, label_selector=label_selector, page=page):
        for item in items:
            yield item


async def list_snapshot(
    api: ApiClient,
    path: str,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Every item of a collection and the resourceVersion to watch it from."""
    return await list_summarised(
        api, path, label_selector=label_selector, field_selector=field_selector, summary=dict
    )


async def list_summarised(
    api: ApiClient,
    path: str,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    summary: Callable[[dict[str, Any]], T],
) -> tuple[list[T], str]:
    """`summary(item)` of every item, page by page, and the resourceVersion to watch from."""
    summaries: list[T] = []
    version = ""
    async for items, page_version in list_pages(
        api, path, label_selector=label_selector, field_selector=field_selector
    ):
        summaries.extend(summary(item) for item in items)
        version = page_version
    return summaries, version


async def get_object(api: ApiClient, path: str) -> dict[str, Any] | None:
    """One object, or None when it does not exist."""
    status, payload = await api.request(
        "GET", path, verb="get", allow_statuses=frozenset({HTTPStatus.NOT_FOUND})
    )
    return None if status == HTTPStatus.NOT_FOUND else payload


async def find_named(api: ApiClient, collection: str, name: str) -> dict[str, Any] | None:
    """One object of a collection by a list narrowed to its name, or None when there is none.

    The operator's role lists what it manages but never gets one object: `list` already grants
    reading every object, so `get` beside it would be one more verb to prove and to audit.
    """
    _, payload = await api.request(
        "GET", collection, verb="list", params={"fieldSelector": f"metadata.name={name}"}
    )
    items = payload.get("items") or []
    return dict(items[0]) if items else None


def policies_in(api: ApiClient, namespace: str | None = None) -> AsyncIterator[dict[str, Any]]:
    """Every NetworkPolicy in one namespace, or in all of them, page by page."""
    return list_all(api, policy_path(namespace) if namespace else ALL_POLICIES)


async def opted_in_namespaces(api: ApiClient) -> list[dict[str, Any]]:
    """Namespaces that carry the opt-in label, whatever its value."""
    return [item async for item in list_all(api, NAMESPACES, label_selector=OPTED_IN_SELECTOR)]


async def profile_exists(api: ApiClient, name: str) -> bool:
    """Whether the profile is still there (the operator's role lists profiles but never gets
    one)."""
    return await find_named(api, PROFILES, name) is not None


async def profiles(api: ApiClient) -> list[dict[str, Any]]:
    """All IsolationProfiles."""
    return [item async for item in list_all(api, PROFILES)]


@dataclass(frozen=True)
class Listing:
    """The startup listing, summarised: (resourceVersion, summary) pairs per kind, and the
    collection resourceVersions the watches start from. `policies` are the ones wearing
    netiso's label, `foreign` every other NetworkPolicy."""

    namespaces: tuple[tuple[str, NamespaceEntry], ...]
    policies: tuple[tuple[str, LivePolicy], ...]
    profiles: tuple[tuple[str, ProfileEntry], ...]
    foreign: tuple[tuple[str, ForeignPolicy], ...] = ()
    namespaces_version: str = ""
    policies_version: str = ""
    # The labels of every namespace, opted in or not, and the version to watch them from.
    labels: tuple[tuple[str, Mapping[str, str]], ...] = ()
    labels_version: str = ""
    # The `default/kubernetes` EndpointSlices; None when they may not be read (no RBAC).
    api_slices: tuple[dict[str, Any], ...] | None = None
    api_slices_version: str = ""


async def list_everything(api: ApiClient) -> Listing:
    """List opted-in namespaces, every namespace's labels, every NetworkPolicy and profiles,
    summarising page by page.

    Each page is summarised as it arrives, so at most one page of full objects is in memory:
    holding 40,000 policy bodies at once cost 200 MiB at 10,000 namespaces. Policies are
    listed whole, not by netiso's label: the foreign ones are what guardrails evaluate.
    """
    namespaces, namespaces_version = await list_summarised(
        api,
        NAMESPACES,
        label_selector=OPTED_IN_SELECTOR,
        summary=lambda body: (resource_version(body), NamespaceEntry.from_body(body)),
    )
    # Every namespace's labels, opted in or not: the inventory a namespaceSelector is judged
    # against (about 300 bytes per namespace of five labels).
    labels, labels_version = await list_summarised(
        api,
        NAMESPACES,
        summary=lambda body: (resource_version(body), namespace_labels_of(body)),
    )
    every_policy, policies_version = await list_summarised(
        api,
        ALL_POLICIES,
        summary=lambda body: (resource_version(body), summarise(body)),
    )
    policies = [(rv, p) for rv, p in every_policy if isinstance(p, LivePolicy)]
    foreign = [(rv, p) for rv, p in every_policy if isinstance(p, ForeignPolicy)]
    profiles = tuple(
        [
            (resource_version(body), ProfileEntry.from_body(body))
            async for body in list_all(api, PROFILES)
        ]
    )
    api_slices: list[dict[str, Any]] | None
    try:
        api_slices, api_slices_version = await list_snapshot(
            api, apiendpoints.SLICES_PATH, label_selector=apiendpoints.SLICES_SELECTOR
        )
    except Forbidden as error:
        # An install whose RBAC predates the API server allow: everything else works, and a
        # profile's apiServer allow admits nothing until the permission is granted.
        log.warning("cannot read the API server's EndpointSlices: %s", error)
        api_slices, api_slices_version = None, ""
    return Listing(
        namespaces=tuple(namespaces),
        policies=tuple(policies),
        profiles=profiles,
        foreign=tuple(foreign),
        namespaces_version=namespaces_version,
        policies_version=policies_version,
        labels=tuple(labels),
        labels_version=labels_version,
        api_slices=None if api_slices is None else tuple(api_slices),
        api_slices_version=api_slices_version,
    )
