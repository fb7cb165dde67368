"""Profile owner and reason: printable text only, since they are stamped on every policy.

Unit tests of the model layer (netiso.model.profiles); the CRD's CEL rule is checked against the
same ranges in tests/unit/test_crd_schema.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netiso.model.documents import load_documents
from netiso.model.parsing import parse_profile
from netiso.model.problems import ProfileError
from netiso.model.profiles import unsafe_text_problem

HOSTILE = Path(__file__).resolve().parents[2] / "golden" / "hostile"


def body(**spec: object) -> dict[str, object]:
    return {
        "apiVersion": "netiso.io/v1alpha1",
        "kind": "IsolationProfile",
        "metadata": {"name": "p"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    "text",
    ["", "platform-team (#platform)", "équipe réseau · 平台团队", "SEC-123: see https://x/y?z=1"],
)
def test_ordinary_text_in_any_script_is_accepted(text: str) -> None:
    profile = parse_profile(body(owner=text, reason=text))
    assert (profile.owner, profile.reason) == (text, text)


@pytest.mark.parametrize(
    ("text", "code_point", "position"),
    [
        ("a\nb", "U+000A", 2),
        ("tab\there", "U+0009", 4),
        ("\x00", "U+0000", 1),
        ("bell\x07", "U+0007", 5),
        ("esc \x1b[31mred", "U+001B", 5),
        ("del\x7f", "U+007F", 4),
        ("c1 \x85", "U+0085", 4),
        ("arabic mark \u061c", "U+061C", 13),
        ("lrm \u200e", "U+200E", 5),
        ("rlo \u202e", "U+202E", 5),
        ("lri \u2066", "U+2066", 5),
        ("pdi \u2069", "U+2069", 5),
    ],
)
def test_control_and_bidi_characters_are_rejected_in_owner_and_reason(
    text: str, code_point: str, position: int
) -> None:
    expected = (
        "must not contain control or bidirectional formatting characters, "
        f"found {code_point} at character {position}"
    )
    assert unsafe_text_problem(text) == expected
    with pytest.raises(ProfileError) as caught:
        parse_profile(body(owner=text, reason=text))
    assert [str(problem) for problem in caught.value.problems] == [
        f"spec.owner: {expected}",
        f"spec.reason: {expected}",
    ]


def test_the_hostile_sample_is_rejected_on_both_fields() -> None:
    (document,) = load_documents(
        (HOSTILE / "control-characters.yaml").read_text(), source="control-characters.yaml"
    )
    with pytest.raises(ProfileError) as caught:
        parse_profile(document)
    assert [problem.path for problem in caught.value.problems] == ["spec.owner", "spec.reason"]
