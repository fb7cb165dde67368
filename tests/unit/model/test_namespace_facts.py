"""NamespaceFacts: a frozen view of a namespace that always carries its metadata.name label.

Unit tests of the model layer (netiso.model.namespaces); pure and fast.
"""

from __future__ import annotations

import dataclasses

import pytest

from netiso.model.namespaces import NamespaceFacts


def test_namespace_facts_always_carry_the_metadata_name_label() -> None:
    facts = NamespaceFacts("team-a")
    assert dict(facts.labels) == {"kubernetes.io/metadata.name": "team-a"}


def test_a_wrong_metadata_name_label_is_corrected_to_the_name() -> None:
    facts = NamespaceFacts("team-a", {"kubernetes.io/metadata.name": "other", "x": "y"})
    assert dict(facts.labels) == {"kubernetes.io/metadata.name": "team-a", "x": "y"}


def test_labels_cannot_be_changed_through_the_facts_or_the_input() -> None:
    source = {"netiso.io/profile": "baseline"}
    facts = NamespaceFacts("team-a", source)
    source["netiso.io/profile"] = "changed"
    assert facts.labels["netiso.io/profile"] == "baseline"
    with pytest.raises(TypeError):
        facts.labels["x"] = "y"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.name = "b"  # type: ignore[misc]


def test_equal_facts_compare_and_hash_equal() -> None:
    one = NamespaceFacts("team-a", {"a": "1"})
    two = NamespaceFacts(name="team-a", labels={"a": "1"})
    assert one == two
    assert hash(one) == hash(two)
    assert one != NamespaceFacts("team-a", {"a": "2"})


@pytest.mark.parametrize(
    ("labels", "profile"),
    [
        ({}, None),
        ({"netiso.io/profile": ""}, None),
        ({"netiso.io/profile": "baseline"}, "baseline"),
    ],
)
def test_profile_name_comes_from_the_opt_in_label(
    labels: dict[str, str], profile: str | None
) -> None:
    assert NamespaceFacts("team-a", labels).profile_name == profile
