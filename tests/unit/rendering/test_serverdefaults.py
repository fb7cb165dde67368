"""The API server's defaults added to a rendering, and what counts as in place.

The same equality is checked against a real API server for every rendered object in
tests/integration/test_keeper.py; these cases pin the rules and the edge cases without one.
"""

from __future__ import annotations

import copy
from typing import Any

from netiso.rendering.serverdefaults import in_place, normalise
from netiso.rendering.validations import (
    admission_policies,
    baseline_binding,
    protection_bindings,
)


def stored(body: dict[str, Any]) -> dict[str, Any]:
    """What the server would hand back: the normalised spec, netiso's labels plus another."""
    live = copy.deepcopy(body)
    live["spec"] = normalise(body)
    live["metadata"]["labels"]["helm.sh/chart"] = "netiso-0.1.0"
    live["metadata"]["resourceVersion"] = "42"
    return live


def test_policy_match_constraints_get_the_server_defaults() -> None:
    policy = admission_policies()[0]
    spec = normalise(policy)
    match = spec["matchConstraints"]
    assert match["matchPolicy"] == "Equivalent"
    assert match["namespaceSelector"] == {}
    assert match["objectSelector"] == {}
    assert all(rule["scope"] == "*" for rule in match["resourceRules"])
    assert spec["failurePolicy"] == "Fail"


def test_binding_match_resources_get_defaults_only_when_present() -> None:
    baseline = normalise(baseline_binding(["web"]))
    assert baseline["matchResources"]["matchPolicy"] == "Equivalent"
    assert baseline["matchResources"]["objectSelector"] == {}
    managed, *_ = protection_bindings()
    assert "matchResources" not in normalise(managed)


def test_normalise_never_changes_the_rendering() -> None:
    policy = admission_policies()[0]
    before = copy.deepcopy(policy)
    normalise(policy)
    assert policy == before


def test_a_stored_rendering_is_in_place() -> None:
    for body in (*admission_policies(), *protection_bindings(), baseline_binding(["a"])):
        assert in_place(body, stored(body)), body["metadata"]["name"]


def test_additions_and_changes_count_as_changed() -> None:
    binding = baseline_binding(["web"])
    added = stored(binding)
    added["spec"]["matchResources"]["excludeResourceRules"] = []
    assert not in_place(binding, added)
    actions = stored(binding)
    actions["spec"]["validationActions"] = ["Audit"]
    assert not in_place(binding, actions)
    policy = admission_policies()[2]
    condition = stored(policy)
    condition["spec"]["matchConditions"].append({"name": "x", "expression": "false"})
    assert not in_place(policy, condition)
    # A default set to something else is a change too.
    scope = stored(policy)
    scope["spec"]["matchConstraints"]["resourceRules"][0]["scope"] = "Namespaced"
    assert not in_place(policy, scope)


def test_missing_labels_count_as_changed() -> None:
    policy = admission_policies()[1]
    unlabelled = stored(policy)
    del unlabelled["metadata"]["labels"]["app.kubernetes.io/part-of"]
    assert not in_place(policy, unlabelled)
