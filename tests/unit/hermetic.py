"""The operator's runtime, built by its composition root, against the in-memory API server.

`running()` builds the Runtime exactly as the startup handler does (assembly.build_runtime),
with every API client talking to a FakeApiServer, starts it, and stops it in cleanup order.
Tests run under `looptime`: `await asyncio.sleep(s)` lets everything the operator would do in
s seconds happen, in no real time. Profiles reach the runtime as Kopf would hand them over,
through the profile handler (`deliver_profile`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import kopf

from netiso import conventions
from netiso.assembly import Runtime, build_runtime
from netiso.handlers import isolationprofiles
from netiso.leadership.electing import Elector
from netiso.runtime.admissions import BINDINGS, POLICIES
from netiso.runtime.client import ApiClient, Credentials, FixedCredentials
from netiso.runtime.reading import NAMESPACES, PROFILES, policy_path, profile_path
from netiso.settings import Settings
from tests.unit.apiserver import FakeApiServer

__all__ = ["BINDINGS", "NAMESPACES", "POLICIES", "PROFILES", "policy_path", "profile_path"]

# One replica, no endpoint, statuses written as soon as they change; the admission keeper
# and leader election are turned on by the tests about them.
SETTINGS = Settings(
    metrics_port=0,
    leader_election=False,
    admission=False,
    status_interval=0,
    max_concurrency=4,
)
DEFAULT_DENY = "netiso-default-deny"
DNS_EGRESS = "netiso-allow-dns-egress"


def settings(**changes: Any) -> Settings:
    """The tests' settings with `changes`."""
    return dataclasses.replace(SETTINGS, **changes)


def profile_body(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{conventions.GROUP}/{conventions.VERSION}",
        "kind": "IsolationProfile",
        "metadata": {"name": name},
        "spec": {"owner": "platform-team", "reason": "unit test", **spec},
    }


def namespace_body(name: str, *, profile: str | None) -> dict[str, Any]:
    labels = {conventions.PROFILE_LABEL: profile} if profile is not None else {}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


class OnTheLoop:
    """The Lease campaign on the test's own loop, where looptime runs it; ElectionThread's
    loop of its own would run on real time."""

    def __init__(self, elector: Elector, *, api: ApiClient) -> None:
        self.elector = elector
        self._api = api

    def start(self) -> None:
        self.elector.start()

    async def stop(self, *, release_leases: bool = True) -> None:
        await self.elector.stop(release_leases=release_leases)
        await self._api.close()


def build(server: FakeApiServer, config: Settings = SETTINGS) -> Runtime:
    """The Runtime as the startup handler builds it, every client talking to `server`."""
    return build_runtime(
        config,
        credentials=FixedCredentials(Credentials(server="https://fake.invalid")),
        clients=server.clients,
        campaigns=OnTheLoop,
    )


@contextlib.asynccontextmanager
async def running(server: FakeApiServer, config: Settings = SETTINGS) -> AsyncIterator[Runtime]:
    """A started Runtime whose clients talk to `server`; stopped on the way out."""
    runtime = build(server, config)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def deliver_profile(runtime: Runtime, server: FakeApiServer, name: str) -> None:
    """Hand the stored profile to the profile handler as Kopf's watch would (or its deletion,
    when it is gone)."""
    memo = kopf.Memo()
    memo["netiso"] = runtime
    body = server.get(profile_path(name))
    deleted = body is None
    # Kopf's decorator types the handler with every keyword Kopf passes; it reads three.
    handler = cast(Callable[..., Awaitable[None]], isolationprofiles.profile_event)
    await handler(
        body=cast(kopf.Body, body or {"metadata": {"name": name}}),
        type="DELETED" if deleted else "MODIFIED",
        memo=memo,
    )


def policy_names(server: FakeApiServer, namespace: str) -> set[str]:
    return {body["metadata"]["name"] for body in server.items(policy_path(namespace))}


def event_reasons(server: FakeApiServer, namespace: str) -> list[str]:
    return [body["reason"] for body in server.items(f"/api/v1/namespaces/{namespace}/events")]


def policy_writes(server: FakeApiServer) -> list[tuple[str, str]]:
    """(verb, policy name) of every NetworkPolicy write the server received, in order."""
    out = []
    for sent in server.writes():
        if "/networkpolicies" not in sent.path:
            continue
        name = sent.path.rsplit("/", 1)[1]
        if sent.verb == "create":
            name = str(sent.body["metadata"]["name"])
        out.append((sent.verb, name))
    return out


async def settle(seconds: float = 5.0) -> None:
    """Let the operator work for `seconds` of loop time (looptime: none of real time)."""
    await asyncio.sleep(seconds)
