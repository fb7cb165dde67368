"""Diffing desired against live: creations, profile updates, prunes and the three drifts."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from netiso.model.namespaces import NamespaceFacts
from netiso.model.parsing import parse_profile
from netiso.observed.drifts import (
    DriftReason,
    LivePolicy,
    Step,
    Verb,
    compare,
    order_steps,
    owned,
)
from netiso.rendering.bodies import RenderedPolicy, render_policies
from netiso.rendering.environment import make_environment


def profile_body(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "netiso.io/v1alpha1",
        "kind": "IsolationProfile",
        "metadata": {"name": "base"},
        "spec": {
            "gateway": {
                "enabled": True,
                "namespaces": ["ingress"],
                "ports": [{"protocol": "TCP", "port": 8080}],
            }
        },
    }
    base["spec"].update(spec)
    return base


def rendered(**spec: Any) -> tuple[RenderedPolicy, ...]:
    return render_policies(
        make_environment(), parse_profile(profile_body(**spec)), NamespaceFacts(name="team-a")
    )


def as_live(policies: tuple[RenderedPolicy, ...]) -> list[LivePolicy]:
    # As the API server returns them: server-added metadata does not change the hash.
    out = []
    for policy in policies:
        body = copy.deepcopy(policy.body)
        body["metadata"].update({"uid": f"uid-{policy.name}", "resourceVersion": "7"})
        out.append(LivePolicy.from_body(body))
    return out


def edited(policy: RenderedPolicy, mutate: Any) -> LivePolicy:
    body = copy.deepcopy(policy.body)
    mutate(body)
    return LivePolicy.from_body(body)


def live_deny(**changes: Any) -> LivePolicy:
    """A live default-deny that passes every ownership check, with `changes` applied."""
    base = LivePolicy(
        namespace="team-a",
        name="netiso-default-deny",
        uid="uid-1",
        role="default-deny",
        profile="base",
        recorded_hash="h",
        actual_hash="h",
    )
    return replace(base, **changes)


def test_in_sync_namespace_needs_no_writes() -> None:
    desired = rendered()
    changes = compare(desired=desired, live=as_live(desired), repair=True)
    assert changes.empty
    assert changes.drifts == ()


def test_new_namespace_creates_allows_first_and_default_deny_last() -> None:
    desired = rendered()
    changes = compare(desired=desired, live=[], repair=True)
    assert [s.action for s in changes.steps] == ["create"] * 3
    assert changes.steps[-1].name == "netiso-default-deny"
    assert changes.drifts == ()  # first isolation is not drift


def test_deleted_policy_is_missing_drift_when_siblings_exist() -> None:
    desired = rendered()
    live = [p for p in as_live(desired) if p.name != "netiso-allow-dns-egress"]
    changes = compare(desired=desired, live=live, repair=True)
    assert [(s.action, s.name) for s in changes.steps] == [("create", "netiso-allow-dns-egress")]
    assert [(d.policy, d.reason) for d in changes.drifts] == [
        ("netiso-allow-dns-egress", DriftReason.MISSING)
    ]


def test_established_set_decides_missing_drift_when_known() -> None:
    desired = rendered()
    changes = compare(desired=desired, live=[], repair=True, established=[])
    assert changes.drifts == ()
    changes = compare(desired=desired, live=[], repair=True, established=["netiso-default-deny"])
    assert [(d.policy, d.reason) for d in changes.drifts] == [
        ("netiso-default-deny", DriftReason.MISSING)
    ]


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b: b["spec"].update(policyTypes=["Ingress"]), id="spec"),
        pytest.param(
            lambda b: b["metadata"]["labels"].update({"netiso.io/profile": "x"}), id="label"
        ),
        pytest.param(
            lambda b: b["metadata"]["annotations"].update({"netiso.io/owner": "someone"}),
            id="owner",
        ),
    ],
)
def test_hand_edit_is_modified_drift_and_repaired(mutate: Any) -> None:
    desired = rendered()
    live = as_live(desired)
    deny = next(p for p in desired if p.name == "netiso-default-deny")
    live = [p for p in live if p.name != deny.name] + [edited(deny, mutate)]
    changes = compare(desired=desired, live=live, repair=True)
    assert [(s.action, s.name) for s in changes.steps] == [("update", "netiso-default-deny")]
    assert [d.reason for d in changes.drifts] == [DriftReason.MODIFIED]


def test_report_mode_leaves_drift_alone_but_lists_it() -> None:
    desired = rendered()
    live = [p for p in as_live(desired) if p.name != "netiso-default-deny"]
    changes = compare(desired=desired, live=live, repair=False)
    assert changes.empty
    assert [(d.policy, d.reason) for d in changes.reported_only] == [
        ("netiso-default-deny", DriftReason.MISSING)
    ]


def test_unrelated_server_metadata_is_not_drift() -> None:
    desired = rendered()

    def server_noise(body: dict[str, Any]) -> None:
        body["metadata"]["labels"]["team"] = "a"
        body["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
        body["metadata"]["managedFields"] = [{"manager": "netiso"}]
        body["metadata"]["generation"] = 4

    live = [edited(p, server_noise) for p in desired]
    assert compare(desired=desired, live=live, repair=True).empty


def test_profile_change_is_an_update_not_drift() -> None:
    before = rendered()
    after = rendered(
        gateway={
            "enabled": True,
            "namespaces": ["ingress"],
            "ports": [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 8443}],
        }
    )
    changes = compare(desired=after, live=as_live(before), repair=True)
    assert [(s.action, s.name) for s in changes.steps] == [
        ("update", "netiso-allow-gateway-ingress")
    ]
    assert changes.drifts == ()


def test_disabled_part_is_pruned_without_drift() -> None:
    before = rendered()
    after = rendered(gateway={"enabled": False})
    changes = compare(desired=after, live=as_live(before), repair=True)
    assert [(s.action, s.name) for s in changes.steps] == [
        ("delete", "netiso-allow-gateway-ingress")
    ]
    assert changes.drifts == ()


def test_foreign_policy_with_our_label_is_reported_and_never_deleted() -> None:
    desired = rendered()
    stranger = LivePolicy(namespace="team-a", name="copied-policy", uid="u", role="", profile="")
    for repair in (True, False):
        changes = compare(desired=desired, live=[*as_live(desired), stranger], repair=repair)
        assert changes.empty
        assert [(d.policy, d.reason) for d in changes.reported_only] == [
            ("copied-policy", DriftReason.FOREIGN_CLAIMS_MANAGED)
        ]


def test_a_label_on_a_platform_policy_in_a_released_namespace_is_left_alone() -> None:
    # Opt-out or never opted in: nothing is desired, and a policy that only wears our label
    # (or our labels but not our name) is not netiso's to delete.
    platform = live_deny(name="allow-monitoring")
    changes = compare(desired=(), live=[platform], repair=True)
    assert changes.empty
    assert [d.reason for d in changes.drifts] == [DriftReason.FOREIGN_CLAIMS_MANAGED]


def test_an_edit_that_opens_the_default_deny_is_modified_drift_and_replaced() -> None:
    desired = rendered()
    deny = next(p for p in desired if p.name == "netiso-default-deny")

    def open_up(body: dict[str, Any]) -> None:
        body["spec"]["ingress"] = [{}]
        body["spec"]["egress"] = [{}]
        body["metadata"]["uid"] = "uid-deny"

    live = [p for p in as_live(desired) if p.name != deny.name] + [edited(deny, open_up)]
    changes = compare(desired=desired, live=live, repair=True)
    assert [(s.action, s.name, s.drift) for s in changes.steps] == [
        ("update", "netiso-default-deny", DriftReason.MODIFIED)
    ]
    reported = compare(desired=desired, live=live, repair=False)
    assert reported.empty
    assert [d.reason for d in reported.reported_only] == [DriftReason.MODIFIED]


def test_a_namesake_that_is_not_ours_is_a_conflict_and_holds_back_the_deny() -> None:
    desired = rendered()
    gateway = next(p for p in desired if p.name == "netiso-allow-gateway-ingress")

    def forge(body: dict[str, Any]) -> None:
        # Our labels and name, but content and hash annotation that netiso never rendered.
        body["spec"]["ingress"] = [{}]
        body["metadata"]["annotations"]["netiso.io/spec-hash"] = "0000000000000000"

    changes = compare(desired=desired, live=[edited(gateway, forge)], repair=True)
    assert [(d.policy, d.reason) for d in changes.conflicts] == [
        ("netiso-allow-gateway-ingress", DriftReason.CONFLICT)
    ]
    assert [(s.action, s.name) for s in changes.steps] == [("create", "netiso-allow-dns-egress")]


@pytest.mark.parametrize(
    ("change", "is_ours"),
    [
        ({}, True),
        ({"managed": False}, False),
        ({"profile": ""}, False),
        ({"role": "allow-everything"}, False),
        ({"name": "netiso-allow-dns-egress"}, False),  # role and name disagree
        ({"recorded_hash": ""}, False),
        ({"actual_hash": "edited"}, False),  # edited, hash unknown, uid unknown
    ],
)
def test_ownership_needs_every_part_of_netisos_identity(
    change: dict[str, Any], is_ours: bool
) -> None:
    assert owned(live_deny(**change)) is is_ours


def test_an_edited_policy_is_ours_by_uid_or_by_a_known_rendering() -> None:
    edited_deny = live_deny(actual_hash="edited")
    assert not owned(edited_deny)
    assert owned(edited_deny, written_uids={"uid-1"})
    assert owned(edited_deny, known_hashes={"h"})


def test_opt_out_removes_default_deny_before_the_allows() -> None:
    changes = compare(desired=(), live=as_live(rendered()), repair=True)
    assert changes.steps[0].name == "netiso-default-deny"
    assert {s.action for s in changes.steps} == {"delete"}
    assert len(changes.steps) == 3


def test_order_puts_deny_removal_first_and_deny_write_after_allows() -> None:
    steps = [
        Step(action=Verb.DELETE, name="netiso-allow-gateway-ingress"),
        Step(action=Verb.CREATE, name="netiso-default-deny"),
        Step(action=Verb.CREATE, name="netiso-allow-dns-egress"),
        Step(action=Verb.DELETE, name="netiso-default-deny"),
    ]
    assert [(s.action, s.name) for s in order_steps(steps)] == [
        ("delete", "netiso-default-deny"),
        ("create", "netiso-allow-dns-egress"),
        ("create", "netiso-default-deny"),
        ("delete", "netiso-allow-gateway-ingress"),
    ]
