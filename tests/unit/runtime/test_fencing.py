"""Writes carry the resourceVersion they were decided on, and the fence is asked at the send.

Unit tests of the cluster layer (netiso.runtime.client, netiso.runtime.applying) against a
small local HTTP server that keeps one NetworkPolicy with a uid and a resourceVersion and
refuses a stale precondition with 409, as the API server does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from netiso.observed.drifts import LivePolicy
from netiso.rendering.bodies import RenderedPolicy, policy_hash
from netiso.runtime.applying import delete, replace_policy
from netiso.runtime.client import ApiClient, ApiError, Credentials, Fenced

COLLECTION = "/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies"
PATH = f"{COLLECTION}/netiso-default-deny"


def stored_policy(version: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "netiso-default-deny",
            "namespace": "ns",
            "uid": "uid-1",
            "resourceVersion": str(version),
            "labels": {"app.kubernetes.io/managed-by": "netiso"},
            "annotations": {},
        },
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    body["metadata"]["annotations"]["netiso.io/spec-hash"] = policy_hash(body)
    return body


@dataclass
class Store:
    """One object; every request as (method, body) in arrival order, a list of the
    collection recorded as LIST."""

    version: int = 7
    exists: bool = True
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
async def store() -> AsyncIterator[tuple[str, Store]]:
    state = Store()

    async def handle(request: web.Request) -> web.Response:
        text = await request.text()
        body: dict[str, Any] = json.loads(text) if text else {}
        state.requests.append((request.method, body))
        if not state.exists:
            return web.json_response({"reason": "NotFound"}, status=404)
        if request.method == "GET":
            return web.json_response(stored_policy(state.version))
        if request.method == "PUT":
            wanted = str(body["metadata"].get("resourceVersion", ""))
        else:
            preconditions = body.get("preconditions") or {}
            if preconditions.get("uid") not in (None, "uid-1"):
                return web.json_response({"reason": "Conflict", "message": "uid"}, status=409)
            wanted = str(preconditions.get("resourceVersion", ""))
        if wanted != str(state.version):
            return web.json_response({"reason": "Conflict", "message": "stale"}, status=409)
        if request.method == "DELETE":
            state.exists = False
            return web.json_response({"kind": "Status", "status": "Success"})
        state.version += 1
        return web.json_response(
            {**body, "metadata": {**body["metadata"], "resourceVersion": str(state.version)}}
        )

    async def listing(request: web.Request) -> web.Response:
        state.requests.append(("LIST", {}))
        named = request.query.get("fieldSelector", "") == "metadata.name=netiso-default-deny"
        items = [stored_policy(state.version)] if state.exists and named else []
        return web.json_response({"kind": "NetworkPolicyList", "metadata": {}, "items": items})

    app = web.Application()
    app.router.add_route("*", PATH, handle)
    app.router.add_get(COLLECTION, listing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", state
    await runner.cleanup()


def rendered() -> RenderedPolicy:
    body = stored_policy(0)
    for key in ("uid", "resourceVersion"):
        del body["metadata"][key]
    spec_hash = body["metadata"]["annotations"]["netiso.io/spec-hash"]
    return RenderedPolicy(
        role="default-deny",
        name="netiso-default-deny",
        namespace="ns",
        body=body,
        spec_hash=spec_hash,
    )


async def test_a_replace_with_a_stale_resource_version_is_refused_once_not_retried(
    store: tuple[str, Store],
) -> None:
    url, state = store
    api = ApiClient(Credentials(server=url), retries=5)
    try:
        with pytest.raises(ApiError) as caught:
            await replace_policy(api, rendered(), resource_version="6")
    finally:
        await api.close()
    assert caught.value.status == 409
    assert [method for method, _ in state.requests] == ["PUT"]
    assert state.requests[0][1]["metadata"]["resourceVersion"] == "6"
    assert state.version == 7


async def test_a_replace_is_never_sent_without_a_resource_version(
    store: tuple[str, Store],
) -> None:
    url, state = store
    api = ApiClient(Credentials(server=url))
    try:
        with pytest.raises(ValueError, match="without a resourceVersion"):
            await replace_policy(api, rendered(), resource_version="")
    finally:
        await api.close()
    assert state.requests == []


async def test_a_delete_carries_uid_and_resource_version_preconditions(
    store: tuple[str, Store],
) -> None:
    url, state = store
    api = ApiClient(Credentials(server=url))
    try:
        await delete(api, LivePolicy.from_body(stored_policy(7)))
    finally:
        await api.close()
    assert state.requests == [
        (
            "DELETE",
            {
                "kind": "DeleteOptions",
                "apiVersion": "v1",
                "preconditions": {"uid": "uid-1", "resourceVersion": "7"},
            },
        )
    ]
    assert not state.exists


async def test_a_delete_refused_on_a_stale_version_is_retried_only_after_a_fresh_read(
    store: tuple[str, Store],
) -> None:
    url, state = store
    api = ApiClient(Credentials(server=url))
    try:
        await delete(api, LivePolicy.from_body(stored_policy(5)))
    finally:
        await api.close()
    assert [(m, b.get("preconditions")) for m, b in state.requests] == [
        ("DELETE", {"uid": "uid-1", "resourceVersion": "5"}),
        ("LIST", None),
        ("DELETE", {"uid": "uid-1", "resourceVersion": "7"}),
    ]


async def test_a_fence_that_closes_during_a_write_stops_its_next_attempt(
    store: tuple[str, Store],
) -> None:
    # The first DELETE went out while leading and was refused on its version; by the time
    # the object was read again the Lease was gone: the second DELETE is never sent.
    url, state = store
    answers = iter([True])
    # Leading for the first write only (reads are never fenced).
    api = ApiClient(Credentials(server=url), fence=lambda: next(answers, False))
    try:
        with pytest.raises(Fenced):
            await delete(api, LivePolicy.from_body(stored_policy(5)))
    finally:
        await api.close()
    assert [method for method, _ in state.requests] == ["DELETE", "LIST"]
    assert state.exists
