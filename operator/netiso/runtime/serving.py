"""The operator's HTTP endpoint: /metrics for Prometheus and /readyz for the kubelet.

Runtime layer. Served by aiohttp on the operator's event loop; the exposition (whatever
`exposition()` returns, from reporting/) is rendered in a worker thread. Liveness comes from
Kopf's own --liveness endpoint, which knows whether Kopf's machinery is alive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web


class Endpoint:
    """/metrics and /readyz on `host`:`port`; nothing listens before `start()`."""

    def __init__(
        self,
        *,
        exposition: Callable[[], bytes],
        content_type: str,
        ready: Callable[[], bool],
        host: str,
        port: int,
    ) -> None:
        async def metrics_view(_: web.Request) -> web.Response:
            # Off the event loop: rendering thousands of series takes tens of milliseconds that
            # reconciles would otherwise wait behind (prometheus_client collects thread-safely).
            body = await asyncio.to_thread(exposition)
            return web.Response(body=body, headers={"Content-Type": content_type})

        async def ready_view(_: web.Request) -> web.Response:
            if ready():
                return web.Response(text="ready\n")
            return web.Response(status=503, text="initial reconcile in progress\n")

        app = web.Application()
        app.router.add_get("/metrics", metrics_view)
        app.router.add_get("/readyz", ready_view)
        self._runner = web.AppRunner(app, access_log=None)
        self._host = host
        self._port = port

    async def start(self) -> None:
        """Listen; raises OSError when the port is taken."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, host=self._host, port=self._port)
        await site.start()

    async def stop(self) -> None:
        """Stop listening; safe before `start()`."""
        await self._runner.cleanup()
