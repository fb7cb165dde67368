"""Leader election decisions and shard assignment: model/leases.py without a server.

Times are plain monotonic seconds passed in, so every timing rule (lease duration, renew
deadline, retry period) is checked at its exact boundary.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from netiso.model.leases import (
    LeaseRecord,
    Move,
    Sighting,
    Timing,
    claim,
    decide,
    expired,
    lease_name,
    micro_time,
    release,
    shard_of,
    sight,
    write_deadline,
)

DEFAULTS = Timing()
NOW = datetime(2026, 11, 29, 5, 0, 0, 123456, tzinfo=UTC)


def held_by(holder: str, *, version: str = "7", duration: float = 15.0) -> LeaseRecord:
    return LeaseRecord(holder=holder, duration=duration, transitions=2, version=version)


def test_the_defaults_are_the_usual_fifteen_ten_and_two_seconds() -> None:
    assert (DEFAULTS.lease_duration, DEFAULTS.renew_deadline, DEFAULTS.retry_period) == (
        15.0,
        10.0,
        2.0,
    )


def test_a_missing_lease_is_created_unless_the_replica_holds_enough() -> None:
    assert decide(me="a", sighting=None, now=0.0, may_hold=True) == Move.CREATE
    assert decide(me="a", sighting=None, now=0.0, may_hold=False) == Move.WAIT


def test_the_holder_renews_its_own_lease() -> None:
    sighting = Sighting(record=held_by("a"), since=0.0)
    assert decide(me="a", sighting=sighting, now=100.0, may_hold=False) == Move.RENEW


def test_another_holder_is_waited_out_for_exactly_the_lease_duration() -> None:
    sighting = Sighting(record=held_by("b"), since=10.0)
    assert decide(me="a", sighting=sighting, now=24.99, may_hold=True) == Move.WAIT
    assert decide(me="a", sighting=sighting, now=25.0, may_hold=True) == Move.TAKE
    assert decide(me="a", sighting=sighting, now=25.0, may_hold=False) == Move.WAIT


def test_a_released_lease_is_taken_at_once() -> None:
    sighting = Sighting(record=held_by(""), since=10.0)
    assert expired(sighting, now=10.0)
    assert decide(me="a", sighting=sighting, now=10.0, may_hold=True) == Move.TAKE


def test_the_expiry_clock_restarts_only_when_the_record_changes() -> None:
    first = sight(None, held_by("b", version="7"), now=1.0)
    again = sight(first, held_by("b", version="7"), now=9.0)
    assert again.since == 1.0
    renewed = sight(again, held_by("b", version="8"), now=12.0)
    assert renewed.since == 12.0
    assert not expired(renewed, now=26.9)
    assert expired(renewed, now=27.0)


def test_writing_stops_at_the_renew_deadline_before_anyone_may_take_over() -> None:
    sent = 100.0
    assert write_deadline(sent, DEFAULTS) == 110.0
    # The earliest another replica may take the Lease: it saw the renewal after it was sent.
    others_take_over = Sighting(record=held_by("a"), since=sent).since + DEFAULTS.lease_duration
    assert write_deadline(sent, DEFAULTS) < others_take_over


def test_a_first_claim_starts_a_term_and_counts_a_transition() -> None:
    fresh = claim(me="a", previous=None, timing=DEFAULTS, now=NOW)
    assert fresh == LeaseRecord(
        holder="a",
        duration=15.0,
        transitions=0,
        acquired="2026-11-29T05:00:00.123456Z",
        renewed="2026-11-29T05:00:00.123456Z",
        version="",
    )
    taken = claim(me="a", previous=held_by("b"), timing=DEFAULTS, now=NOW)
    assert (taken.holder, taken.transitions, taken.version) == ("a", 3, "7")


def test_a_renewal_keeps_the_acquire_time_and_moves_the_renew_time() -> None:
    term = LeaseRecord(
        holder="a", duration=15, transitions=4, acquired="then", renewed="then", version="9"
    )
    renewed = claim(me="a", previous=term, timing=DEFAULTS, now=NOW)
    assert renewed.acquired == "then"
    assert renewed.renewed == micro_time(NOW)
    assert (renewed.transitions, renewed.version) == (4, "9")


def test_a_release_clears_the_holder_on_the_same_version() -> None:
    released = release(held_by("a"), now=NOW)
    assert released.holder == ""
    assert released.version == "7"
    assert released.duration == 1


def test_one_shard_uses_the_base_lease_name() -> None:
    assert lease_name("netiso-operator", shard=0, shards=1) == "netiso-operator"
    assert lease_name("netiso-operator", shard=2, shards=3) == "netiso-operator-2"


def test_shard_assignment_is_stable_and_known_in_advance() -> None:
    # Fixed values: a change of hash would move namespaces between shards on upgrade.
    assert [shard_of(f"team-{i}", 3) for i in range(8)] == [2, 0, 2, 2, 2, 0, 2, 2]
    assert shard_of("payments", 4) == 1
    assert shard_of("anything", 1) == 0


def test_shards_are_filled_evenly() -> None:
    counts = Counter(shard_of(f"ns-{i}", 4) for i in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert all(800 < count < 1200 for count in counts.values()), counts


@pytest.mark.parametrize("shards", [2, 3, 7])
def test_every_shard_is_in_range(shards: int) -> None:
    assert {shard_of(f"x{i}", shards) for i in range(500)} == set(range(shards))
