"""Free-text reasons that grant something (guardrail exceptions): visible text or nothing.

Model layer, pure. A reason of spaces or of invisible characters (a zero-width space, a
soft hyphen, a bidirectional mark, a Hangul filler, a lone combining mark) reads as blank to a
reviewer and must not grant anything. The same definition is written once here for Python and
as an RE2 class for admission's CEL.
"""

from __future__ import annotations

import unicodedata
from typing import Final

# Unicode general categories that show nothing on their own: separators (Z*), controls (Cc),
# format characters (Cf: zero-width space and joiners, soft hyphen, bidi marks, BOM), private
# use (Co), surrogates (Cs) and nonspacing marks (Mn: a combining accent with no base,
# variation selectors, the combining grapheme joiner). Unassigned code points (Cn) are left
# visible, as Go's RE2 (kube-apiserver's CEL) has no class for them.
INVISIBLE_CATEGORIES: Final = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Co", "Cs", "Mn"})
# Letters and symbols that render as blank space: the Hangul fillers (Lo) and the blank
# Braille pattern (So); Unicode lists the fillers as default-ignorable.
BLANK_CHARACTERS: Final = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# One character a reader can see, in RE2 (CEL's `matches`): none of the above.
VISIBLE_CHARACTER_RE2: Final = (
    "[^\\p{Z}\\p{Cc}\\p{Cf}\\p{Co}\\p{Cs}\\p{Mn}"
    + "".join(f"\\x{{{ord(char):x}}}" for char in sorted(BLANK_CHARACTERS))
    + "]"
)
BLANK_REASON: Final = (
    "must name a reason a reader can see: blank, whitespace-only and invisible text "
    "(zero-width or formatting characters) grants nothing"
)


def is_visible(text: str) -> bool:
    """Whether `text` has at least one character a reader can see."""
    return any(
        unicodedata.category(char) not in INVISIBLE_CATEGORIES and char not in BLANK_CHARACTERS
        for char in text
    )
