"""The asynchronous Kubernetes API client netiso uses for its own reads and writes.

Cluster layer: the only place (with reading/applying) that speaks HTTP to the API server. It
retries conflicts, throttling (429) and server errors with capped exponential backoff, and
reports every request to an injected callback so the reporting layer can count them.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp

# Re-exported: the client's callers build credentials through this module.
from netiso.runtime.credentials import Credentials as Credentials
from netiso.runtime.credentials import CredentialsError as CredentialsError
from netiso.runtime.credentials import CredentialsSource as CredentialsSource
from netiso.runtime.credentials import FixedCredentials as FixedCredentials
from netiso.runtime.credentials import PublishedCredentials as PublishedCredentials
from netiso.runtime.credentials import load_credentials as load_credentials
from netiso.runtime.credentials import one_line

# Re-exported: every caller of the client catches these.
from netiso.runtime.errors import ApiError as ApiError
from netiso.runtime.errors import Fenced as Fenced

RequestObserver = Callable[[str, str], None]
"""Called once per HTTP attempt with (verb, code); code is the status or "error"."""

WriteGate = Callable[[], bool]
"""Asked right before every attempt of every request but a GET is sent; False refuses it."""

# Fault injection for the fencing test only (tests/integration/test_leadership.py): set to
# "VERB:NAMESPACE" (e.g. "update:team-a"), the process stops itself (SIGSTOP) once, right after
# the first such write has passed the fence and before it is sent; the test resumes it later.
STOP_AFTER_FENCE_ENV = "NETISO_TEST_STOP_AFTER_FENCE"


_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


def _should_retry(status: int) -> bool:
    # Never 409: every update and delete netiso sends carries the resourceVersion it decided
    # on, so sending it again is refused again; the caller re-reads and decides anew.
    return status in _RETRIED_STATUSES


class ApiClient:
    """A small JSON client over one aiohttp session; create in startup, close in cleanup.

    `credentials` is fixed (Credentials) or a CredentialsSource asked before every request; a
    401 asks the source once for newer credentials and retries with them.
    With `fence`, every write (any method but GET) is refused as `Fenced` while `fence()` is
    False (leader election: only the leader writes).
    """

    def __init__(
        self,
        credentials: Credentials | CredentialsSource,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        observer: RequestObserver | None = None,
        connections: int = 32,
        fence: WriteGate | None = None,
    ) -> None:
        self._source: CredentialsSource = (
            FixedCredentials(credentials) if isinstance(credentials, Credentials) else credentials
        )
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = retries
        self._observer = observer
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._session_tls: tuple[object, ...] = ()
        self._retired: list[aiohttp.ClientSession] = []
        self._closing: set[asyncio.Task[None]] = set()
        # The write fence, asked right before each attempt is handed to the HTTP session, so a
        # retry loop cannot outlive leadership. It cannot be asked later: a write that passed
        # it may still wait for a pooled connection or be paused with the process, and reach
        # the API server after the Lease went to another replica. Such a write is refused
        # there (409), because every update and delete carries the resourceVersion it was
        # decided on and a new leader's writes change it.
        self._may_write = fence
        self._stop_after_fence = os.environ.get(STOP_AFTER_FENCE_ENV, "")

    def _passed_fence(self, *, verb: str, path: str) -> None:
        if not self._stop_after_fence:
            return
        wanted_verb, _, namespace = self._stop_after_fence.partition(":")
        if verb == wanted_verb and f"/namespaces/{namespace}/" in path:
            self._stop_after_fence = ""
            signal.raise_signal(signal.SIGSTOP)

    async def credentials(self) -> Credentials:
        """The credentials the next request will use (waits until there are some)."""
        return await self._source.current()

    def _get_session(self, credentials: Credentials) -> aiohttp.ClientSession:
        tls = _tls_facts(credentials)
        if self._session is not None and not self._session.closed and tls == self._session_tls:
            return self._session
        if self._session is not None and not self._session.closed:
            # New certificates or server (a new login): requests in flight on the old session
            # get one request timeout to finish before it closes.
            self._retired.append(self._session)
            task = asyncio.get_running_loop().create_task(self._close_later(self._session))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        connector = aiohttp.TCPConnector(ssl=_ssl_context(credentials), limit=self._connections)
        self._session = aiohttp.ClientSession(
            base_url=credentials.server.rstrip("/"),
            connector=connector,
            timeout=self._timeout,
        )
        self._session_tls = tls
        return self._session

    async def _close_later(self, session: aiohttp.ClientSession) -> None:
        await asyncio.sleep(self._timeout.total or 30.0)
        self._retired.remove(session)
        await session.close()

    async def close(self) -> None:
        """Close the HTTP session(s); safe to call twice."""
        for task in list(self._closing):
            task.cancel()
        for session in [*self._retired, self._session]:
            if session is not None:
                await session.close()
        self._retired.clear()
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
        credentials = await self._source.current()
        data: str | None = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"))
        relogged = False
        delay = 0.1
        attempt = 0
        while True:
            attempt += 1
            headers = _headers(credentials, content_type=content_type if data else None)
            retry_after: float | None = None
            try:
                session = self._get_session(credentials)
                # The fence, as late as this client can ask it: nothing but the send follows.
                if method != "GET" and self._may_write is not None and not self._may_write():
                    raise Fenced
                if method != "GET":
                    self._passed_fence(verb=verb, path=path)
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
                if attempt >= self._retries:
                    raise ApiError(
                        status=0,
                        reason="ConnectionError",
                        message=one_line(exc) or type(exc).__name__,
                        method=method,
                        path=path,
                    ) from exc
            else:
                self._observe(verb, str(status))
                try:
                    payload: dict[str, Any] = json.loads(text) if text else {}
                except json.JSONDecodeError:
                    payload = {"message": text[:500]}
                if status < 400 or status in allow_statuses:
                    return status, payload
                if status == 401 and not relogged:
                    # Expired token (exec plugins, rotated service account tokens): log in
                    # again once and retry at once; a second 401 is the answer.
                    relogged = True
                    fresh = await self._source.refreshed(credentials)
                    if fresh is not None:
                        credentials = fresh
                        attempt -= 1
                        continue
                if not _should_retry(status) or attempt >= self._retries:
                    raise ApiError(
                        status=status,
                        reason=str(payload.get("reason", "")),
                        message=str(payload.get("message", text[:500])),
                        method=method,
                        path=path,
                    )
            # Full jitter keeps many workers from retrying in lockstep after a 429 burst.
            pause = retry_after if retry_after is not None else random.uniform(0, delay)
            await asyncio.sleep(min(pause, 10.0))
            delay = min(delay * 2, 5.0)

    async def watch(
        self, path: str, *, params: Mapping[str, str], read_timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request, parsed, until the server ends the stream.

        No retries here: the caller resumes from the last resourceVersion it saw. Raises
        ApiError for an error status (410 Gone: the resourceVersion is too old, relist).
        """
        credentials = await self._source.current()
        headers = _headers(credentials, content_type=None)
        # A watch is long-lived by design: no total timeout; the server ends it after
        # timeoutSeconds, and a silent connection is cut after `read_timeout`.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=read_timeout)
        try:
            async with self._get_session(credentials).get(
                path, params={**params, "watch": "true"}, headers=headers, timeout=timeout
            ) as response:
                self._observe("watch", str(response.status))
                if response.status >= 400:
                    text = await response.text()
                    try:
                        payload = json.loads(text) if text else {}
                    except json.JSONDecodeError:
                        payload = {"message": text[:500]}
                    if response.status == 401:
                        # The caller resumes the watch: with newer credentials, if any.
                        await self._source.refreshed(credentials)
                    raise ApiError(
                        status=response.status,
                        reason=str(payload.get("reason", "")),
                        message=str(payload.get("message", text[:500])),
                        method="GET",
                        path=path,
                    )
                async for line in response.content:
                    if line.strip():
                        yield json.loads(line)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._observe("watch", "error")
            raise ApiError(
                status=0, reason="ConnectionError", message=one_line(exc), method="GET", path=path
            ) from exc


def _headers(credentials: Credentials, *, content_type: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    token = credentials.bearer()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def _tls_facts(credentials: Credentials) -> tuple[object, ...]:
    """What the TLS session depends on: a change means a new connection pool."""
    return (
        credentials.server,
        credentials.ca_file,
        credentials.cert_file,
        credentials.key_file,
        credentials.verify,
        id(credentials.ssl_context),
    )


def _ssl_context(credentials: Credentials) -> ssl.SSLContext | bool:
    if not credentials.server.startswith("https"):
        return False
    if credentials.ssl_context is not None:
        return credentials.ssl_context
    if not credentials.verify:
        return False
    context = ssl.create_default_context(cafile=credentials.ca_file)
    if credentials.cert_file and credentials.key_file:
        context.load_cert_chain(credentials.cert_file, credentials.key_file)
    return context
