"""A reason that grants an exception must be visible text: Python's definition and the RE2
class admission uses agree on every character class that reads as blank."""

from __future__ import annotations

import re

import pytest

from netiso.model.guardrails import exception_of
from netiso.model.reasons import VISIBLE_CHARACTER_RE2, is_visible

BLANK = [
    "",
    " ",
    "\t\n",
    "\u3000",
    "\u00a0",
    "\u200b",
    "\u200c\u200d",
    "\u00ad",
    "\ufeff",
    "\u2060",
    "\u200e\u202e",
    "\u2028\u2029",
    "\x00\x7f",
]
VISIBLE = ["OPS-1", " x ", "\u200bOPS", "例外", "🔥", "-"]


@pytest.mark.parametrize("text", BLANK)
def test_blank_and_invisible_text_grants_nothing(text: str) -> None:
    assert not is_visible(text)
    policy = {"metadata": {"annotations": {"netiso.io/exception": text}}}
    assert exception_of(policy) is None


@pytest.mark.parametrize("text", VISIBLE)
def test_any_visible_character_makes_a_reason(text: str) -> None:
    assert is_visible(text)
    assert exception_of({"metadata": {"annotations": {"netiso.io/exception": text}}}) == text


def test_the_re2_class_names_the_same_categories() -> None:
    # Python's re has no \p{...}: check the class spells exactly the invisible categories.
    assert VISIBLE_CHARACTER_RE2 == "[^\\p{Z}\\p{Cc}\\p{Cf}]"
    assert re.fullmatch(r"\[\^(\\p\{[A-Za-z]+\})+\]", VISIBLE_CHARACTER_RE2)
