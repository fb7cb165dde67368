"""A reason that grants an exception must be visible text: Python's definition and the RE2
class admission uses agree on every character class that reads as blank."""

from __future__ import annotations

import re

import pytest

from netiso.model.guardrails import exception_of
from netiso.model.reasons import (
    BLANK_CHARACTERS,
    INVISIBLE_CATEGORIES,
    VISIBLE_CHARACTER_RE2,
    is_visible,
)

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
    # Letters, symbols and marks that show nothing: Hangul fillers, the blank Braille
    # pattern, a lone combining accent, variation selectors, private use.
    "\u3164",
    "\u115f\u1160",
    "\uffa0",
    "\u2800",
    "\u0301",
    "\u034f\ufe0f",
    "\U000e0100",
    "\ue000",
    "\u3164 \u2800\u200b",
]
VISIBLE = ["OPS-1", " x ", "\u200bOPS", "例外", "🔥", "-", "\u3164x", "e\u0301", "\u0903"]


@pytest.mark.parametrize("text", BLANK)
def test_blank_and_invisible_text_grants_nothing(text: str) -> None:
    assert not is_visible(text)
    policy = {"metadata": {"annotations": {"netiso.io/exception": text}}}
    assert exception_of(policy) is None


@pytest.mark.parametrize("text", VISIBLE)
def test_any_visible_character_makes_a_reason(text: str) -> None:
    assert is_visible(text)
    assert exception_of({"metadata": {"annotations": {"netiso.io/exception": text}}}) == text


def test_the_re2_class_names_the_same_characters() -> None:
    # Python's re has no \p{...}: read the class back and require it to name exactly the
    # invisible categories and the blank characters, so the two definitions cannot part.
    assert re.fullmatch(r"\[\^(\\p\{[A-Za-z]+\}|\\x\{[0-9a-f]+\})+\]", VISIBLE_CHARACTER_RE2)
    categories = set(re.findall(r"\\p\{([A-Za-z]+)\}", VISIBLE_CHARACTER_RE2))
    characters = {
        chr(int(code, 16)) for code in re.findall(r"\\x\{([0-9a-f]+)\}", VISIBLE_CHARACTER_RE2)
    }
    assert categories == {"Z", "Cc", "Cf", "Co", "Cs", "Mn"}
    assert {"Zs", "Zl", "Zp"} | (categories - {"Z"}) == INVISIBLE_CATEGORIES
    assert characters == BLANK_CHARACTERS
