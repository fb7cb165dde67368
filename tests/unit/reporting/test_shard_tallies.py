"""Profile counts across shards: what a shard leader publishes and how the sum is read back,
weakened namespaces in words included.

Unit tests of reporting/statuses.py (encode/decode, Tally.plus), reporting/reports.py
(tallies_by_profile) and leadership/sharding.py (ShardTallies reading the notes); no server.
"""

from __future__ import annotations

import json
from typing import cast

import pytest

from netiso.leadership import sharding
from netiso.leadership.electing import Leadership
from netiso.model.guardrails import Rule, Violation
from netiso.observed.drifts import PolicyWrite, Verb
from netiso.observed.entries import NamespaceState, Record
from netiso.reporting.reports import tallies_by_profile
from netiso.reporting.statuses import (
    MAX_PUBLISHED_WORDS,
    MAX_SHOWN_WEAKENED,
    WEAKENED_KEY,
    Tally,
    decode_tallies,
    encode_tallies,
)


def create(name: str) -> PolicyWrite:
    return PolicyWrite(verb=Verb.CREATE, name=name)


def test_records_are_counted_per_profile_and_state() -> None:
    records = [
        Record(profile="base", state=NamespaceState.ISOLATED),
        Record(profile="base", state=NamespaceState.DRIFTED),
        Record(profile="base", state=NamespaceState.ERROR),
        Record(profile="dry", state=NamespaceState.DRY_RUN, pending=(create("a"), create("b"))),
    ]
    assert tallies_by_profile(records) == {
        "base": Tally(namespaces=3, in_sync=1, drifted=1, errors=1),
        "dry": Tally(namespaces=1, pending_changes=2),
    }


def test_published_counts_read_back_the_same() -> None:
    tallies = {
        "base": Tally(
            namespaces=700,
            in_sync=698,
            drifted=1,
            errors=1,
            weakened=1,
            guardrail_violations=2,
            guardrail_exceptions=3,
        )
    }
    text = encode_tallies(tallies)
    assert text == '{"base":[700,698,1,1,0,1,2,3]}'
    assert decode_tallies(text) == tallies


def test_counts_of_a_replica_before_guardrails_still_add_up() -> None:
    # During a rolling upgrade an older shard leader publishes five counts.
    assert decode_tallies('{"base":[700,698,1,1,0]}') == {
        "base": Tally(namespaces=700, in_sync=698, drifted=1, errors=1)
    }


def test_namespaces_weakened_by_their_own_policies_are_counted() -> None:
    def violation(policy: str, rule: Rule, exception: str | None = None) -> Violation:
        return Violation(
            rule=rule,
            path="spec.ingress[0].ports",
            message="m",
            namespace="a",
            policy=policy,
            exception=exception,
        )

    records = [
        Record(
            profile="base",
            state=NamespaceState.DRIFTED,
            violations=frozenset(
                {
                    violation("open", Rule.NO_PORTS),
                    violation("open", Rule.NO_PEERS),
                    violation("wide", Rule.BROAD_CIDR),
                    violation("ticket", Rule.NO_PORTS, exception="OPS-1"),
                }
            ),
        ),
        Record(
            profile="base",
            state=NamespaceState.ISOLATED,
            violations=frozenset({violation("ticket", Rule.NO_PORTS, exception="OPS-2")}),
        ),
    ]
    assert tallies_by_profile(records) == {
        "base": Tally(
            namespaces=2,
            in_sync=1,
            drifted=1,
            weakened=1,
            guardrail_violations=2,
            guardrail_exceptions=2,
        )
    }


def test_profiles_without_namespaces_are_not_published() -> None:
    assert encode_tallies({"empty": Tally()}) == "{}"


def test_unreadable_notes_count_as_nothing_published() -> None:
    assert decode_tallies("") == {}
    assert decode_tallies("not json") == {}
    assert decode_tallies("[1, 2]") == {}
    assert decode_tallies('{"a": [1, 2], "b": [1, 1, 0, 0, "x"], "c": [2, 2, 0, 0, 0]}') == {
        "c": Tally(namespaces=2, in_sync=2)
    }


def test_shards_add_up_and_keep_the_dry_run_flag_of_the_writer() -> None:
    own = Tally(namespaces=2, in_sync=1, errors=1, dry_run=True)
    other = Tally(namespaces=3, in_sync=3, pending_changes=4)
    assert own.plus(other) == Tally(
        namespaces=5, in_sync=4, errors=1, pending_changes=4, dry_run=True
    )


