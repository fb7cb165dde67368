"""The IsolationProfile handlers as Kopf calls them, over a runtime on the in-memory API server.

The handlers are one-line adapters into the Runtime (assembly.py); these tests call them with
the keywords Kopf passes and check what the API server ends up holding, on loop time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import kopf
import pytest

from netiso.assembly import Runtime
from netiso.handlers import isolationprofiles
from netiso.handlers.memo import runtime_of
from tests.unit.apiserver import FakeApiServer
from tests.unit.hermetic import (
    DEFAULT_DENY,
    DNS_EGRESS,
    NAMESPACES,
    PROFILES,
    deliver_profile,
    namespace_body,
    policy_names,
    policy_writes,
    profile_body,
    profile_path,
    running,
    settings,
    settle,
)

pytestmark = pytest.mark.looptime

Handler = Callable[..., Awaitable[None]]


def memo_of(runtime: Runtime) -> kopf.Memo:
    memo = kopf.Memo()
    memo["netiso"] = runtime
    return memo


async def delete(server: FakeApiServer, runtime: Runtime, name: str) -> None:
    """A person deletes the profile; Kopf hands the marked profile to the profile event
    handler, then calls the deletion handler (its finalizer keeps the profile meanwhile)."""
    server.remove(PROFILES, name)
    await deliver_profile(runtime, server, name)
    body = server.get(profile_path(name))
    assert body is not None
    assert body["metadata"].get("deletionTimestamp")
    handler = cast(Handler, isolationprofiles.profile_delete)
    await handler(name=name, spec=cast(kopf.Spec, body["spec"]), memo=memo_of(runtime))


async def tick(runtime: Runtime, name: str) -> None:
    """One tick of Kopf's resync timer."""
    handler = cast(Handler, isolationprofiles.profile_resync)
    await handler(name=name, memo=memo_of(runtime))


def opted_in(server: FakeApiServer, *namespaces: str, **spec: Any) -> None:
    profile = profile_body("base", **spec)
    profile["metadata"]["finalizers"] = ["netiso.io/cleanup"]  # Kopf's, for the handler
    server.put(PROFILES, profile)
    for namespace in namespaces:
        server.put(NAMESPACES, namespace_body(namespace, profile="base"))


def test_a_handler_before_startup_asks_kopf_to_retry() -> None:
    with pytest.raises(kopf.TemporaryError, match="still starting"):
        runtime_of(kopf.Memo())


async def test_deleting_a_profile_removes_its_policies_default_deny_first() -> None:
    server = FakeApiServer()
    opted_in(server, "team-a", "team-b", onDelete="Delete")
    async with running(server) as runtime:
        await settle()
        await delete(server, runtime, "base")
        assert policy_names(server, "team-a") == policy_names(server, "team-b") == set()
        deletes = [name for verb, name in policy_writes(server) if verb == "delete"]
        assert deletes[0] == DEFAULT_DENY


async def test_an_orphaned_profiles_policies_stay() -> None:
    server = FakeApiServer()
    opted_in(server, "team-a", onDelete="Orphan")
    async with running(server) as runtime:
        await settle()
        await delete(server, runtime, "base")
        assert policy_names(server, "team-a") == {DNS_EGRESS, DEFAULT_DENY}


async def test_a_deletion_that_cannot_remove_the_policies_yet_is_retried_by_kopf() -> None:
    server = FakeApiServer()
    opted_in(server, "team-a", onDelete="Delete")
    async with running(server) as runtime:
        await settle()
        server.fail("DELETE", "networkpolicies", status=403, times=1)
        with pytest.raises(kopf.TemporaryError, match="not yet removed from 1 namespace"):
            await delete(server, runtime, "base")
        await settle(5)  # Kopf's retry delay
        handler = cast(Handler, isolationprofiles.profile_delete)
        spec = cast(kopf.Spec, {"onDelete": "Delete"})
        await handler(name="base", spec=spec, memo=memo_of(runtime))
        assert policy_names(server, "team-a") == set()


def reconciles(runtime: Runtime) -> float:
    registry = runtime.metrics.registry
    return sum(
        registry.get_sample_value("netiso_reconcile_total", {"result": result}) or 0.0
        for result in ("unchanged", "changed", "error", "skipped")
    )


async def test_the_resync_timer_rechecks_the_namespaces_once_per_interval() -> None:
    server = FakeApiServer()
    opted_in(server, "team-a", "team-b")
    # Statuses flushed each second, as in production: five minutes stay cheap in the test.
    async with running(server, settings(resync_interval=300, status_interval=1.0)) as runtime:
        await settle()
        before = reconciles(runtime)
        await tick(runtime, "base")  # the first tick only starts the count
        for _ in range(300 // int(isolationprofiles.RESYNC_TICK) - 1):
            await settle(isolationprofiles.RESYNC_TICK)
            await tick(runtime, "base")
        await settle()
        assert reconciles(runtime) == before
        await settle(isolationprofiles.RESYNC_TICK)
        await tick(runtime, "base")
        await settle()
        assert reconciles(runtime) == before + 2
        assert policy_writes(server) == [
            ("create", DNS_EGRESS),
            ("create", DNS_EGRESS),
            ("create", DEFAULT_DENY),
            ("create", DEFAULT_DENY),
        ]
