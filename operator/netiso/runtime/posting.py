"""Posting Kubernetes Events, off the reconcile path.

Cluster layer: the I/O half of Events (reporting/events.py decides what they say). Failures to
post are logged and dropped: an Event is never worth a retry storm.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from netiso.runtime.client import ApiClient, ApiError, Fenced
from netiso.runtime.errors import NotFound
from netiso.runtime.tasking import cancel_all

log = logging.getLogger(__name__)


class EventPoster:
    """Posts Events through netiso's API client, off the reconcile path.

    `submit()` only queues: a reconcile never waits for its Events, so a burst of drift repairs
    is limited by the policy writes alone. A few background senders drain the queue, and
    each first awaits `idle()` (no isolation work waiting): narration yields to
    isolation, so an Event per namespace never slows down a bootstrap or a mass repair. The
    queue is bounded; when it is full Events are dropped with a warning.
    """

    def __init__(
        self,
        api: ApiClient,
        *,
        senders: int = 2,
        capacity: int = 20_000,
        idle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._api = api
        self._senders = senders
        self._idle = idle
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=capacity)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the background senders."""
        for index in range(self._senders):
            self._tasks.append(asyncio.create_task(self._send_forever(), name=f"events-{index}"))

    async def stop(self) -> None:
        """Stop the senders; queued Events are dropped."""
        await cancel_all(self._tasks)

    def submit(self, body: dict[str, Any]) -> None:
        """Queue one Event body for posting; dropped with a warning when the queue is full."""
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            log.warning(
                "event queue full; dropped %s on %s", body["reason"], body["involvedObject"]["name"]
            )

    async def _send_forever(self) -> None:
        while True:
            body = await self._queue.get()
            if self._idle is not None:
                await self._idle()
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
            # A replica that just lost the Lease has its Events refused: the new leader's.
            gone = isinstance(exc, NotFound | Fenced) or "being terminated" in exc.message
            level = logging.DEBUG if gone else logging.WARNING
            log.log(
                level,
                "event %s on %s/%s not posted: %s",
                body["reason"],
                namespace,
                body["involvedObject"]["name"],
                exc,
            )
