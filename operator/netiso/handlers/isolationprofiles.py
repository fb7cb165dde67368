"""IsolationProfile handlers: fan-out on change, periodic resync, cleanup on deletion.

Handlers layer. The profile is the one object netiso writes to: its finalizer (so deletion
waits for the policies to go, unless onDelete is Orphan), Kopf's diff-base annotation, and the
status written by the reconciler.
"""

from __future__ import annotations

from typing import Any

import kopf

from netiso import conventions
from netiso.handlers.memo import runtime_of
from netiso.reconciling.deletions import NotYet

# Kopf fixes a timer's interval when the decorator runs, i.e. at import; settings are read at
# startup. So the timer ticks often and each tick checks whether the profile's resync is due.
RESYNC_TICK = 15.0

PROFILES = (conventions.GROUP, conventions.VERSION, conventions.PLURAL)


@kopf.on.event(*PROFILES, id="profile-event")
async def profile_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """Fan a spec change out to the profile's namespaces; ignore status-only updates."""
    runtime_of(memo).reconciler.profile_event(body, deleted=type == "DELETED")


@kopf.timer(*PROFILES, id="profile-resync", interval=RESYNC_TICK, initial_delay=RESYNC_TICK)
async def profile_resync(name: str, memo: kopf.Memo, **_: Any) -> None:
    """Re-check every namespace of the profile once per resync interval."""
    runtime_of(memo).resync_when_due(name)


@kopf.on.delete(*PROFILES, id="profile-delete")
async def profile_delete(name: str, spec: kopf.Spec, memo: kopf.Memo, **_: Any) -> None:
    """Remove the profile's policies (default-deny first) unless it says onDelete: Orphan."""
    try:
        await runtime_of(memo).profile_deleted(name, orphan=spec.get("onDelete") == "Orphan")
    except NotYet as exc:
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc
