"""Plain YAML scalars typed as kubectl types them, so netiso reads a file as the API server gets it.

Model layer, pure. kubectl turns YAML into JSON with sigs.k8s.io/yaml (go-yaml v2 rules): no
YAML 1.1 sexagesimal (`1:30` stays a string, PyYAML reads 90), Go's integer syntax (`0o17`),
any decimal exponent is a number (`1e3` is 1000, PyYAML keeps a string), `y`/`n` are booleans,
and a number too large for a float64 (`1e400`) stays a string. JSON then carries an integral
float as an integer, and cannot carry infinity or NaN at all (kubectl refuses the file).
"""

from __future__ import annotations

import math
import re
from typing import Final

_CONSTANTS: Final[dict[str, object]] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE"), True),
    **dict.fromkeys(("on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE"), False),
    **dict.fromkeys(("off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_YAML_FLOAT: Final = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT: Final = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
# Go's strconv.ParseInt(s, 0, 64) after go-yaml removed the underscores.
_GO_INT: Final = re.compile(
    r"(?P<sign>[-+]?)(?:0[xX](?P<hex>[0-9a-fA-F]+)|0[oO](?P<oct>[0-7]+)|0[bB](?P<bin>[01]+)"
    r"|0(?P<zero>[0-7]*)|(?P<dec>[1-9][0-9]*))"
)
_INT64: Final = 2**63
# Go's json.Marshal writes a float64 in plain notation below 1e21; the API server then reads
# a number without '.' or exponent as an integer.
_PLAIN_NOTATION_MAX: Final = 1e21
# A date or time stays a string: kubectl sends it as one (in RFC 3339), as netiso keeps it.
_TIMESTAMP_START: Final = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")


class NotJson(ValueError):
    """A scalar JSON cannot carry (infinity, NaN): kubectl refuses such a file."""


def plain_scalar(text: str) -> object:
    """The value of an unquoted, untagged scalar as kubectl reads it (see the module)."""
    if text in _CONSTANTS:
        return json_number(_CONSTANTS[text])
    first = text[0]
    if first == ".":
        return float(text) if _DOT_FLOAT.fullmatch(text) else text
    if first not in "+-0123456789" or _TIMESTAMP_START.match(text):
        return text
    plain = text.replace("_", "")
    number = _go_int(plain)
    if number is not None:
        return number
    if _YAML_FLOAT.fullmatch(plain):
        value = float(plain)
        # Go's ParseFloat fails on overflow, and go-yaml then keeps the text.
        return text if math.isinf(value) else json_number(value)
    return text


def _go_int(plain: str) -> int | None:
    found = _GO_INT.fullmatch(plain)
    if found is None:
        return None
    if found["hex"] is not None:
        value = int(found["hex"], 16)
    elif found["oct"] is not None:
        value = int(found["oct"], 8)
    elif found["bin"] is not None:
        value = int(found["bin"], 2)
    elif found["zero"] is not None:
        value = int(found["zero"] or "0", 8)
    else:
        value = int(found["dec"])
    if found["sign"] == "-":
        value = -value
    # ParseInt, then ParseUint (no sign) for what int64 cannot hold; beyond that, a float.
    if -_INT64 <= value < _INT64 or (not found["sign"] and value < 2 * _INT64):
        return value
    return None


def json_number(value: object) -> object:
    """A float as the API server receives it from kubectl: integral ones as integers."""
    if not isinstance(value, float):
        return value
    if math.isnan(value) or math.isinf(value):
        raise NotJson(f"{value} cannot be written as JSON")
    if value.is_integer() and abs(value) < _PLAIN_NOTATION_MAX:
        return int(value)
    return value


def json_key(key: object) -> object:
    """A mapping key as JSON carries it (sigs.k8s.io/yaml writes `y:`, `1:`, `~:` as the
    strings "true", "1", "null"); anything else is left for the loader to refuse."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int | float):
        return str(key)
    return key
