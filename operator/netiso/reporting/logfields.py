"""The structured fields of the operator's log lines about a namespace or a profile.

Reporting layer, pure: what a log line is about, as `extra` for the logging call. With
`kopf run --log-format=json` each field becomes a key of the JSON line (Kopf's formatter is
python-json-logger's, which writes a record's extra attributes as keys), so a log query can
select `namespace="shop"` or `reason="DriftRepaired"` instead of matching message text.
"""

from __future__ import annotations


def log_fields(*, namespace: str = "", profile: str = "", reason: str = "") -> dict[str, str]:
    """`extra=` for a log call: the namespace, profile and reason it concerns (empty ones are
    left out, so a line about a profile carries no empty namespace key)."""
    fields = {"namespace": namespace, "profile": profile, "reason": reason}
    return {key: value for key, value in fields.items() if value}