OPEN = ("reachable from everywhere on every port of every protocol",)


def test_published_weakened_namespaces_read_back_the_same() -> None:
    tallies = {
        "base": Tally(
            namespaces=3,
            drifted=2,
            weakened=2,
            guardrail_violations=2,
            exposures=(("a", OPEN), ("b", ())),
        ),
        "quiet": Tally(namespaces=1, in_sync=1),
    }
    text = encode_tallies(tallies)
    assert decode_tallies(text) == tallies
    # Beside the counts, under a key no profile can have, which older replicas skip.
    assert json.loads(text)["base"] == [3, 0, 2, 0, 0, 2, 2, 0]
    assert set(json.loads(text)[WEAKENED_KEY]) == {"base"}


def test_shards_weakened_namespaces_merge_to_the_first_ones_by_name() -> None:
    # Each shard publishes its own first ten: the merge is the first ten of all of them.
    even = Tally(namespaces=10, exposures=tuple((f"ns-{i:02d}", OPEN) for i in range(0, 20, 2)))
    odd = Tally(namespaces=10, exposures=tuple((f"ns-{i:02d}", ()) for i in range(1, 21, 2)))
    merged = even.plus(odd)
    assert [name for name, _ in merged.exposures] == [f"ns-{i:02d}" for i in range(10)]
    assert len(merged.exposures) == MAX_SHOWN_WEAKENED
    assert dict(merged.exposures)["ns-04"] == OPEN
    assert merged.namespaces == 20
    # The same namespace from two shards (one changing hands): listed once, the writer's words.
    assert Tally(exposures=(("a", OPEN),)).plus(Tally(exposures=(("a", ()),))).exposures == (
        ("a", OPEN),
    )


def test_words_beyond_the_budget_are_left_out_but_the_counts_are_published() -> None:
    long = ("x" * 500,) * 5
    tallies = {
        f"p{index:02d}": Tally(namespaces=10, weakened=10, exposures=((f"ns-{index}", long),) * 10)
        for index in range(20)
    }
    text = encode_tallies(tallies)
    published = json.loads(text)
    sizes = [len(json.dumps(w, separators=(",", ":"))) for w in published[WEAKENED_KEY].values()]
    assert sum(sizes) <= MAX_PUBLISHED_WORDS
    assert 0 < len(published[WEAKENED_KEY]) < len(tallies)
    decoded = decode_tallies(text)
    assert {name: t.weakened for name, t in decoded.items()} == dict.fromkeys(tallies, 10)


def test_unreadable_words_are_dropped_and_the_counts_kept() -> None:
    for words in ("x", [["a"]], [[1, []]], [["a", [1]]], [["a", "not a list"]]):
        text = json.dumps({"base": [1, 0, 1, 0, 0, 1, 1, 0], WEAKENED_KEY: {"base": words}})
        assert decode_tallies(text) == {
            "base": Tally(namespaces=1, drifted=1, weakened=1, guardrail_violations=1)
        }


class Published:
    """Stands in for the Leadership: this replica holds shard 0; `notes` are the others'."""

    shards = 3

    def __init__(self) -> None:
        self.notes_of: dict[int, str] = {}

    def held(self) -> frozenset[int]:
        return frozenset({0})

    def notes(self, shard: int) -> str:
        return self.notes_of.get(shard, "")


def test_remote_counts_follow_each_shards_notes_decoding_each_version_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[str] = []

    def counting(text: str) -> dict[str, Tally]:
        decoded.append(text)
        return decode_tallies(text)

    monkeypatch.setattr(sharding, "decode_tallies", counting)
    leadership = Published()
    tallies = sharding.ShardTallies(leadership=cast(Leadership, leadership), interval=1.0)
    one = encode_tallies({"base": Tally(namespaces=2, weakened=1, exposures=(("b", OPEN),))})
    two = encode_tallies({"base": Tally(namespaces=3, weakened=1, exposures=(("a", OPEN),))})
    leadership.notes_of = {1: one, 2: two}
    expected = Tally(namespaces=5, weakened=2, exposures=(("a", OPEN), ("b", OPEN)))
    assert tallies.remote("base") == expected
    assert tallies.remote("base") == expected
    assert sorted(decoded) == sorted([one, two])
    leadership.notes_of[2] = encode_tallies({"base": Tally(namespaces=1)})
    assert tallies.remote("base") == Tally(namespaces=3, weakened=1, exposures=(("b", OPEN),))
    assert len(decoded) == 3
