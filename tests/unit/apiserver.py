"""An in-memory Kubernetes API server behind netiso's ApiClient interface, for unit tests.

`FakeApiServer` keeps objects per collection with resourceVersions as the API server does:
list (label and field selectors, pages, the collection's resourceVersion), watch from a
resourceVersion (an ERROR 410 Gone event once that version has expired), create (409
AlreadyExists), whole-object replace (409 Conflict on a stale resourceVersion, 404 when gone),
merge-patch of an object or its status, delete (404; 409 on a failed uid or resourceVersion
precondition; an object with finalizers is only marked until a write removes the last one).
Its `client()` is what the runtime's code gets in place of an ApiClient: the same
request()/watch()/close() calls, the same write fence, and an ApiError where the real client
raises one after its retries. Faults and latency are injected per request.

Everything runs on the test's event loop, so under `looptime` (pytest.mark.looptime) latency,
watch timeouts and the operator's own sleeps take no real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from netiso.runtime.client import (
    ApiClient,
    ApiError,
    Credentials,
    CredentialsSource,
    Fenced,
    RequestObserver,
    WriteGate,
)

Collection = tuple[str, str]
"""(API prefix, plural), e.g. ("apis/networking.k8s.io/v1", "networkpolicies")."""
Key = tuple[str, str]
"""(namespace, name); the namespace is "" for cluster-scoped objects."""

_PATH = re.compile(
    r"^/(?P<prefix>api/v1|apis/[^/]+/[^/]+)"
    r"(?:/namespaces/(?P<namespace>[^/]+))?"
    r"/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?$"
)
# Collections whose status is a subresource: a PUT of the object keeps the stored status.
_STATUS_SUBRESOURCE = frozenset({"isolationprofiles"})
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


@dataclass(frozen=True)
class Sent:
    """One request as the server received it (writes refused by the fence never arrive)."""

    method: str
    path: str
    verb: str
    body: Any = None
    params: Mapping[str, str] = field(default_factory=dict)
    # Loop time of arrival.
    at: float = 0.0

    @property
    def write(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Fault:
    """The answer to the next `times` requests that match, `delay` seconds late: `status`
    instead of the real answer, or with `status` 0 the real one."""

    method: str
    path: str
    status: int
    reason: str
    message: str
    times: int
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and self.method in ("*", method) and self.path in path


@dataclass(frozen=True)
class _Change:
    version: int
    collection: Collection
    old: dict[str, Any] | None
    new: dict[str, Any]
    deleted: bool


class FakeApiServer:
    """Objects, their history and the watches on them, in memory."""

    def __init__(self) -> None:
        self._objects: dict[Collection, dict[Key, dict[str, Any]]] = {}
        self._history: list[_Change] = []
        self._version = 1000
        # Watches from a version below this get 410 Gone (see expire_watches()).
        self._oldest = 0
        self._uids = itertools.count(1)
        self._pages: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self._tokens = itertools.count(1)
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended = 0  # bumped by expire_watches(): running watches end
        self.faults: list[Fault] = []
        self.clients_made: list[FakeClient] = []
        self.latency = 0.0
        self.sent: list[Sent] = []

    # ----- what tests use ----------------------------------------------------------------

    def client(
        self, *, fence: WriteGate | None = None, observer: RequestObserver | None = None
    ) -> ApiClient:
        """A client as the runtime's code takes one, fenced and observed like ApiClient."""
        client = FakeClient(self, fence=fence, observer=observer)
        self.clients_made.append(client)
        return cast(ApiClient, client)

    def clients(
        self,
        credentials: CredentialsSource,
        *,
        timeout: float,
        retries: int,
        observer: RequestObserver,
        connections: int,
        fence: WriteGate | None = None,
    ) -> ApiClient:
        """ApiClient's constructor, for build_runtime(clients=...): every client it makes
        talks to this server."""
        return self.client(fence=fence, observer=observer)

    def put(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace the object at the collection `path` as a user would (a stored
        copy with fresh metadata); returns it."""
        where = _parse(path)
        collection = where.collection
        key = (where.namespace or "", str(body["metadata"]["name"]))
        current = self._objects.get(collection, {}).get(key)
        if current is None:
            return self._create(collection, key, dict(body))
        fresh = copy.deepcopy(dict(body))
        fresh["metadata"] = {**fresh["metadata"], "resourceVersion": _version_of(current)}
        return self._replace(collection, key, fresh, current)

    def remove(self, path: str, name: str) -> None:
        """Delete an object as a user would; no-op when it is gone."""
        where = _parse(f"{path}/{name}")
        if where.key in self._objects.get(where.collection, {}):
            self._delete(where.collection, where.key)

    def get(self, path: str) -> dict[str, Any] | None:
        """A copy of the stored object at `path`, or None."""
        where = _parse(path)
        found = self._objects.get(where.collection, {}).get(where.key)
        return copy.deepcopy(found) if found is not None else None

    def items(self, path: str) -> list[dict[str, Any]]:
        """Copies of the objects in the collection at `path` (one namespace's, or all)."""
        where = _parse(path)
        return [
            copy.deepcopy(body)
            for key, body in sorted(self._objects.get(where.collection, {}).items())
            if where.namespace is None or key[0] == where.namespace
        ]

    def fail(
        self,
        method: str,
        path: str,
        *,
        status: int,
        reason: str = "",
        message: str = "injected by the test",
        times: int = 1,
        delay: float = 0.0,
    ) -> Fault:
        """Answer the next `times` requests whose method is `method` ("*": any; "WATCH": a
        watch) and whose path contains `path` with `status`, after `delay` seconds."""
        fault = Fault(
            method=method,
            path=path,
            status=status,
            reason=reason or _REASONS.get(status, "Error"),
            message=message,
            times=times,
            delay=delay,
        )
        self.faults.append(fault)
        return fault

    def slow(self, method: str, path: str, *, delay: float, times: int = 1) -> Fault:
        """Answer the next `times` matching requests as usual, `delay` seconds late."""
        fault = Fault(method, path, status=0, reason="", message="", times=times, delay=delay)
        self.faults.append(fault)
        return fault

    def expire_watches(self) -> None:
        """End every running watch and expire every version until now, as a compacted etcd
        does: a watch resumed from where it was gets 410 Gone and must list again."""
        self._version += 1
        self._oldest = self._version
        self._history.clear()
        self._ended += 1
        self._wake()

    def writes(self, verb: str | None = None) -> list[Sent]:
        """The write requests received so far (of one verb: create, update, patch, delete)."""
        return [s for s in self.sent if s.write and (verb is None or s.verb == verb)]

    # ----- the API -----------------------------------------------------------------------

    async def handle(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> tuple[int, dict[str, Any]]:
        """One request: (status, JSON body), errors included as the server would send them."""
        now = asyncio.get_running_loop().time()
        self.sent.append(Sent(method, path, verb, copy.deepcopy(body), dict(params or {}), now))
        # Always a suspension point, as over the network: concurrent callers interleave.
        await asyncio.sleep(self.latency)
        fault = next((f for f in self.faults if f.matches(method, path)), None)
        if fault is not None:
            fault.times -= 1
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status:
                return fault.status, _status(fault.status, fault.reason, fault.message)
        where = _parse(path)
        collection, kind = where.collection, where.collection[1]
        if method == "GET" and where.name is None:
            return 200, self._list(collection, where.namespace, dict(params or {}))
        key = where.key
        current = self._objects.get(collection, {}).get(key)
        if method == "POST":
            key = (where.namespace or "", _name_of(body, self._uids))
            if key in self._objects.get(collection, {}):
                return 409, _status(409, "AlreadyExists", f"{kind} {key[1]!r} already exists")
            return 201, self._create(collection, key, body)
        if current is None:
            return 404, _status(404, "NotFound", f"{kind} {key[1]!r} not found")
        if method == "GET":
            return 200, copy.deepcopy(current)
        if method == "PUT":
            wanted = str((body.get("metadata") or {}).get("resourceVersion") or "")
            if wanted and wanted != _version_of(current):
                return 409, _status(409, "Conflict", "the object has been modified")
            return 200, self._replace(collection, key, body, current)
        if method == "PATCH":
            patch = body if content_type == "application/merge-patch+json" else None
            if patch is None:
                return 415, _status(415, "UnsupportedMediaType", content_type)
            if where.status:
                patch = {"status": patch.get("status")}
            merged = _merge(copy.deepcopy(current), patch)
            return 200, self._replace(collection, key, merged, current, patched=True)
        if method == "DELETE":
            preconditions = (body or {}).get("preconditions") or {}
            uid = preconditions.get("uid")
            if uid and uid != current["metadata"].get("uid"):
                return 409, _status(409, "Conflict", "Precondition failed: UID in precondition")
            version = preconditions.get("resourceVersion")
            if version and version != _version_of(current):
                return 409, _status(409, "Conflict", "Precondition failed: ResourceVersion")
            return 200, self._delete(collection, key)
        return 405, _status(405, "MethodNotAllowed", method)

    async def stream(
        self, path: str, *, params: Mapping[str, str]
    ) -> AsyncIterator[dict[str, Any]]:
        """A watch: events after params["resourceVersion"], until timeoutSeconds pass (loop
        time), expire_watches() ends it, or the caller stops reading."""
        self._loop = asyncio.get_running_loop()
        where = _parse(path)
        collection, namespace = where.collection, where.namespace
        selector = _labels_selector(params.get("labelSelector", ""))
        fields = _fields_selector(params.get("fieldSelector", ""))
        since = int(params.get("resourceVersion") or self._version)
        if since < self._oldest:
            yield {"type": "ERROR", "object": _status(410, "Expired", f"too old: {since}")}
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(params.get("timeoutSeconds") or 1800)
        ended = self._ended
        while ended == self._ended:
            # Taken before the history is read: a write while an event is being handed over
            # sets it, so the next wait returns at once.
            changed = self._changed
            for change in [c for c in self._history if c.version > since]:
                since = change.version
                if change.collection != collection:
                    continue
                event = _event(change, namespace=namespace, selector=selector, fields=fields)
                if event is not None:
                    yield event
            left = deadline - loop.time()
            if left <= 0 or ended != self._ended:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=left)
        if params.get("allowWatchBookmarks") == "true" and ended == self._ended:
            version = str(max(since, self._version))
            yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": version}}}

    # ----- storage ---------------------------------------------------------------------

    def _list(
        self, collection: Collection, namespace: str | None, params: dict[str, str]
    ) -> dict[str, Any]:
        token = params.get("continue", "")
        if token:
            version, rest = self._pages.pop(token)
        else:
            selector = _labels_selector(params.get("labelSelector", ""))
            fields = _fields_selector(params.get("fieldSelector", ""))
            version = str(self._version)
            rest = [
                copy.deepcopy(body)
                for key, body in sorted(self._objects.get(collection, {}).items())
                if (namespace is None or key[0] == namespace) and selector(body) and fields(body)
            ]
        limit = int(params.get("limit") or 0) or len(rest) or 1
        page, rest = rest[:limit], rest[limit:]
        metadata: dict[str, Any] = {"resourceVersion": version}
        if rest:
            next_token = f"page-{next(self._tokens)}"
            self._pages[next_token] = (version, rest)
            metadata["continue"] = next_token
        return {"kind": "List", "metadata": metadata, "items": page}

    def _bump(self) -> str:
        self._version += 1
        return str(self._version)

    def _record(
        self,
        collection: Collection,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        *,
        deleted: bool = False,
    ) -> None:
        change = _Change(self._version, collection, copy.deepcopy(old), copy.deepcopy(new), deleted)
        self._history.append(change)
        self._wake()

    def _wake(self) -> None:
        # Writes may come from another thread's loop (the Lease campaign's, in ElectionThread):
        # the watches waiting here belong to the loop that made the server.
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            self._loop.call_soon_threadsafe(self._wake)
            return
        self._changed.set()
        self._changed = asyncio.Event()

    def _create(self, collection: Collection, key: Key, body: Mapping[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(dict(body))
        metadata = dict(stored.get("metadata") or {})
        metadata.pop("generateName", None)
        metadata.update(
            name=key[1],
            uid=f"uid-{next(self._uids)}",
            resourceVersion=self._bump(),
            generation=1,
            creationTimestamp="2026-01-01T00:00:00Z",
        )
        if key[0]:
            metadata["namespace"] = key[0]
        stored["metadata"] = metadata
        self._objects.setdefault(collection, {})[key] = stored
        self._record(collection, None, stored)
        return copy.deepcopy(stored)

    def _replace(
        self,
        collection: Collection,
        key: Key,
        body: Mapping[str, Any],
        current: dict[str, Any],
        *,
        patched: bool = False,
    ) -> dict[str, Any]:
        stored = copy.deepcopy(dict(body))
        old_meta = current["metadata"]
        metadata = dict(stored.get("metadata") or {})
        generation = int(old_meta.get("generation") or 1)
        if stored.get("spec") != current.get("spec"):
            generation += 1
        metadata.update(
            name=key[1],
            uid=old_meta["uid"],
            creationTimestamp=old_meta.get("creationTimestamp"),
            generation=generation,
        )
        if key[0]:
            metadata["namespace"] = key[0]
        if not patched and collection[1] in _STATUS_SUBRESOURCE:
            if "status" in current:
                stored["status"] = copy.deepcopy(current["status"])
            else:
                stored.pop("status", None)
        if _same(stored, current, metadata):
            return copy.deepcopy(current)  # a no-op write changes no resourceVersion
        if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
            stored["metadata"] = metadata
            self._objects[collection][key] = stored
            self._delete(collection, key)  # the last finalizer went
            return copy.deepcopy(stored)
        metadata["resourceVersion"] = self._bump()
        stored["metadata"] = metadata
        self._objects[collection][key] = stored
        self._record(collection, current, stored)
        return copy.deepcopy(stored)

    def _delete(self, collection: Collection, key: Key) -> dict[str, Any]:
        current = self._objects[collection][key]
        if current["metadata"].get("finalizers"):
            # Kept until its finalizers are gone, marked as being deleted.
            marked = copy.deepcopy(current)
            marked["metadata"].setdefault("deletionTimestamp", "2026-01-01T00:00:01Z")
            return self._replace(collection, key, marked, current, patched=True)
        del self._objects[collection][key]
        gone = copy.deepcopy(current)
        gone["metadata"]["resourceVersion"] = self._bump()
        self._record(collection, current, gone, deleted=True)
        return {"kind": "Status", "status": "Success", "details": {"name": key[1]}}


class FakeClient:
    """ApiClient's interface over a FakeApiServer: what the server answers, an ApiError for
    what the real client would raise (after its retries), Fenced for a fenced write."""

    def __init__(
        self,
        server: FakeApiServer,
        *,
        fence: WriteGate | None = None,
        observer: RequestObserver | None = None,
    ) -> None:
        self._server = server
        self._fence = fence
        self._observer = observer
        self._reachable = asyncio.Event()
        self._reachable.set()
        self.closed = False

    def cut_off(self) -> None:
        """From now on this client's requests hang (a partition, or a paused process)."""
        self._reachable.clear()

    def reconnect(self) -> None:
        """Requests go through again, the hung ones first."""
        self._reachable.set()

    async def credentials(self) -> Credentials:
        return Credentials(server="https://fake.invalid")

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
        if method != "GET" and self._fence is not None and not self._fence():
            raise Fenced
        await self._reachable.wait()
        status, payload = await self._server.handle(
            method, path, verb=verb, params=params, body=body, content_type=content_type
        )
        if self._observer is not None:
            self._observer(verb, str(status))
        if status < 400 or status in allow_statuses:
            return status, payload
        raise ApiError(
            status=status,
            reason=str(payload.get("reason", "")),
            message=str(payload.get("message", "")),
            method=method,
            path=path,
        )

    async def watch(
        self, path: str, *, params: Mapping[str, str], read_timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        now = asyncio.get_running_loop().time()
        self._server.sent.append(Sent("WATCH", path, "watch", None, dict(params), now))
        fault = next((f for f in self._server.faults if f.matches("WATCH", path)), None)
        if fault is not None:
            fault.times -= 1
            raise ApiError(
                status=fault.status, reason=fault.reason, message=fault.message, path=path
            )
        async for event in self._server.stream(path, params=params):
            # A copy per event: the receiver may keep or change what it is handed.
            yield json.loads(json.dumps(event))

    async def close(self) -> None:
        self.closed = True


@dataclass(frozen=True)
class _Where:
    collection: Collection
    namespace: str | None
    name: str | None
    status: bool

    @property
    def key(self) -> Key:
        return (self.namespace or "", self.name or "")


def _parse(path: str) -> _Where:
    found = _PATH.match(path.split("?", 1)[0])
    if found is None:
        raise ValueError(f"not a Kubernetes REST path: {path}")
    return _Where(
        collection=(found["prefix"], found["plural"]),
        namespace=found["namespace"],
        name=found["name"],
        status=found["sub"] == "status",
    )


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


def _name_of(body: Mapping[str, Any], counter: itertools.count[int]) -> str:
    metadata = body.get("metadata") or {}
    if metadata.get("name"):
        return str(metadata["name"])
    return f"{metadata.get('generateName', 'object-')}{next(counter):05d}"


def _version_of(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("resourceVersion", ""))


def _same(
    stored: Mapping[str, Any], current: Mapping[str, Any], metadata: Mapping[str, Any]
) -> bool:
    old = {k: v for k, v in current.items() if k != "metadata"}
    new = {k: v for k, v in stored.items() if k != "metadata"}
    keep = {k: v for k, v in current["metadata"].items() if k != "resourceVersion"}
    mine = {k: v for k, v in metadata.items() if k != "resourceVersion"}
    return old == new and keep == mine


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _labels_selector(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """`a`, `!a`, `a=b`, `a==b`, `a!=b`, comma-separated (set-based forms are not needed)."""
    terms: list[tuple[str, str, str]] = []
    for raw in filter(None, (part.strip() for part in text.split(","))):
        if "!=" in raw:
            key, value = raw.split("!=", 1)
            terms.append(("!=", key, value))
        elif "=" in raw:
            key, value = raw.replace("==", "=").split("=", 1)
            terms.append(("=", key, value))
        elif raw.startswith("!"):
            terms.append(("!", raw[1:], ""))
        else:
            terms.append(("", raw, ""))

    def term(labels: Mapping[str, str], op: str, key: str, value: str) -> bool:
        if op == "!=":
            return labels.get(key) != value
        if op == "=":
            return labels.get(key) == value
        return (key in labels) != (op == "!")

    def matches(body: Mapping[str, Any]) -> bool:
        labels = (body.get("metadata") or {}).get("labels") or {}
        return all(term(labels, *t) for t in terms)

    return matches


def _fields_selector(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """`field=x`, `field==x` and `field!=x` on dotted paths (`metadata.name`,
    `status.phase`), comma-separated."""
    terms: list[tuple[str, str, bool]] = []
    for part in filter(None, (raw.strip() for raw in text.split(","))):
        if "!=" in part:
            key, value = part.split("!=", 1)
            terms.append((key, value, False))
        elif "=" in part:
            key, value = part.replace("==", "=").split("=", 1)
            terms.append((key, value, True))

    def value_of(body: Mapping[str, Any], path: str) -> str:
        found: Any = body
        for step in path.split("."):
            found = found.get(step) if isinstance(found, Mapping) else None
        return "" if found is None else str(found)

    def matches(body: Mapping[str, Any]) -> bool:
        return all((value_of(body, key) == value) == equal for key, value, equal in terms)

    return matches


def _event(
    change: _Change,
    *,
    namespace: str | None,
    selector: Callable[[Mapping[str, Any]], bool],
    fields: Callable[[Mapping[str, Any]], bool],
) -> dict[str, Any] | None:
    """The event a watch with these filters sees for the change: an object that comes into
    the selection is ADDED, one that leaves it DELETED, as the API server does."""
    if namespace is not None and change.new["metadata"].get("namespace") != namespace:
        return None
    now = selector(change.new) and fields(change.new) and not change.deleted
    before = change.old is not None and selector(change.old) and fields(change.old)
    if now:
        kind = "MODIFIED" if before else "ADDED"
    elif before:
        kind = "DELETED"
    else:
        return None
    return {"type": kind, "object": copy.deepcopy(change.new)}
