"""The in-memory API server the runtime's unit tests stand on answers as the real one does.

Each rule the runtime relies on is checked here once: resourceVersions, optimistic
concurrency, preconditions, pages at one snapshot, a label selector turning a change into
ADDED or DELETED for a watch, and 410 Gone once a version has expired.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from netiso.runtime.client import ApiError, Fenced
from tests.unit.apiserver import FakeApiServer

pytestmark = pytest.mark.looptime

POLICIES = "/apis/networking.k8s.io/v1/namespaces/a/networkpolicies"
NAMESPACES = "/api/v1/namespaces"


def policy(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"podSelector": {}, **spec}}


async def test_writes_get_new_versions_and_a_stale_one_is_a_conflict() -> None:
    api = FakeApiServer().client()
    _, created = await api.request("POST", POLICIES, verb="create", body=policy("p"))
    version = created["metadata"]["resourceVersion"]
    changed = {**created, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    _, replaced = await api.request("PUT", f"{POLICIES}/p", verb="update", body=changed)
    assert int(replaced["metadata"]["resourceVersion"]) > int(version)
    with pytest.raises(ApiError) as conflict:
        await api.request("PUT", f"{POLICIES}/p", verb="update", body=changed)
    assert (conflict.value.status, conflict.value.reason) == (409, "Conflict")
    status, _ = await api.request(
        "POST", POLICIES, verb="create", body=policy("p"), allow_statuses=frozenset({409})
    )
    assert status == 409
    with pytest.raises(ApiError) as refused:
        await api.request(
            "DELETE",
            f"{POLICIES}/p",
            verb="delete",
            body={"preconditions": {"uid": created["metadata"]["uid"], "resourceVersion": version}},
        )
    assert refused.value.status == 409
    await api.request("DELETE", f"{POLICIES}/p", verb="delete", body={})
    with pytest.raises(ApiError) as gone:
        await api.request("GET", f"{POLICIES}/p", verb="get")
    assert gone.value.status == 404


async def test_a_fenced_client_sends_no_write() -> None:
    server = FakeApiServer()
    with pytest.raises(Fenced):
        await server.client(fence=lambda: False).request(
            "POST", POLICIES, verb="create", body=policy("p")
        )
    assert server.writes() == []


async def test_pages_come_from_one_snapshot() -> None:
    server = FakeApiServer()
    for i in range(5):
        server.put(POLICIES, policy(f"p{i}"))
    api = server.client()
    _, first = await api.request("GET", POLICIES, verb="list", params={"limit": "2"})
    server.put(POLICIES, policy("late"))
    names = [item["metadata"]["name"] for item in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        _, page = await api.request(
            "GET", POLICIES, verb="list", params={"limit": "2", "continue": token}
        )
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        names += [item["metadata"]["name"] for item in page["items"]]
        token = page["metadata"].get("continue", "")
    assert names == [f"p{i}" for i in range(5)]


async def test_a_watch_with_a_selector_sees_objects_enter_and_leave_it() -> None:
    server = FakeApiServer()
    api = server.client()
    _, listing = await api.request("GET", NAMESPACES, verb="list")
    events: list[tuple[str, str]] = []

    async def watch() -> None:
        params = {"resourceVersion": listing["metadata"]["resourceVersion"], "labelSelector": "x"}
        async for event in api.watch(NAMESPACES, params=params, read_timeout=60):
            events.append((event["type"], event["object"]["metadata"]["name"]))

    task = asyncio.create_task(watch())
    server.put(NAMESPACES, {"metadata": {"name": "n", "labels": {"x": "1"}}})
    server.put(NAMESPACES, {"metadata": {"name": "n", "labels": {"x": "2"}}})
    server.put(NAMESPACES, {"metadata": {"name": "n", "labels": {}}})
    server.put(NAMESPACES, {"metadata": {"name": "other", "labels": {}}})
    await asyncio.sleep(1)
    task.cancel()
    assert events == [("ADDED", "n"), ("MODIFIED", "n"), ("DELETED", "n")]


async def test_an_expired_version_is_410_gone_for_a_watch() -> None:
    server = FakeApiServer()
    api = server.client()
    _, listing = await api.request("GET", NAMESPACES, verb="list")
    server.expire_watches()
    params = {"resourceVersion": listing["metadata"]["resourceVersion"]}
    events = [event async for event in api.watch(NAMESPACES, params=params, read_timeout=60)]
    assert [(e["type"], e["object"]["code"]) for e in events] == [("ERROR", 410)]
