"""The write overlay: netiso's own writes count as live until their watch echo arrives."""

from __future__ import annotations

from netiso.observed.drifts import LivePolicy
from netiso.observed.overlays import WriteOverlay


def policy(name: str, *, actual: str = "h1", recorded: str = "h1") -> LivePolicy:
    return LivePolicy(
        namespace="team-a", name=name, recorded_hash=recorded, actual_hash=actual, uid=name
    )


def test_a_write_shows_over_the_stale_view_until_it_expires() -> None:
    overlay = WriteOverlay(ttl=30)
    stale = [policy("netiso-default-deny", actual="old", recorded="old")]
    overlay.remember("team-a", [("netiso-default-deny", policy("netiso-default-deny"))], now=0)
    assert [p.actual_hash for p in overlay.over("team-a", stale, now=10)] == ["h1"]
    # Past the TTL the view wins again: a lost echo never hides the cluster for long.
    assert [p.actual_hash for p in overlay.over("team-a", stale, now=31)] == ["old"]
    assert len(overlay) == 0


def test_a_delete_hides_the_policy_until_its_echo() -> None:
    overlay = WriteOverlay()
    live = [policy("netiso-allow-dns-egress"), policy("netiso-default-deny")]
    overlay.remember("team-a", [("netiso-allow-dns-egress", None)], now=0)
    assert [p.name for p in overlay.over("team-a", live, now=1)] == ["netiso-default-deny"]
    assert overlay.is_echo(policy("netiso-allow-dns-egress"), deleted=True)
    assert [p.name for p in overlay.over("team-a", live, now=1)] == [
        "netiso-allow-dns-egress",
        "netiso-default-deny",
    ]


def test_only_an_identical_object_is_an_echo() -> None:
    overlay = WriteOverlay()
    overlay.remember("team-a", [("netiso-default-deny", policy("netiso-default-deny"))], now=0)
    # Someone edited the object before our echo arrived: that is not our write coming back.
    assert not overlay.is_echo(policy("netiso-default-deny", actual="h2"), deleted=False)
    # The entry was consumed all the same; the next event is judged on its own.
    assert not overlay.is_echo(policy("netiso-default-deny"), deleted=False)


def test_an_edited_object_is_never_an_echo_even_with_our_hash() -> None:
    overlay = WriteOverlay()
    overlay.remember("team-a", [("netiso-default-deny", policy("netiso-default-deny"))], now=0)
    forged = policy("netiso-default-deny", actual="h1", recorded="forged")
    assert not overlay.is_echo(forged, deleted=False)


def test_a_deletion_after_a_write_is_not_an_echo() -> None:
    overlay = WriteOverlay()
    overlay.remember("team-a", [("netiso-default-deny", policy("netiso-default-deny"))], now=0)
    assert not overlay.is_echo(policy("netiso-default-deny"), deleted=True)


def test_events_for_untouched_policies_are_not_echoes() -> None:
    overlay = WriteOverlay()
    assert not overlay.is_echo(policy("netiso-default-deny"), deleted=False)
    assert overlay.over("team-b", [policy("x")], now=0) == [policy("x")]


def test_the_echo_of_a_write_in_flight_is_known_by_its_content() -> None:
    overlay = WriteOverlay()
    overlay.sending("team-a", [("netiso-default-deny", "h1"), ("netiso-allow-dns-egress", None)])
    # The watch delivered both events before the API server's answers arrived.
    assert overlay.is_echo(policy("netiso-default-deny"), deleted=False)
    assert overlay.is_echo(policy("netiso-allow-dns-egress"), deleted=True)
    overlay.remember(
        "team-a",
        [("netiso-default-deny", policy("netiso-default-deny")), ("netiso-allow-dns-egress", None)],
        now=0,
    )
    # Echoed already: nothing is laid over the view, which holds those very objects.
    assert len(overlay) == 0
    stale = [policy("netiso-default-deny", actual="old", recorded="old")]
    assert overlay.over("team-a", stale, now=1) == stale


def test_other_content_during_a_write_in_flight_is_not_an_echo() -> None:
    overlay = WriteOverlay()
    overlay.sending("team-a", [("netiso-default-deny", "h1"), ("netiso-allow-dns-egress", "h1")])
    # Someone edits one object and deletes the other while netiso writes them.
    assert not overlay.is_echo(policy("netiso-default-deny", actual="h2"), deleted=False)
    assert not overlay.is_echo(policy("netiso-allow-dns-egress"), deleted=True)
    forged = policy("netiso-default-deny", actual="h1", recorded="forged")
    assert not overlay.is_echo(forged, deleted=False)
    overlay.remember("team-a", [("netiso-default-deny", policy("netiso-default-deny"))], now=0)
    # Not echoed yet: the write is laid over the view until its echo.
    assert len(overlay) == 1


def test_writes_in_flight_end_with_remember_even_when_they_failed() -> None:
    overlay = WriteOverlay()
    overlay.sending("team-a", [("netiso-default-deny", "h1")])
    overlay.remember("team-a", [], now=0)
    # The write was never made: an object with that content later is not netiso's echo.
    assert not overlay.is_echo(policy("netiso-default-deny"), deleted=False)
    assert len(overlay) == 0
