"""LabelSelector: Kubernetes matching semantics, the stored form, and label syntax checks.

Unit tests of the model layer (netiso.model.selection, netiso.model.names); pure and fast.
"""

from __future__ import annotations

from typing import Any

import pytest

from netiso.model.names import label_key_problem, label_value_problem, port_name_problem
from netiso.model.problems import Problem
from netiso.model.selection import (
    LabelSelector,
    SelectorOperator,
    SelectorRequirement,
    parse_label_selector,
)

IN = SelectorOperator.IN
NOT_IN = SelectorOperator.NOT_IN
EXISTS = SelectorOperator.EXISTS
DOES_NOT_EXIST = SelectorOperator.DOES_NOT_EXIST


def selector(raw: Any) -> LabelSelector:
    problems: list[Problem] = []
    parsed = parse_label_selector(raw, path="sel", problems=problems)
    assert problems == []
    return parsed


@pytest.mark.parametrize(
    ("raw", "labels", "matches"),
    [
        ({}, {}, True),
        ({}, {"anything": "x"}, True),
        (None, {"anything": "x"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "web", "tier": "1"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "api"}, False),
        ({"matchLabels": {"app": "web", "tier": "1"}}, {"app": "web"}, False),
        (
            {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]},
            {"app": "b"},
            True,
        ),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a"]}]}, {}, False),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]},
            {"app": "a"},
            False,
        ),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {"app": ""}, True),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, {}, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, {"app": "x"}, False),
        (
            {
                "matchLabels": {"team": "a"},
                "matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}],
            },
            {"team": "a", "canary": "yes"},
            False,
        ),
    ],
)
def test_selector_matches_like_kubernetes(raw: Any, labels: dict[str, str], matches: bool) -> None:
    assert selector(raw).matches(labels) is matches


def test_stored_form_omits_empty_parts_and_empty_values() -> None:
    assert LabelSelector().to_kubernetes() == {}
    assert selector({"matchLabels": {}, "matchExpressions": []}).to_kubernetes() == {}
    assert selector(
        {
            "matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [{"key": "x", "operator": "Exists", "values": []}],
        }
    ).to_kubernetes() == {
        "matchLabels": {"a": "1", "b": "2"},
        "matchExpressions": [{"key": "x", "operator": "Exists"}],
    }


def test_match_labels_are_canonical_whatever_the_input_order() -> None:
    assert selector({"matchLabels": {"b": "2", "a": "1"}}) == selector(
        {"matchLabels": {"a": "1", "b": "2"}}
    )
    assert LabelSelector.of({"b": "2", "a": "1"}).match_labels == (("a", "1"), ("b", "2"))


def test_requirements_keep_their_values_in_order() -> None:
    parsed = selector(
        {"matchExpressions": [{"key": "k", "operator": "NotIn", "values": ["z", "a"]}]}
    )
    assert parsed.match_expressions == (SelectorRequirement("k", NOT_IN, ("z", "a")),)
    assert parsed.match_expressions[0].to_kubernetes() == {
        "key": "k",
        "operator": "NotIn",
        "values": ["z", "a"],
    }


def test_selects_all_only_for_the_empty_selector() -> None:
    assert LabelSelector().selects_all
    assert not LabelSelector.of({"a": "b"}).selects_all
    assert not LabelSelector(match_expressions=(SelectorRequirement("a", EXISTS),)).selects_all


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("x", ["sel: must be an object, got string"]),
        ({"matchLabels": ["a"]}, ["sel.matchLabels: must be an object, got array"]),
        (
            {"matchExpressions": {"key": "a"}},
            ["sel.matchExpressions: must be an array, got object"],
        ),
        (
            {"matchExpressions": [{"key": 1, "operator": "Exists"}]},
            ["sel.matchExpressions[0].key: must be a string, got integer"],
        ),
        (
            {"matchExpressions": [{"key": "-bad", "operator": "Exists"}]},
            [
                'sel.matchExpressions[0].key: invalid label key "-bad": name part must consist '
                "of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
            ],
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", 3, "b@d"]}]},
            [
                "sel.matchExpressions[0].values[1]: must be a string, got integer",
                'sel.matchExpressions[0].values[2]: invalid label value "b@d": must be empty or '
                "consist of alphanumerics, '-', '_' or '.', starting and ending with an "
                "alphanumeric",
            ],
        ),
        (
            {"matchLabels": {f"k{n}": "v" for n in range(33)}},
            ["sel.matchLabels: must have at most 32 labels, got 33"],
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists"}] * 17},
            ["sel.matchExpressions: must have at most 16 items, got 17"],
        ),
    ],
)
def test_invalid_selectors_are_reported_with_paths(raw: Any, expected: list[str]) -> None:
    problems: list[Problem] = []
    parse_label_selector(raw, path="sel", problems=problems)
    assert [str(problem) for problem in problems] == expected


@pytest.mark.parametrize(
    "key",
    [
        "app",
        "app.kubernetes.io/name",
        "k8s-app",
        "A_b.C-9",
        "kubernetes.io/metadata.name",
        "x" * 63,
        f"{'a' * 253}/{'b' * 63}",
    ],
)
def test_valid_label_keys(key: str) -> None:
    assert label_key_problem(key) is None


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "name part must not be empty"),
        ("example.com/", "name part must not be empty"),
        ("/name", "prefix before '/' must not be empty"),
        (
            "Example.com/name",
            "prefix must be a DNS-1123 subdomain (lowercase alphanumerics, "
            "'-' and '.', at most 253 characters)",
        ),
        (
            f"{'a' * 254}/b",
            "prefix must be a DNS-1123 subdomain (lowercase alphanumerics, "
            "'-' and '.', at most 253 characters)",
        ),
        ("x" * 64, "name part must be at most 63 characters"),
        (
            "_app",
            "name part must consist of alphanumerics, '-', '_' or '.', starting and "
            "ending with an alphanumeric",
        ),
        (
            "app.",
            "name part must consist of alphanumerics, '-', '_' or '.', starting and "
            "ending with an alphanumeric",
        ),
    ],
)
def test_invalid_label_keys(key: str, problem: str) -> None:
    assert label_key_problem(key) == problem


@pytest.mark.parametrize("value", ["", "web", "a.b_c-d", "9", "x" * 63])
def test_valid_label_values(value: str) -> None:
    assert label_value_problem(value) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("x" * 64, "must be at most 63 characters"),
        (
            "-web",
            "must be empty or consist of alphanumerics, '-', '_' or '.', starting and "
            "ending with an alphanumeric",
        ),
        (
            "a b",
            "must be empty or consist of alphanumerics, '-', '_' or '.', starting and "
            "ending with an alphanumeric",
        ),
    ],
)
def test_invalid_label_values(value: str, problem: str) -> None:
    assert label_value_problem(value) == problem


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("http", True),
        ("metrics-1", True),
        ("h2c", True),
        ("a" * 15, True),
        ("a" * 16, False),
        ("8080", False),
        ("Http", False),
        ("my--port", False),
        ("-http", False),
        ("", False),
    ],
)
def test_port_names_follow_the_iana_service_name_rules(name: str, valid: bool) -> None:
    assert (port_name_problem(name) is None) is valid
