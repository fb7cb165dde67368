"""The asynchronous Kubernetes API client netiso uses for its own reads and writes.

Cluster layer: the only place (with reading/applying) that speaks HTTP to the API server. It
retries conflicts, throttling (429) and server errors with capped exponential backoff, and
reports every request to an injected callback so the reporting layer can count them.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

RequestObserver = Callable[[str, str], None]
"""Called once per HTTP attempt with (verb, code); code is the status or "error"."""


class ApiError(Exception):
    """The API server answered with a non-success status (after retries, where retried)."""

    def __init__(self, *, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to prove who we are. Exactly what a kubeconfig holds."""

    server: str
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    token_file: str | None = None
    verify: bool = True

    def bearer(self) -> str | None:
        """The bearer token, re-read from token_file each time (projected tokens rotate)."""
        if self.token_file:
            return Path(self.token_file).read_text().strip()
        return self.token


def load_credentials(kubeconfig: str | None = None, *, context: str | None = None) -> Credentials:
    """Credentials from the service account when in a pod, else from a kubeconfig file.

    The kubernetes package does the parsing (exec plugins, embedded data written to temp
    files); we only take the resulting connection facts.
    """
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    configuration = k8s_client.Configuration()
    try:
        if kubeconfig is None:
            k8s_config.load_incluster_config(client_configuration=configuration)
            return Credentials(
                server=configuration.host,
                ca_file=configuration.ssl_ca_cert,
                token_file="/var/run/secrets/kubernetes.io/serviceaccount/token",
            )
    except k8s_config.ConfigException:
        pass
    k8s_config.load_kube_config(
        config_file=kubeconfig, context=context, client_configuration=configuration
    )
    token = configuration.api_key.get("authorization")
    if token and token.lower().startswith("bearer "):
        token = token[len("bearer ") :]
    return Credentials(
        server=configuration.host,
        ca_file=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        token=token,
        verify=bool(configuration.verify_ssl),
    )


_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


def _should_retry(status: int, payload: Mapping[str, Any]) -> bool:
    if status in _RETRIED_STATUSES:
        return True
    # 409 Conflict is a lost optimistic-concurrency race and worth retrying; 409 AlreadyExists
    # is an answer the caller must act on.
    return status == 409 and payload.get("reason") == "Conflict"


class ApiClient:
    """A small JSON client over one aiohttp session; create in startup, close in cleanup."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        observer: RequestObserver | None = None,
        connections: int = 32,
    ) -> None:
        self._credentials = credentials
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = retries
        self._observer = observer
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _ssl_context(self) -> ssl.SSLContext | bool:
        if not self._credentials.server.startswith("https"):
            return False
        if not self._credentials.verify:
            return False
        context = ssl.create_default_context(cafile=self._credentials.ca_file)
        if self._credentials.cert_file and self._credentials.key_file:
            context.load_cert_chain(self._credentials.cert_file, self._credentials.key_file)
        return context

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl_context(), limit=self._connections)
            self._session = aiohttp.ClientSession(
                base_url=self._credentials.server.rstrip("/"),
                connector=connector,
                timeout=self._timeout,
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session; safe to call twice."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _observe(self, verb: str, code: str) -> None:
        if self._observer is not None:
            self._observer(verb, code)

    async def request(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        allow_statuses: frozenset[int] = frozenset(),
    ) -> tuple[int, dict[str, Any]]:
        """Send one request, retrying transient failures; return (status, JSON body).

        Statuses in `allow_statuses` (e.g. 404 for a delete, 409 for a create) are returned
        instead of raised. Anything else >= 400 raises ApiError after the retries run out.
        """
        headers = {"Accept": "application/json"}
        token = self._credentials.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data: str | None = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body, separators=(",", ":"))
        delay = 0.1
        for attempt in range(1, self._retries + 1):
            retry_after: float | None = None
            try:
                session = self._get_session()
                async with session.request(
                    method, path, params=params, data=data, headers=headers
                ) as response:
                    status = response.status
                    text = await response.text()
                    if "Retry-After" in response.headers:
                        try:
                            retry_after = float(response.headers["Retry-After"])
                        except ValueError:
                            retry_after = None
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                self._observe(verb, "error")
                if attempt == self._retries:
                    raise ApiError(status=0, reason="ConnectionError", message=str(exc)) from exc
            else:
                self._observe(verb, str(status))
                try:
                    payload: dict[str, Any] = json.loads(text) if text else {}
                except json.JSONDecodeError:
                    payload = {"message": text[:500]}
                if status < 400 or status in allow_statuses:
                    return status, payload
                if not _should_retry(status, payload) or attempt == self._retries:
                    raise ApiError(
                        status=status,
                        reason=str(payload.get("reason", "")),
                        message=str(payload.get("message", text[:500])),
                    )
            # Full jitter keeps many workers from retrying in lockstep after a 429 burst.
            pause = retry_after if retry_after is not None else random.uniform(0, delay)
            await asyncio.sleep(min(pause, 10.0))
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable: the loop returns or raises")

    async def watch(
        self, path: str, *, params: Mapping[str, str], read_timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request, parsed, until the server ends the stream.

        No retries here: the caller resumes from the last resourceVersion it saw. Raises
        ApiError for an error status (410 Gone: the resourceVersion is too old, relist).
        """
        headers = {"Accept": "application/json"}
        token = self._credentials.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # A watch is long-lived by design: no total timeout; the server ends it after
        # timeoutSeconds, and a silent connection is cut after `read_timeout`.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=read_timeout)
        try:
            async with self._get_session().get(
                path, params={**params, "watch": "true"}, headers=headers, timeout=timeout
            ) as response:
                self._observe("watch", str(response.status))
                if response.status >= 400:
                    text = await response.text()
                    try:
                        payload = json.loads(text) if text else {}
                    except json.JSONDecodeError:
                        payload = {"message": text[:500]}
                    raise ApiError(
                        status=response.status,
                        reason=str(payload.get("reason", "")),
                        message=str(payload.get("message", text[:500])),
                    )
                async for line in response.content:
                    if line.strip():
                        yield json.loads(line)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._observe("watch", "error")
            raise ApiError(status=0, reason="ConnectionError", message=str(exc)) from exc
