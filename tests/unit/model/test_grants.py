"""Exceptions listed in the profile (spec.guardrails.exceptions): parsed with the CRD's checks
and words, matched by namespace, policy and rule, and no longer counted from their expiry on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from netiso.model.advisories import expired_exception_warnings
from netiso.model.grants import Grant, apply_grants
from netiso.model.guardrails import Rule, Violation
from netiso.model.parsing import parse_profile
from netiso.model.problems import ProfileError
from netiso.model.reasons import BLANK_REASON

NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ENTRY: dict[str, Any] = {
    "namespace": "team-a",
    "policy": "allow-internet",
    "rules": ["broad-cidr"],
    "reason": "SEC-42 the payment provider publishes no range",
}


def profile(*entries: Any) -> dict[str, Any]:
    return {
        "apiVersion": "netiso.io/v1alpha1",
        "kind": "IsolationProfile",
        "metadata": {"name": "p"},
        "spec": {"guardrails": {"exceptions": list(entries)}},
    }


def problems(*entries: Any) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        parse_profile(profile(*entries))
    return [str(problem) for problem in caught.value.problems]


def test_a_listed_exception_is_read_with_its_expiry_in_utc() -> None:
    parsed = parse_profile(profile({**ENTRY, "expires": "2026-12-07T14:00:00+02:00"}))
    (grant,) = parsed.guardrails.exceptions
    assert grant == Grant(
        namespace="team-a",
        policy="allow-internet",
        rules=(Rule.BROAD_CIDR,),
        reason=ENTRY["reason"],
        expires=NOON,
    )
    assert grant.to_spec()["expires"] == "2026-12-07T12:00:00Z"
    assert parse_profile(profile(grant.to_spec())).guardrails.exceptions == (grant,)


@pytest.mark.parametrize("reason", ["", " ", "\u200b", "\t\u00ad\u200d", "\ufeff\u202e"])
def test_a_blank_or_invisible_reason_is_refused_with_the_crds_words(reason: str) -> None:
    assert problems({**ENTRY, "reason": reason}) == [
        f"spec.guardrails.exceptions[0].reason: {BLANK_REASON}"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"reason": None}, "spec.guardrails.exceptions[0].reason: required"),
        ({"rules": []}, "spec.guardrails.exceptions[0].rules: must name at least one"),
        ({"rules": ["all-ports"]}, "spec.guardrails.exceptions[0].rules[0]: must be one of"),
        ({"rules": ["no-ports", "no-ports"]}, "rules[1]: duplicate"),
        ({"namespace": "Team_A"}, "spec.guardrails.exceptions[0].namespace: must be a DNS-1123"),
        ({"policy": None}, "spec.guardrails.exceptions[0].policy: required"),
        ({"expires": "2026-12-07"}, "spec.guardrails.exceptions[0].expires: must be an RFC 3339"),
        ({"expires": "2026-12-07T12:00:00"}, "expires: must be an RFC 3339 time with a zone"),
        ({"expires": "2026-02-30T12:00:00Z"}, "expires: must be an RFC 3339"),
        ({"owner": "x"}, "spec.guardrails.exceptions[0].owner: unknown field"),
    ],
)
def test_each_bad_field_is_named_with_the_reason(change: dict[str, Any], expected: str) -> None:
    entry = {key: value for key, value in {**ENTRY, **change}.items() if value is not None}
    (found,) = problems(entry)
    assert expected in found


def violation(rule: Rule, *, policy: str = "allow-internet", exception: str | None = None) -> Any:
    return Violation(
        rule=rule, path="p", message="m", namespace="team-a", policy=policy, exception=exception
    )


def test_an_entry_covers_its_namespace_policy_and_rules_until_it_expires() -> None:
    grant = Grant("team-a", "allow-internet", (Rule.BROAD_CIDR,), "SEC-42", expires=NOON)
    found = [
        violation(Rule.BROAD_CIDR),
        violation(Rule.NO_PORTS),
        violation(Rule.BROAD_CIDR, policy="other"),
        violation(Rule.BROAD_CIDR, exception="annotated"),
    ]
    before = apply_grants(found, [grant], now=NOON - timedelta(seconds=1))
    assert [v.exception for v in before] == ["SEC-42", None, None, "annotated"]
    after = apply_grants(found, [grant], now=NOON)
    assert [v.exception for v in after] == [None, None, None, "annotated"]
    assert after[0].lapsed == "SEC-42 (expired 2026-12-07T12:00:00Z)"
    assert [v.lapsed for v in after[1:]] == ["", "", ""]


def test_an_entry_warns_from_its_expiry_on_naming_the_entry_and_the_time() -> None:
    parsed = parse_profile(
        profile(
            {**ENTRY, "policy": "open-ended"},
            {**ENTRY, "expires": "2026-12-07T14:00:00+02:00"},
        )
    )
    assert expired_exception_warnings(parsed, now=NOON - timedelta(microseconds=1)) == ()
    (warning,) = expired_exception_warnings(parsed, now=NOON)
    assert warning.path == "spec.guardrails.exceptions[1].expires"
    assert warning.message.startswith(
        "the exception for team-a/allow-internet expired 2026-12-07T12:00:00Z: "
    )
    assert expired_exception_warnings(parsed, now=NOON + timedelta(days=365)) == (warning,)
