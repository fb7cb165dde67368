"""Following a collection: events in order, resume from the last version, relist on 410 Gone.

The API client is replaced at its HTTP boundary by a scripted stand-in, so the loop's decisions
(which resourceVersion to resume from, when to relist, what to hand over) are tested without a
server; the operator's integration tests run the same code against the real one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import pytest

from netiso.runtime import watching
from netiso.runtime.client import ApiClient, ApiError


def obj(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": version}}


class ScriptedApi:
    """Each watch() call plays the next script: a list of events, or an ApiError to raise."""

    def __init__(self, scripts: list[list[dict[str, Any]] | ApiError]) -> None:
        self.scripts = scripts
        self.watched_from: list[str] = []
        self.listed = 0

    async def watch(
        self, path: str, *, params: Mapping[str, str], read_timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        self.watched_from.append(params["resourceVersion"])
        if not self.scripts:
            await asyncio.Event().wait()  # nothing more to say: block like an idle watch
        script = self.scripts.pop(0)
        if isinstance(script, ApiError):
            raise script
        for event in script:
            yield event

    async def request(self, method: str, path: str, **_: Any) -> tuple[int, dict[str, Any]]:
        self.listed += 1
        return 200, {"metadata": {"resourceVersion": "50"}, "items": [obj("b", "49")]}


async def run(api: ScriptedApi) -> tuple[list[tuple[str, bool]], list[list[str]]]:
    events: list[tuple[str, bool]] = []
    relists: list[list[str]] = []
    task = asyncio.create_task(
        watching.follow(
            cast(ApiClient, api),
            watching.Watched("namespaces", "/api/v1/namespaces", "netiso.io/profile"),
            resource_version="10",
            on_event=lambda body, deleted: events.append((body["metadata"]["name"], deleted)),
            on_relist=lambda items: relists.append([i["metadata"]["name"] for i in items]),
        )
    )
    for _ in range(100):
        await asyncio.sleep(0.01)
        if not api.scripts:
            break
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return events, relists


async def test_events_are_handed_over_and_the_watch_resumes_from_the_last_version() -> None:
    api = ScriptedApi(
        [
            [
                {"type": "ADDED", "object": obj("a", "11")},
                {"type": "BOOKMARK", "object": obj("", "15")},
            ],
            [{"type": "DELETED", "object": obj("a", "16")}],
        ]
    )
    events, relists = await run(api)
    assert events == [("a", False), ("a", True)]
    assert api.watched_from[:3] == ["10", "15", "16"]
    assert relists == []


async def test_a_watch_that_is_too_old_is_replaced_by_a_fresh_listing() -> None:
    api = ScriptedApi(
        [
            [{"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "old"}}],
            [{"type": "MODIFIED", "object": obj("b", "51")}],
        ]
    )
    events, relists = await run(api)
    assert relists == [["b"]]
    assert api.listed == 1
    assert api.watched_from[:2] == ["10", "50"]
    assert events == [("b", False)]


async def test_a_refused_watch_is_retried_from_the_same_version() -> None:
    api = ScriptedApi([ApiError(status=0, reason="ConnectionError", message="reset"), []])
    events, _ = await run(api)
    assert events == []
    assert api.watched_from[:2] == ["10", "10"]
