"""The index from namespace label keys to the namespaces whose findings depend on them."""

from __future__ import annotations

from typing import Any

import pytest

from netiso.observed.dependents import LabelDependents, changed_keys
from netiso.reachability.exposures import inventory_keys


def test_only_the_namespaces_depending_on_a_changed_key_are_affected() -> None:
    index = LabelDependents()
    index.note("a", frozenset({"team"}))
    index.note("b", frozenset({"team", "tier"}))
    assert index.affected({"team"}) == {"a", "b"}
    assert index.affected({"tier", "colour"}) == {"b"}
    index.note("b", frozenset())
    assert index.affected({"team", "tier"}) == {"a"}
    assert len(index) == 1


def test_changed_keys_are_those_whose_value_differs_and_all_when_a_namespace_comes_or_goes() -> (
    None
):
    assert changed_keys({"team": "x", "a": "1"}, {"team": "y", "a": "1"}) == {"team"}
    assert changed_keys({"team": "x"}, {"team": "x", "tier": "db"}) == {"tier"}
    assert changed_keys(None, {"team": "x", "a": "1"}) == {"team", "a"}
    assert changed_keys({"team": "x"}, None) == {"team"}


def ingress_from(selector: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "spec": {"ingress": [{"from": [{"namespaceSelector": selector}]}]},
    }


NAME = "kubernetes.io/metadata.name"


@pytest.mark.parametrize(
    ("selector", "keys"),
    [
        # May admit every namespace, depending on who carries these labels.
        ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["x"]}]}, {"team"}),
        ({"matchExpressions": [{"key": "pci", "operator": "DoesNotExist"}]}, {"pci"}),
        ({"matchExpressions": [{"key": NAME, "operator": "NotIn", "values": ["a"]}]}, {NAME}),
        # Every namespace whatever the labels, or never every namespace: no dependency.
        ({}, set()),
        ({"matchExpressions": [{"key": NAME, "operator": "Exists"}]}, set()),
        ({"matchLabels": {"team": "x"}}, set()),
        ({"matchExpressions": [{"key": "team", "operator": "In", "values": ["x"]}]}, set()),
    ],
)
def test_inventory_keys_are_those_of_selectors_whose_answer_can_change(
    selector: dict[str, Any], keys: set[str]
) -> None:
    assert inventory_keys([ingress_from(selector)]) == keys
