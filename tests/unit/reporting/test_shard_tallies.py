"""Profile counts across shards: what a shard leader publishes and how the sum is read back.

Unit tests of reporting/statuses.py (encode/decode, Tally.plus) and reporting/reports.py
(tallies_by_profile); no server.
"""

from __future__ import annotations

from netiso.model.guardrails import Rule, Violation
from netiso.observed.drifts import PolicyWrite, Verb
from netiso.observed.entries import NamespaceState, Record
from netiso.reporting.reports import tallies_by_profile
from netiso.reporting.statuses import Tally, decode_tallies, encode_tallies


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
