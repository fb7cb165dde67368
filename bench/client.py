"""A minimal asyncio Kubernetes client for the benchmark: JSON requests, pages, watch streams.

Deliberately independent of netiso's own client so the raw bound measures the API server and
not netiso code. Connection facts come from a kubeconfig through `netiso.runtime.client.
load_credentials` (which only parses; it sends nothing).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, Final

import aiohttp

from netiso.runtime.client import Credentials, load_credentials

APPLY_PATCH: Final = "application/apply-patch+yaml"
MERGE_PATCH: Final = "application/merge-patch+json"
# Throttling and transient server errors are retried; the count of retries is reported, so a
# throttled run is visible rather than silently slow.
_RETRIED: Final = frozenset({429, 500, 502, 503, 504})


class KubeError(Exception):
    """The API server answered with an unexpected status."""

    def __init__(self, *, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {message[:300]}")
        self.status = status


class KubeClient:
    """One aiohttp session against one API server; `close()` when done."""

    def __init__(self, credentials: Credentials, *, connections: int = 64) -> None:
        self.credentials = credentials
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self.retries = 0

    @classmethod
    def from_kubeconfig(cls, path: Path, *, connections: int = 64) -> KubeClient:
        return cls(load_credentials(str(path)), connections=connections)

    def _ssl(self) -> ssl.SSLContext | bool:
        creds = self.credentials
        if not creds.server.startswith("https") or not creds.verify:
            return False
        context = ssl.create_default_context(cafile=creds.ca_file)
        if creds.cert_file and creds.key_file:
            context.load_cert_chain(creds.cert_file, creds.key_file)
        return context

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Accept": "application/json"}
            token = self.credentials.bearer()
            if token:
                headers["Authorization"] = f"Bearer {token}"
            self._session = aiohttp.ClientSession(
                base_url=self.credentials.server.rstrip("/"),
                connector=aiohttp.TCPConnector(ssl=self._ssl(), limit=self._connections),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=120),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        allow: frozenset[int] = frozenset(),
        attempts: int = 8,
    ) -> tuple[int, dict[str, Any]]:
        """Send one request; return (status, JSON). Statuses in `allow` are not errors."""
        data = None if body is None else json.dumps(body, separators=(",", ":"))
        headers = {"Content-Type": content_type} if body is not None else {}
        delay = 0.05
        for attempt in range(1, attempts + 1):
            try:
                async with self.session.request(
                    method, path, params=params, data=data, headers=headers
                ) as response:
                    status = response.status
                    text = await response.text()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                if attempt == attempts:
                    raise KubeError(method=method, path=path, status=0, message=str(exc)) from exc
            else:
                if status < 400 or status in allow:
                    return status, (json.loads(text) if text else {})
                if status not in _RETRIED or attempt == attempts:
                    raise KubeError(method=method, path=path, status=status, message=text)
            self.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    async def text(self, path: str) -> tuple[int, str]:
        """GET a non-JSON resource such as /metrics; (status, body)."""
        async with self.session.get(path, headers={"Accept": "text/plain"}) as response:
            return response.status, await response.text()

    async def list_pages(
        self, path: str, *, params: Mapping[str, str] | None = None, page: int = 500
    ) -> tuple[list[dict[str, Any]], str]:
        """Every item of a collection, in pages; returns (items, resourceVersion of the list)."""
        items: list[dict[str, Any]] = []
        token = ""
        version = ""
        while True:
            query = {**(params or {}), "limit": str(page)}
            if token:
                query["continue"] = token
            _, payload = await self.request("GET", path, params=query)
            items.extend(payload.get("items") or [])
            metadata = payload.get("metadata") or {}
            version = str(metadata.get("resourceVersion") or version)
            token = str(metadata.get("continue") or "")
            if not token:
                return items, version

    async def watch(self, path: str, *, params: Mapping[str, str]) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request, parsed, until the server closes the stream."""
        query = {**params, "watch": "true"}
        # A watch is long-lived by design: no total timeout, the server ends it.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
        async with self.session.get(path, params=query, timeout=timeout) as response:
            if response.status != 200:
                text = await response.text()
                raise KubeError(method="WATCH", path=path, status=response.status, message=text)
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)


async def bounded(limit: int, jobs: list[Any]) -> list[Any]:
    """Await coroutines with at most `limit` running at once; results in input order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with semaphore:
            return await job

    return list(await asyncio.gather(*(one(job) for job in jobs)))
