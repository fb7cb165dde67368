"""Kubernetes Events about namespaces and profiles, posted only when something changes.

Reporting layer. Namespace Events go into the namespace itself (so its owner sees them with
`kubectl get events -n NS`); profile Events go to `default`, where Kubernetes keeps Events of
cluster-scoped objects. Failures to post are logged and dropped: an Event is never worth a retry
storm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from netiso import conventions
from netiso.cluster.client import ApiClient, ApiError

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
# Kubernetes rejects Event messages over 1 KiB on some versions; keep well inside.
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Involved:
    """The object an Event is about."""

    kind: str
    name: str
    api_version: str
    uid: str = ""
    namespace: str = ""

    def reference(self) -> dict[str, str]:
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if self.uid:
            ref["uid"] = self.uid
        if self.namespace:
            ref["namespace"] = self.namespace
        return ref


def namespace_ref(name: str, uid: str = "") -> Involved:
    """The involved-object reference for a Namespace.

    The API server requires involvedObject.namespace to equal the Event's namespace; naming
    the namespace itself there lets the Event live where the namespace's owner can read it.
    """
    return Involved(kind="Namespace", name=name, api_version="v1", uid=uid, namespace=name)


def profile_ref(name: str, uid: str = "") -> Involved:
    """The involved-object reference for an IsolationProfile."""
    return Involved(kind=conventions.KIND, name=name, api_version=conventions.API_VERSION, uid=uid)


def event_body(
    *, involved: Involved, reason: str, message: str, type_: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event; pure so it can be tested without a server."""
    namespace = involved.namespace or "default"
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{involved.name}.netiso.", "namespace": namespace},
        "involvedObject": involved.reference(),
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "type": type_,
        "source": {"component": conventions.EVENT_SOURCE},
        "reportingComponent": conventions.EVENT_SOURCE,
        "reportingInstance": os.environ.get("HOSTNAME", conventions.EVENT_SOURCE)[:128],
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventPoster:
    """Posts Events through netiso's API client, off the reconcile path.

    `emit()` only queues: a reconcile never waits for its Events, so a burst of drift repairs
    is limited by the policy writes alone. A few background senders drain the queue; the
    queue is bounded, and when it is full (the API server is struggling) Events are dropped
    with a warning rather than slowing down isolation.
    """

    def __init__(self, api: ApiClient, *, senders: int = 2, capacity: int = 10_000) -> None:
        self._api = api
        self._senders = senders
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=capacity)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the background senders."""
        for index in range(self._senders):
            self._tasks.append(asyncio.create_task(self._send_forever(), name=f"events-{index}"))

    async def stop(self) -> None:
        """Stop the senders; queued Events are dropped."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def emit(self, *, involved: Involved, reason: str, message: str, type_: str) -> None:
        """Queue one Event for posting."""
        body = event_body(
            involved=involved, reason=reason, message=message, type_=type_, now=datetime.now(UTC)
        )
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            log.warning("event queue full; dropped %s on %s", reason, involved.name)

    async def _send_forever(self) -> None:
        while True:
            body = await self._queue.get()
            await self.post(body)

    async def post(self, body: dict[str, Any]) -> None:
        """Post one Event body now; errors are logged, never raised."""
        namespace = body["metadata"]["namespace"]
        try:
            await self._api.request(
                "POST", f"/api/v1/namespaces/{namespace}/events", verb="create", body=body
            )
        except ApiError as exc:
            # A namespace being deleted refuses new Events; anything else (a 403 from missing
            # RBAC, say) is worth a warning.
            gone = exc.status == 404 or "being terminated" in exc.message
            level = logging.DEBUG if gone else logging.WARNING
            log.log(
                level,
                "event %s on %s/%s not posted: %s",
                body["reason"],
                namespace,
                body["involvedObject"]["name"],
                exc,
            )
