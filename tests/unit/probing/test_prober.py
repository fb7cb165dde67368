"""The operator's prober on loop time: at most one round per interval per profile, the metric
one-hot over the states, an Event only when the state changes, the Enforced condition, and
nothing at all for profiles without the probe or on a replica that does not lead."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from netiso.model.enforcement import EnforcementState, ProbeReason, ProbeVerdict
from netiso.observed.view import ClusterView
from netiso.probing.prober import Prober
from netiso.probing.rounds import RoundPlan
from netiso.reporting.metrics import Metrics
from netiso.reporting.statuses import Tally, profile_status
from netiso.runtime.client import ApiClient
from netiso.runtime.posting import EventPoster
from tests.unit.apiserver import FakeApiServer
from tests.unit.hermetic import namespace_body, profile_body

pytestmark = pytest.mark.looptime

ENFORCED = ProbeVerdict(EnforcementState.ENFORCED, ProbeReason.ENFORCED, "isolated")
LEAKING = ProbeVerdict(EnforcementState.NOT_ENFORCED, ProbeReason.NOT_ENFORCED, "open")


class Rounds:
    """Stands in for run_round: records each plan and answers the next verdict."""

    def __init__(self, *verdicts: ProbeVerdict) -> None:
        self.verdicts = list(verdicts)
        self.plans: list[tuple[float, RoundPlan]] = []

    async def __call__(self, api: ApiClient, plan: RoundPlan) -> ProbeVerdict:
        self.plans.append((asyncio.get_running_loop().time(), plan))
        verdict = self.verdicts.pop(0) if len(self.verdicts) > 1 else self.verdicts[0]
        return ProbeVerdict(verdict.state, verdict.reason, verdict.message, plan.namespace, 3.0)


def view_with(*profiles: dict[str, Any], namespaces: tuple[str, ...] = ("team-a",)) -> ClusterView:
    view = ClusterView()
    for body in profiles:
        view.profile_seen({**body, "metadata": {**body["metadata"], "uid": "u"}}, deleted=False)
    for name in namespaces:
        view.namespace_seen(namespace_body(name, profile="base"), deleted=False)
    return view


def make(
    view: ClusterView, rounds: Rounds, *, leading: bool = True
) -> tuple[Prober, Metrics, FakeApiServer, list[list[str]]]:
    server = FakeApiServer()
    api = server.client()
    metrics = Metrics(version="test")
    dirty: list[list[str]] = []
    prober = Prober(
        api=api,
        metrics=metrics,
        poster=EventPoster(api),
        profiles=view,
        leading=lambda: leading,
        source_namespace="netiso-system",
        on_verdict=lambda names: dirty.append(list(names)),
        rounds=rounds,
    )
    return prober, metrics, server, dirty


def enforcement(metrics: Metrics, profile: str) -> dict[str, float | None]:
    return {
        str(state): metrics.registry.get_sample_value(
            "netiso_enforcement", {"profile": profile, "state": str(state)}
        )
        for state in EnforcementState
    }


PROBED = profile_body("base", enforcementProbe={"enabled": True, "intervalSeconds": 60})


async def test_one_round_per_interval_per_profile_over_every_namespace_in_turn() -> None:
    rounds = Rounds(ENFORCED)
    view = view_with(PROBED, namespaces=("team-a", "team-b"))
    prober, metrics, _server, dirty = make(view, rounds)
    prober.start()
    await asyncio.sleep(150)
    await prober.stop()
    times = [when for when, _ in rounds.plans]
    assert len(times) == 3  # at 0, 60 and 120 s
    assert all(later - earlier >= 60 for earlier, later in itertools.pairwise(times))
    assert [plan.namespace for _, plan in rounds.plans] == ["team-a", "team-b", "team-a"]
    assert all(plan.source_namespace == "netiso-system" for _, plan in rounds.plans)
    assert rounds.plans[0][1].owner.uid == "u"
    assert enforcement(metrics, "base") == {
        "enforced": 1, "not-enforced": 0, "inconclusive": 0, "unavailable": 0,
    }  # fmt: skip
    assert dirty == [["base"]] * 3
    assert prober.verdict("base") is not None


async def test_an_event_only_when_the_state_changes_warning_when_not_enforced() -> None:
    rounds = Rounds(ENFORCED, ENFORCED, LEAKING, LEAKING)
    prober, metrics, server, _ = make(view_with(PROBED), rounds)
    prober.start()
    await asyncio.sleep(200)
    await prober.stop()
    assert len(rounds.plans) == 4
    events = [s.body for s in server.writes("create") if s.body.get("kind") == "Event"]
    assert [(e["type"], e["reason"]) for e in events] == [
        ("Normal", "Enforced"),
        ("Warning", "NotEnforced"),
    ]
    assert enforcement(metrics, "base")["not-enforced"] == 1
    assert enforcement(metrics, "base")["enforced"] == 0


async def test_profiles_without_the_probe_and_standby_replicas_run_no_round() -> None:
    rounds = Rounds(ENFORCED)
    prober, _metrics, server, _ = make(view_with(profile_body("base")), rounds)
    await prober.tick_once()
    standby, _metrics, standby_server, _ = make(view_with(PROBED), rounds, leading=False)
    await standby.tick_once()
    assert rounds.plans == []
    assert server.sent == []
    assert standby_server.sent == []


async def test_turning_the_probe_off_removes_its_series_and_its_condition() -> None:
    rounds = Rounds(ENFORCED)
    view = view_with(PROBED)
    prober, metrics, _, dirty = make(view, rounds)
    await prober.tick_once()
    assert enforcement(metrics, "base")["enforced"] == 1
    view.profile_seen(profile_body("base"), deleted=False)
    await prober.tick_once()
    assert set(enforcement(metrics, "base").values()) == {None}
    assert prober.verdict("base") is None
    assert dirty == [["base"], ["base"]]


async def test_a_dry_run_profile_or_one_without_namespaces_is_unavailable_without_pods() -> None:
    rounds = Rounds(ENFORCED)
    dry = profile_body("base", mode="DryRun", enforcementProbe={"enabled": True})
    prober, _metrics, _, _ = make(view_with(dry), rounds)
    await prober.tick_once()
    verdict = prober.verdict("base")
    assert verdict is not None
    assert verdict.reason == ProbeReason.DRY_RUN
    lonely, *_ = make(view_with(PROBED, namespaces=()), rounds)
    await lonely.tick_once()
    verdict = lonely.verdict("base")
    assert verdict is not None
    assert verdict.reason == ProbeReason.NO_NAMESPACE
    assert rounds.plans == []


def test_the_enforced_condition_says_the_verdict_and_is_stable_across_rounds() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    verdict = ProbeVerdict(
        EnforcementState.ENFORCED, ProbeReason.ENFORCED, "isolated", "team-a", 3.2
    )
    first = profile_status(
        generation=1, tally=Tally(), problems=(), previous=None, now=now, enforcement=verdict
    )
    (enforced,) = [c for c in first["conditions"] if c["type"] == "Enforced"]
    assert (enforced["status"], enforced["reason"]) == ("True", "Enforced")
    assert "team-a" in enforced["message"]
    # A later round with another duration changes nothing that would be written.
    again = profile_status(
        generation=1,
        tally=Tally(),
        problems=(),
        previous=first,
        now=datetime(2026, 1, 2, tzinfo=UTC),
        enforcement=ProbeVerdict(
            EnforcementState.ENFORCED, ProbeReason.ENFORCED, "isolated", "team-a", 4.9
        ),
    )
    assert again == first
    unknown = profile_status(
        generation=1,
        tally=Tally(),
        problems=(),
        previous=first,
        now=now,
        enforcement=ProbeVerdict(
            EnforcementState.INCONCLUSIVE, ProbeReason.CONTROL_FAILED, "control failed"
        ),
    )
    (enforced,) = [c for c in unknown["conditions"] if c["type"] == "Enforced"]
    assert (enforced["status"], enforced["reason"]) == ("Unknown", "ControlFailed")
    no_probe = profile_status(generation=1, tally=Tally(), problems=(), previous=None, now=now)
    assert "Enforced" not in {c["type"] for c in no_probe["conditions"]}
