"""Profile status: conditions with stable transition times, so unchanged means no write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from netiso.reporting.statuses import Tally, profile_status, same_status

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_all_namespaces_in_sync_is_ready_and_not_drifted() -> None:
    status = profile_status(
        generation=3, tally=Tally(namespaces=2, in_sync=2), problems=(), previous=None, now=T0
    )
    cond = conditions(status)
    assert status["observedGeneration"] == 3
    assert (status["namespaces"], status["inSync"], status["drifted"]) == (2, 2, 0)
    assert cond["Ready"]["status"] == "True"
    assert cond["Drifted"]["status"] == "False"
    assert cond["Degraded"]["status"] == "False"


def test_same_facts_later_give_an_identical_status() -> None:
    first = profile_status(
        generation=1, tally=Tally(namespaces=1, in_sync=1), problems=(), previous=None, now=T0
    )
    second = profile_status(
        generation=1, tally=Tally(namespaces=1, in_sync=1), problems=(), previous=first, now=T1
    )
    assert same_status(first, second)


def test_a_flip_moves_the_transition_time() -> None:
    first = profile_status(
        generation=1, tally=Tally(namespaces=1, in_sync=1), problems=(), previous=None, now=T0
    )
    second = profile_status(
        generation=1,
        tally=Tally(namespaces=1, in_sync=0, drifted=1),
        problems=(),
        previous=first,
        now=T1,
    )
    assert not same_status(first, second)
    cond = conditions(second)
    assert cond["Drifted"]["status"] == "True"
    assert cond["Drifted"]["lastTransitionTime"] == "2026-01-02T00:00:00Z"
    assert cond["Degraded"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


def test_invalid_spec_is_degraded_with_the_problems_as_message() -> None:
    status = profile_status(
        generation=2,
        tally=Tally(),
        problems=("spec.dns.ports[0].port: must be 1..65535, got 0",),
        previous=None,
        now=T0,
    )
    cond = conditions(status)
    assert cond["Degraded"]["status"] == "True"
    assert cond["Degraded"]["reason"] == "InvalidSpec"
    assert "spec.dns.ports[0].port" in str(cond["Degraded"]["message"])
    assert cond["Ready"]["status"] == "False"


def test_dry_run_reports_pending_changes() -> None:
    status = profile_status(
        generation=1,
        tally=Tally(namespaces=3, pending_changes=12, dry_run=True),
        problems=(),
        previous=None,
        now=T0,
    )
    assert status["pendingChanges"] == 12
    assert conditions(status)["Ready"]["reason"] == "DryRun"
    # Every namespace assessed and reported: ready, so `kubectl wait` ends for DryRun too.
    assert conditions(status)["Ready"]["status"] == "True"
    failing = profile_status(
        generation=1,
        tally=Tally(namespaces=3, errors=1, pending_changes=12, dry_run=True),
        problems=(),
        previous=None,
        now=T0,
    )
    assert conditions(failing)["Ready"]["status"] == "False"
