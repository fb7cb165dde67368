"""Feeding the reconciler from the cluster: one watch per kind, from the startup listing on.

Reconciling layer, no decisions: the startup listing (retried until the server answers) is
merged into the view; then each watch event (and, after a 410 Gone, each object of the
fresh listing, plus a deletion for each object the listing no longer has) is handed to the
reconciler's own event methods, which update the view and queue the namespace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from netiso.model import apiendpoints
from netiso.observed.view import ClusterView
from netiso.runtime import reading, watching
from netiso.runtime.client import ApiClient, ApiError
from netiso.runtime.queueing import MAX_RETRY_DELAY

log = logging.getLogger(__name__)

EventHandler = Callable[..., None]
"""handler(body, *, deleted): the reconciler's namespace_event or policy_event."""


async def list_into(api: ApiClient, view: ClusterView) -> reading.Listing:
    """List everything into the view, retrying with backoff until the server answers."""
    delay = 1.0
    while True:
        try:
            listing = await reading.list_everything(api)
        except ApiError as exc:
            log.warning("initial listing failed, retrying in %.0fs: %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)
            continue
        view.merge_listing(
            namespaces=listing.namespaces,
            policies=listing.policies,
            profiles=listing.profiles,
            foreign=listing.foreign,
            labels=listing.labels,
        )
        if listing.api_slices is not None:
            view.api_slices_listed(listing.api_slices)
        return listing


def follow_cluster(
    api: ApiClient,
    listing: reading.Listing,
    *,
    view: ClusterView,
    on_namespace: EventHandler,
    on_policy: EventHandler,
    on_labels: EventHandler,
    on_api_slices: Callable[[], None] = lambda: None,
) -> list[asyncio.Task[None]]:
    """Start the namespace and NetworkPolicy watches, and the `default/kubernetes`
    EndpointSlice watch when the listing could read them; cancel the tasks to stop them.
    `on_api_slices()` is called when the API server's endpoints changed.

    Policies are watched whole, not through netiso's label: a namespace owner's own policies
    are what the profile's guardrails evaluate, and a label added or removed moves a policy
    between managed and foreign instead of making it vanish from the watch. Every namespace is
    watched too, for its labels alone (`on_labels`): they decide whether a namespaceSelector
    admits every namespace.
    """

    def policies_relisted(items: Sequence[Mapping[str, Any]]) -> None:
        listed = {
            (str(m.get("namespace", "")), str(m.get("name", "")))
            for m in (b.get("metadata") or {} for b in items)
        }
        for namespace, name in set(view.policy_keys()) - listed:
            on_policy({"metadata": {"namespace": namespace, "name": name}}, deleted=True)
        for body in items:
            on_policy(body, deleted=False)

    def api_slice_seen(body: Mapping[str, Any], deleted: bool) -> None:
        if view.api_slice_seen(body, deleted=deleted):
            on_api_slices()

    def api_slices_relisted(items: Sequence[Mapping[str, Any]]) -> None:
        if view.api_slices_listed(items):
            on_api_slices()

    follows = [
        (
            watching.Watched("namespaces", reading.NAMESPACES, reading.OPTED_IN_SELECTOR),
            listing.namespaces_version,
            lambda body, deleted: on_namespace(body, deleted=deleted),
            _namespaces_relisted(view.namespace_names, on_namespace),
        ),
        (
            watching.Watched("networkpolicies", reading.ALL_POLICIES, ""),
            listing.policies_version,
            lambda body, deleted: on_policy(body, deleted=deleted),
            policies_relisted,
        ),
        (
            watching.Watched("namespace-labels", reading.NAMESPACES, ""),
            listing.labels_version,
            lambda body, deleted: on_labels(body, deleted=deleted),
            _namespaces_relisted(view.labelled_names, on_labels),
        ),
    ]
    if listing.api_slices is not None:
        watched = watching.Watched(
            "endpointslices", apiendpoints.SLICES_PATH, apiendpoints.SLICES_SELECTOR
        )
        follows.append((watched, listing.api_slices_version, api_slice_seen, api_slices_relisted))
    return [
        asyncio.create_task(
            watching.follow(
                api, watched, resource_version=version, on_event=on_event, on_relist=on_relist
            ),
            name=f"netiso-watch-{watched.kind}",
        )
        for watched, version, on_event, on_relist in follows
    ]


def _namespaces_relisted(
    known: Callable[[], Collection[str]], on_namespace: EventHandler
) -> watching.RelistSink:
    """A relist of namespaces: a deletion for each known one the listing no longer has, then
    every listed one."""

    def relisted(items: Sequence[Mapping[str, Any]]) -> None:
        listed = {str((b.get("metadata") or {}).get("name", "")) for b in items}
        for name in set(known()) - listed:
            on_namespace({"metadata": {"name": name}}, deleted=True)
        for body in items:
            on_namespace(body, deleted=False)

    return relisted
