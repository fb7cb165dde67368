"""The status flusher: writes a dirty profile's status once, skips unchanged, retries failures."""

from __future__ import annotations

from typing import Any, cast

from netiso.observed.entries import ProfileEntry
from netiso.reporting.events import Events
from netiso.reporting.statuses import StatusFlusher, StatusWriter, Tally
from netiso.runtime.client import ApiClient
from netiso.runtime.posting import EventPoster
from tests.unit.reporting.fakes import RecordingApi


def entry(name: str = "base", **extra: Any) -> ProfileEntry:
    spec = {"owner": "platform-team", "reason": "unit test"}
    body = {
        "apiVersion": "netiso.io/v1alpha1",
        "kind": "IsolationProfile",
        "metadata": {"name": name, "uid": "u", "generation": 2},
        "spec": spec,
        **extra,
    }
    return ProfileEntry.from_body(body)


def flusher(
    api: RecordingApi, *, profiles: dict[str, ProfileEntry], tally: Tally
) -> tuple[StatusFlusher, set[str], list[dict[str, Any]]]:
    dirty: set[str] = set()
    posted: list[dict[str, Any]] = []

    class Poster(EventPoster):
        def submit(self, body: dict[str, Any]) -> None:
            posted.append(body)

    client = cast(ApiClient, api)
    return (
        StatusFlusher(
            writer=StatusWriter(client, interval=0),
            events=Events(Poster(client)),
            dirty=dirty,
            profile=profiles.get,
            tally=lambda name, dry_run=False: tally,
            started=lambda: True,
            interval=0,
        ),
        dirty,
        posted,
    )


async def test_a_dirty_profile_gets_one_status_write_and_a_ready_event() -> None:
    api = RecordingApi()
    flush, dirty, posted = flusher(
        api, profiles={"base": entry()}, tally=Tally(namespaces=2, in_sync=2)
    )
    dirty.add("base")
    await flush.flush_once()
    assert [(m, p) for m, p, _ in api.requests] == [
        ("PATCH", "/apis/netiso.io/v1alpha1/isolationprofiles/base/status")
    ]
    status = api.requests[0][2]["status"]
    assert (status["namespaces"], status["inSync"], status["observedGeneration"]) == (2, 2, 2)
    assert dirty == set()
    assert [e["reason"] for e in posted] == ["InSync"]
    # Dirty again with nothing changed: no write at all.
    dirty.add("base")
    await flush.flush_once()
    assert len(api.requests) == 1
    assert dirty == set()


async def test_a_failed_write_keeps_the_profile_dirty_for_the_next_pass() -> None:
    api = RecordingApi(fail_with=500)
    flush, dirty, posted = flusher(api, profiles={"base": entry()}, tally=Tally(namespaces=1))
    dirty.add("base")
    await flush.flush_once()
    assert dirty == {"base"}
    assert posted == []


async def test_a_profile_that_is_gone_or_deleting_is_dropped_without_a_write() -> None:
    api = RecordingApi()
    deleting = entry("old", metadata={"name": "old", "deletionTimestamp": "2026-01-01T00:00:00Z"})
    flush, dirty, _ = flusher(api, profiles={"old": deleting}, tally=Tally())
    dirty.update({"old", "gone"})
    await flush.flush_once()
    assert api.requests == []
    assert dirty == set()
