"""Which admission objects netiso keeps for the profiles, and the writes that get them there."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from netiso import conventions
from netiso.admission.plans import (
    BINDING,
    POLICY,
    Action,
    desired,
    key_of,
    owned_profile_binding,
    plan,
)
from netiso.observed.entries import ProfileEntry
from netiso.rendering.serverdefaults import in_place, normalise
from netiso.rendering.validations import BASELINE_BINDING, binding_name

IDENTITY = {"apiVersion": conventions.API_VERSION, "kind": conventions.KIND}


def entry(name: str, **guardrails: Any) -> ProfileEntry:
    spec: dict[str, Any] = {"owner": "platform-team", "reason": "unit test"}
    if guardrails:
        spec["guardrails"] = guardrails
    parsed = ProfileEntry.from_body(
        {**IDENTITY, "metadata": {"name": name, "uid": f"uid-{name}"}, "spec": spec}
    )
    assert parsed.problems == ()
    return parsed


def invalid(name: str) -> ProfileEntry:
    broken = ProfileEntry.from_body(
        {**IDENTITY, "metadata": {"name": name}, "spec": {"mode": "Sometimes"}}
    )
    assert broken.profile is None
    assert broken.problems
    return broken


def excluded(objects: Mapping[tuple[str, str], Mapping[str, Any]]) -> list[str]:
    spec = objects[(BINDING, BASELINE_BINDING)]["spec"]
    for requirement in spec["matchResources"]["namespaceSelector"]["matchExpressions"]:
        if requirement["operator"] == "NotIn" and requirement["key"] == conventions.PROFILE_LABEL:
            return list(requirement["values"])
    return []


def as_stored(objects: Mapping[tuple[str, str], Mapping[str, Any]]) -> dict[Any, Any]:
    live = {}
    for key, body in objects.items():
        copied = copy.deepcopy(dict(body))
        copied["spec"] = normalise(body)
        copied["metadata"]["uid"] = f"uid-{key[1]}"
        live[key] = copied
    return live


def test_without_profiles_netiso_keeps_policies_protections_and_baseline() -> None:
    want = desired([], live_bindings=())
    assert sorted(want.objects) == sorted(
        [
            (POLICY, "netiso-guardrails"),
            (POLICY, "netiso-guardrails-baseline"),
            (POLICY, "netiso-managed-policies"),
            (POLICY, "netiso-opt-out"),
            (POLICY, "netiso-reserved-names"),
            (POLICY, "netiso-exceptions"),
            (BINDING, "netiso-managed-policies"),
            (BINDING, "netiso-opt-out"),
            (BINDING, "netiso-reserved-names"),
            (BINDING, "netiso-exceptions"),
            (BINDING, BASELINE_BINDING),
        ]
    )
    assert excluded(want.objects) == []


def test_each_valid_profile_gets_its_binding_and_leaves_the_baseline() -> None:
    want = desired([entry("web", action="Deny"), entry("batch")], live_bindings=())
    web = want.objects[(BINDING, binding_name("web"))]
    assert web["spec"]["validationActions"] == ["Deny"]
    assert want.objects[(BINDING, binding_name("batch"))]["spec"]["validationActions"] == [
        "Warn",
        "Audit",
    ]
    assert excluded(want.objects) == ["batch", "web"]
    assert want.profiles[(BINDING, binding_name("web"))] == "web"


def test_an_invalid_profile_keeps_the_binding_it_has() -> None:
    kept = desired([invalid("web")], live_bindings={binding_name("web")})
    assert binding_name("web") in kept.kept
    assert (BINDING, binding_name("web")) not in kept.objects
    assert excluded(kept.objects) == ["web"]
    # Without a binding, the baseline guards its namespaces.
    bare = desired([invalid("web")], live_bindings=())
    assert bare.kept == frozenset()
    assert excluded(bare.objects) == []


def test_a_profile_named_like_the_baseline_does_not_replace_it() -> None:
    want = desired([entry("baseline")], live_bindings=())
    assert want.objects[(BINDING, BASELINE_BINDING)]["spec"]["policyName"] == (
        "netiso-guardrails-baseline"
    )


def test_nothing_to_do_when_everything_is_in_place() -> None:
    want = desired([entry("web")], live_bindings=())
    assert plan(want, as_stored(want.objects), matches=in_place) == []


def test_missing_objects_are_created_policies_first() -> None:
    want = desired([entry("web")], live_bindings=())
    steps = plan(want, {}, matches=in_place)
    assert {step.action for step in steps} == {Action.CREATE}
    kinds = [step.key[0] for step in steps]
    assert kinds == sorted(kinds, key=lambda kind: kind != POLICY)
    assert len(steps) == len(want.objects)


def test_a_changed_object_is_replaced_from_what_is_live() -> None:
    want = desired([entry("web")], live_bindings=())
    live = as_stored(want.objects)
    live[(BINDING, binding_name("web"))]["spec"]["validationActions"] = ["Audit"]
    (step,) = plan(want, live, matches=in_place)
    assert (step.action, step.key) == (Action.REPLACE, (BINDING, binding_name("web")))
    assert step.live is live[(BINDING, binding_name("web"))]


def test_the_binding_of_a_gone_profile_is_deleted_and_nothing_else() -> None:
    before = desired([entry("web"), entry("batch")], live_bindings=())
    live = as_stored(before.objects)
    foreign = {
        "kind": BINDING,
        "metadata": {"name": binding_name("team"), "labels": {"team": "x"}},
        "spec": {},
    }
    scope = {"kind": BINDING, "metadata": {"name": "netiso-operator-scope"}, "spec": {}}
    live[key_of(foreign)] = foreign
    live[key_of(scope)] = scope
    after = desired([entry("batch")], live_bindings={name for _, name in live})
    steps = plan(after, live, matches=in_place)
    deletes = [step for step in steps if step.action == Action.DELETE]
    assert [step.key for step in deletes] == [(BINDING, binding_name("web"))]
    # And the baseline stops excluding it.
    assert [step.key for step in steps if step.action == Action.REPLACE] == [
        (BINDING, BASELINE_BINDING)
    ]


def test_only_provably_netisos_profile_bindings_are_owned() -> None:
    body = desired([entry("web")], live_bindings=()).objects[(BINDING, binding_name("web"))]
    assert owned_profile_binding(body)
    relabelled = copy.deepcopy(dict(body))
    relabelled["metadata"]["labels"][conventions.PROFILE_LABEL] = "other"
    assert not owned_profile_binding(relabelled)
    unlabelled = copy.deepcopy(dict(body))
    del unlabelled["metadata"]["labels"]["app.kubernetes.io/name"]
    assert not owned_profile_binding(unlabelled)
    baseline = desired([], live_bindings=()).objects[(BINDING, BASELINE_BINDING)]
    assert not owned_profile_binding(baseline)
    policy = desired([], live_bindings=()).objects[(POLICY, "netiso-guardrails")]
    assert not owned_profile_binding(policy)
