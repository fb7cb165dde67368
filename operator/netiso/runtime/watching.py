"""Watching namespaces and NetworkPolicies directly: one watch per kind, resumed, relisted.

Cluster layer. The operator lists each kind once at startup (reading.list_everything) and
then follows it from the listing's resourceVersion with a plain watch: every event is handed
to `on_event` as it arrives, with no per-event framework machinery (Kopf's costs about 2 ms of
CPU per event, five events per namespace during a bootstrap). A watch that ends is resumed
from the last resourceVersion seen (bookmarks keep it fresh); one the server refuses as too
old (410 Gone) is replaced by a fresh listing, handed to `on_relist`, and resumed from there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from netiso.runtime.client import ApiClient, ApiError
from netiso.runtime.errors import Gone
from netiso.runtime.reading import list_snapshot

log = logging.getLogger(__name__)

# The server ends each watch after this long (with jitter of its own); netiso resumes it.
WATCH_SECONDS: Final = 300
# A connection silent for this long (no event, no bookmark) is considered dead.
READ_TIMEOUT: Final = WATCH_SECONDS + 60
MAX_BACKOFF: Final = 30.0

EventSink = Callable[[Mapping[str, Any], bool], None]
"""on_event(object, deleted)."""
RelistSink = Callable[[Sequence[Mapping[str, Any]]], None]
"""on_relist(every object now in the collection)."""


@dataclass(frozen=True)
class Watched:
    """A collection to follow: its REST path and the label and field selectors that narrow
    it ("" for none)."""

    kind: str
    path: str
    label_selector: str
    field_selector: str = ""


async def follow(
    api: ApiClient,
    watched: Watched,
    *,
    resource_version: str,
    on_event: EventSink,
    on_relist: RelistSink,
) -> None:
    """Follow `watched` from `resource_version` forever; cancel the task to stop."""
    version = resource_version
    backoff = 0.5
    while True:
        try:
            version = await _watch_once(api, watched, version=version, on_event=on_event)
            backoff = 0.5
        except Gone:
            log.info("watch of %s expired; listing again", watched.kind)
            version = await _relist(api, watched, on_relist=on_relist)
        except ApiError as exc:
            log.warning("watch of %s failed, resuming in %.1fs: %s", watched.kind, backoff, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)


async def _watch_once(
    api: ApiClient, watched: Watched, *, version: str, on_event: EventSink
) -> str:
    """One watch request; returns the last resourceVersion seen when the server ends it."""
    params = {
        "resourceVersion": version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(WATCH_SECONDS),
    }
    if watched.label_selector:
        params["labelSelector"] = watched.label_selector
    if watched.field_selector:
        params["fieldSelector"] = watched.field_selector
    async for event in api.watch(watched.path, params=params, read_timeout=READ_TIMEOUT):
        kind = event.get("type")
        body = event.get("object") or {}
        if kind == "ERROR":
            raise ApiError(
                status=int(body.get("code") or 500),
                reason=str(body.get("reason", "")),
                message=str(body.get("message", "")),
            )
        version = str((body.get("metadata") or {}).get("resourceVersion") or version)
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            on_event(body, kind == "DELETED")
    return version


async def _relist(api: ApiClient, watched: Watched, *, on_relist: RelistSink) -> str:
    """List the collection again (retrying), hand it over, and return its resourceVersion."""
    backoff = 0.5
    while True:
        try:
            items, version = await list_snapshot(
                api,
                watched.path,
                label_selector=watched.label_selector,
                field_selector=watched.field_selector,
            )
        except ApiError as exc:
            log.warning("listing %s failed, retrying in %.1fs: %s", watched.kind, backoff, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            continue
        on_relist(items)
        return version
