"""spec.enforcementProbe as parsed, and how a round's two outcomes become a verdict."""

from __future__ import annotations

from typing import Any

import pytest

from netiso.model.enforcement import (
    DEFAULT_PROBE_IMAGE,
    Connection,
    EnforcementProbe,
    EnforcementState,
    ProbeReason,
    conclude,
    needs_confirmation,
)
from netiso.model.parsing import parse_profile
from netiso.model.problems import ProfileError
from tests.unit.hermetic import profile_body

BLOCKED = Connection(False, "REFUSED")
OPEN = Connection(True)


def test_the_probe_is_off_by_default_with_documented_defaults() -> None:
    probe = parse_profile(profile_body("p")).enforcement_probe
    assert probe == EnforcementProbe()
    assert (probe.enabled, probe.interval, probe.port, probe.image) == (
        False,
        600,
        8080,
        DEFAULT_PROBE_IMAGE,
    )


def test_a_full_probe_spec_is_read_and_written_back() -> None:
    spec = {
        "enabled": True,
        "intervalSeconds": 120,
        "image": "mirror.example/agnhost:2.53",
        "imagePullSecrets": [{"name": "mirror-pull"}],
        "port": 9000,
    }
    profile = parse_profile(profile_body("p", enforcementProbe=spec))
    assert profile.enforcement_probe.image_pull_secrets == ("mirror-pull",)
    assert profile.to_spec()["enforcementProbe"] == spec
    assert parse_profile(profile_body("p", **profile.to_spec())) == profile


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"port": 80}, "spec.enforcementProbe.port: must be 1024..65535, got 80"),
        ({"intervalSeconds": 5}, "spec.enforcementProbe.intervalSeconds: must be 60..86400, got 5"),
        ({"enabled": "yes"}, "spec.enforcementProbe.enabled: must be a boolean, got string"),
        ({"image": "a b"}, "spec.enforcementProbe.image: must be an image reference"),
        ({"imagePullSecrets": [{"name": "Bad_Name"}]}, "imagePullSecrets[0].name: must name"),
        ({"imagePullSecrets": [{"nam": "x"}]}, "imagePullSecrets[0].nam: unknown field"),
        ({"interval": 60}, "spec.enforcementProbe.interval: unknown field"),
    ],
)
def test_a_bad_probe_spec_names_the_field_and_the_reason(
    spec: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(profile_body("p", enforcementProbe=spec))
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("forbidden", "control", "state", "reason"),
    [
        (BLOCKED, OPEN, EnforcementState.ENFORCED, ProbeReason.ENFORCED),
        (Connection(False, "TIMEOUT"), OPEN, EnforcementState.ENFORCED, ProbeReason.ENFORCED),
        (OPEN, OPEN, EnforcementState.NOT_ENFORCED, ProbeReason.NOT_ENFORCED),
        (BLOCKED, BLOCKED, EnforcementState.INCONCLUSIVE, ProbeReason.CONTROL_FAILED),
        # A failed control says nothing, whatever the forbidden connection did.
        (
            OPEN,
            Connection(False, "TIMEOUT"),
            EnforcementState.INCONCLUSIVE,
            ProbeReason.CONTROL_FAILED,
        ),
    ],
)
def test_the_control_must_get_through_before_the_forbidden_connection_decides(
    forbidden: Connection, control: Connection, state: EnforcementState, reason: ProbeReason
) -> None:
    verdict = conclude(forbidden=forbidden, control=control, target="namespace team-a")
    assert (verdict.state, verdict.reason) == (state, reason)
    assert "team-a" in verdict.message


def test_only_a_forbidden_connection_that_got_through_is_looked_at_again() -> None:
    assert needs_confirmation(forbidden=OPEN, control=OPEN)
    assert not needs_confirmation(forbidden=BLOCKED, control=OPEN)
    assert not needs_confirmation(forbidden=OPEN, control=BLOCKED)
