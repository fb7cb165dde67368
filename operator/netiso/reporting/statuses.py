"""The IsolationProfile status: counts and conditions, computed purely and written rarely.

Reporting layer. `profile_status` builds the desired status from the namespace tally;
`StatusWriter` merge-patches it onto the profile's status subresource only when it differs
from what is already there, and at most once per interval per profile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from netiso.cluster.client import ApiClient, ApiError
from netiso.cluster.reading import profile_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tally:
    """How a profile's namespaces stand right now."""

    namespaces: int = 0
    in_sync: int = 0
    drifted: int = 0
    errors: int = 0
    pending_changes: int = 0
    dry_run: bool = False


def _condition(
    *,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    previous: Mapping[str, Mapping[str, Any]],
    now: str,
) -> dict[str, Any]:
    value = "True" if status else "False"
    old = previous.get(type_) or {}
    # lastTransitionTime moves only when the status flips, so an unchanged status is equal
    # to the one stored and costs no write.
    since = old.get("lastTransitionTime") if old.get("status") == value else None
    return {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": since or now,
    }


def profile_status(
    *,
    generation: int,
    tally: Tally,
    problems: Sequence[str],
    previous: Mapping[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """The status block for a profile. `problems` non-empty means the spec is invalid."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    prev_conditions = {
        c.get("type", ""): c
        for c in ((previous or {}).get("conditions") or [])
        if isinstance(c, dict)
    }
    invalid = bool(problems)
    if invalid:
        ready = (False, "InvalidSpec", "; ".join(problems)[:1000])
    elif tally.dry_run:
        ready = (
            False,
            "DryRun",
            f"DryRun: {tally.pending_changes} pending change(s) in {tally.namespaces} namespace(s)",
        )
    elif tally.in_sync == tally.namespaces:
        ready = (True, "InSync", f"{tally.in_sync}/{tally.namespaces} namespaces in sync")
    else:
        ready = (False, "NotInSync", f"{tally.in_sync}/{tally.namespaces} namespaces in sync")
    drifted = tally.drifted > 0
    degraded = invalid or tally.errors > 0

    def condition(*, type_: str, status: bool, reason: str, message: str) -> dict[str, Any]:
        return _condition(
            type_=type_,
            status=status,
            reason=reason,
            message=message,
            generation=generation,
            previous=prev_conditions,
            now=stamp,
        )

    conditions = [
        condition(type_="Ready", status=ready[0], reason=ready[1], message=ready[2]),
        condition(
            type_="Drifted",
            status=drifted,
            reason="DriftDetected" if drifted else "NoDrift",
            message=f"{tally.drifted} namespace(s) drifted",
        ),
        condition(
            type_="Degraded",
            status=degraded,
            reason="InvalidSpec" if invalid else ("ReconcileErrors" if degraded else "AsExpected"),
            message=(
                "; ".join(problems)[:1000]
                if invalid
                else f"{tally.errors} namespace(s) failed to reconcile"
            ),
        ),
    ]
    return {
        "observedGeneration": generation,
        "namespaces": tally.namespaces,
        "inSync": tally.in_sync,
        "drifted": tally.drifted,
        "errors": tally.errors,
        "pendingChanges": tally.pending_changes,
        "conditions": conditions,
    }


def same_status(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """True when writing `new` would change nothing that `old` says."""
    if not old:
        return False
    return all(old.get(key) == value for key, value in new.items())


class StatusWriter:
    """Writes profile statuses, compare-before-write and throttled per profile."""

    def __init__(self, api: ApiClient, *, interval: float) -> None:
        self._api = api
        self._interval = interval
        self._written: dict[str, dict[str, Any]] = {}
        self._last: dict[str, float] = {}

    def known(self, name: str, status: Mapping[str, Any] | None) -> None:
        """Tell the writer what the profile's status is in the cluster (from a watch event)."""
        if status:
            self._written[name] = dict(status)

    def forget(self, name: str) -> None:
        """The profile is gone."""
        self._written.pop(name, None)
        self._last.pop(name, None)

    def previous(self, name: str) -> Mapping[str, Any] | None:
        """The last status known to be on the profile."""
        return self._written.get(name)

    def due(self, name: str, status: Mapping[str, Any]) -> bool:
        """Whether `status` should be written now."""
        if same_status(self._written.get(name), status):
            return False
        return time.monotonic() - self._last.get(name, float("-inf")) >= self._interval

    async def write(self, name: str, status: Mapping[str, Any]) -> bool:
        """Merge-patch the status subresource; returns False on failure (retried later)."""
        self._last[name] = time.monotonic()
        try:
            await self._api.request(
                "PATCH",
                profile_path(name, status=True),
                verb="patch",
                body={"status": dict(status)},
                content_type="application/merge-patch+json",
            )
        except ApiError as exc:
            if exc.status == 404:
                self.forget(name)
                return True
            log.warning("status of profile %s not written: %s", name, exc)
            return False
        self._written[name] = dict(status)
        return True
