"""A LIST+WATCH mirror of managed NetworkPolicies that timestamps when namespaces reach a state.

Completion is detected from the watch stream (never by polling), as a user's controller would
see it. An `Expectation` names, per namespace, the policies and spec-hashes wanted; a namespace
is done at the first event after which its live managed policies are exactly those, having been
seen different at least once since the expectation was made (so a drift test cannot "complete"
on the state from before the drift was made).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from bench.client import KubeClient, KubeError
from netiso import conventions
from netiso.rendering.bodies import policy_hash

log = logging.getLogger(__name__)

POLICIES_PATH: Final = "/apis/networking.k8s.io/v1/networkpolicies"
MANAGED_SELECTOR: Final = f"{conventions.MANAGED_BY_LABEL}={conventions.MANAGED_BY_VALUE}"


@dataclass(frozen=True)
class Seen:
    """One live managed policy as last seen: its recorded spec-hash and whether its content
    still matches that hash (None when content was not checked)."""

    spec_hash: str
    intact: bool | None = None


Wanted = Mapping[str, Mapping[str, str]]
"""namespace -> policy name -> spec-hash."""


@dataclass
class Expectation:
    """Namespaces waiting to reach a wanted state; `done[ns]` is the monotonic time they did."""

    wanted: Wanted
    content: bool = False
    armed: set[str] = field(default_factory=set)
    # When each namespace was first seen not in the wanted state after the expectation was
    # made (a drift test: when the drift itself became visible in the watch).
    departed: dict[str, float] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def pending(self) -> list[str]:
        return [ns for ns in self.wanted if ns not in self.done]

    async def wait(self, *, within: float) -> bool:
        """True when every namespace completed within `within` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.complete.wait(), within)
        return self.complete.is_set()


class PolicyWatch:
    """Mirrors managed NetworkPolicies in namespaces whose names start with `prefix`."""

    def __init__(self, client: KubeClient, *, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self.state: dict[str, dict[str, Seen]] = {}
        self._expectations: list[Expectation] = []
        self._content_namespaces: set[str] = set()
        self._version = ""
        self._task: asyncio.Task[None] | None = None
        self._synced = asyncio.Event()
        self.events = 0
        self.relists = 0

    async def start(self) -> None:
        """List, then keep watching in the background; returns once the list is mirrored."""
        self._task = asyncio.create_task(self._run(), name="bench-policy-watch")
        waiter = asyncio.create_task(self._synced.wait())
        await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not self._synced.is_set():
            waiter.cancel()
            await self._task  # raises whatever stopped it

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def expect(self, wanted: Wanted, *, content: bool = False) -> Expectation:
        """Start tracking `wanted`; with `content`, an edited policy (content no longer
        matching its recorded hash) also counts as not yet there."""
        expectation = Expectation(wanted=wanted, content=content)
        if content:
            # Policies already mirrored keep intact=None (unknown, not a mismatch); the next
            # event of each is checked.
            self._content_namespaces.update(wanted)
        for namespace in wanted:
            if not self._matches(expectation, namespace):
                expectation.armed.add(namespace)
        if wanted:
            self._expectations.append(expectation)
        else:
            expectation.complete.set()
        return expectation

    def forget(self, expectation: Expectation) -> None:
        with contextlib.suppress(ValueError):
            self._expectations.remove(expectation)
        if expectation.content:
            self._content_namespaces.difference_update(expectation.wanted)

    def count_matching(self, wanted: Wanted) -> int:
        """How many namespaces are in the wanted state right now (content not checked)."""
        probe = Expectation(wanted=wanted)
        return sum(1 for ns in wanted if self._matches(probe, ns))

    # ----- internals -------------------------------------------------------------------------

    def _mine(self, namespace: str) -> bool:
        return namespace.startswith(self._prefix)

    def _matches(self, expectation: Expectation, namespace: str) -> bool:
        live = self.state.get(namespace, {})
        wanted = expectation.wanted[namespace]
        if live.keys() != wanted.keys():
            return False
        for name, spec_hash in wanted.items():
            seen = live[name]
            if seen.spec_hash != spec_hash:
                return False
            if expectation.content and seen.intact is False:
                return False
        return True

    def _seen(self, namespace: str, body: Mapping[str, Any]) -> Seen:
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        recorded = str(annotations.get(conventions.SPEC_HASH_ANNOTATION, ""))
        intact = None
        # Content hashes are only computed where an edit test looks: they cost bench CPU, which
        # this machine shares with the operator and the API server.
        if namespace in self._content_namespaces:
            intact = policy_hash(body) == recorded
        return Seen(spec_hash=recorded, intact=intact)

    def _evaluate(self, namespaces: Iterable[str], at: float) -> None:
        for expectation in list(self._expectations):
            for namespace in namespaces:
                if namespace not in expectation.wanted or namespace in expectation.done:
                    continue
                if self._matches(expectation, namespace):
                    if namespace in expectation.armed:
                        expectation.done[namespace] = at
                else:
                    expectation.armed.add(namespace)
                    expectation.departed.setdefault(namespace, at)
            if len(expectation.done) == len(expectation.wanted):
                expectation.complete.set()
                self._expectations.remove(expectation)

    async def _list(self) -> None:
        items, version = await self._client.list_pages(
            POLICIES_PATH, params={"labelSelector": MANAGED_SELECTOR}
        )
        state: dict[str, dict[str, Seen]] = {}
        for item in items:
            metadata = item.get("metadata") or {}
            namespace = str(metadata.get("namespace", ""))
            if self._mine(namespace):
                state.setdefault(namespace, {})[str(metadata["name"])] = self._seen(namespace, item)
        touched = set(state) | set(self.state)
        self.state = state
        self._version = version
        self._evaluate(touched, time.monotonic())

    async def _run(self) -> None:
        await self._list()
        self._synced.set()
        while True:
            params = {
                "labelSelector": MANAGED_SELECTOR,
                "resourceVersion": self._version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "1800",
            }
            try:
                async for event in self._client.watch(POLICIES_PATH, params=params):
                    if not self._handle(event):
                        break
            except KubeError as exc:
                if exc.status != 410:
                    log.warning("policy watch failed, relisting: %s", exc)
                self._version = ""
            except (OSError, TimeoutError) as exc:
                log.warning("policy watch connection lost, resuming: %s", exc)
                continue
            if not self._version:
                self.relists += 1
                await self._list()

    def _handle(self, event: Mapping[str, Any]) -> bool:
        """Apply one watch event; False means the watch must be restarted by a relist."""
        at = time.monotonic()
        kind = event.get("type")
        obj = event.get("object") or {}
        metadata = obj.get("metadata") or {}
        if kind == "ERROR":
            # 410 Gone: our resourceVersion is too old; anything else: start over too.
            self._version = ""
            return False
        self._version = str(metadata.get("resourceVersion") or self._version)
        if kind == "BOOKMARK":
            return True
        namespace = str(metadata.get("namespace", ""))
        if not self._mine(namespace):
            return True
        self.events += 1
        name = str(metadata.get("name", ""))
        policies = self.state.setdefault(namespace, {})
        if kind == "DELETED":
            policies.pop(name, None)
            if not policies:
                del self.state[namespace]
        else:
            policies[name] = self._seen(namespace, obj)
        self._evaluate((namespace,), at)
        return True
