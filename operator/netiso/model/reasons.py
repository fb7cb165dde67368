"""Free-text reasons that grant something (guardrail exceptions): visible text or nothing.

Model layer, pure. A reason of spaces or of invisible characters (a zero-width space, a
soft hyphen, a bidirectional mark) reads as blank to a reviewer and must not grant anything.
The same definition is written once here for Python and as an RE2 class for admission's CEL.
"""

from __future__ import annotations

import unicodedata
from typing import Final

# Unicode general categories that show nothing: separators (Z*), controls (Cc) and format
# characters (Cf: zero-width space and joiners, soft hyphen, bidi marks, BOM).
INVISIBLE_CATEGORIES: Final = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
# One character a reader can see, in RE2 (CEL's `matches`): none of the categories above.
VISIBLE_CHARACTER_RE2: Final = "[^\\p{Z}\\p{Cc}\\p{Cf}]"
BLANK_REASON: Final = (
    "must name a reason a reader can see: blank, whitespace-only and invisible text "
    "(zero-width or formatting characters) grants nothing"
)


def is_visible(text: str) -> bool:
    """Whether `text` has at least one character a reader can see."""
    return any(unicodedata.category(char) not in INVISIBLE_CATEGORIES for char in text)
