"""IsolationProfile handlers: fan-out on change, periodic resync, cleanup on deletion.

Handlers layer. The profile is the one object netiso writes to: its finalizer (so deletion
waits for the policies to go, unless onDelete is Orphan), Kopf's diff-base annotation, and the
status written by the reconciler.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kopf

from netiso import conventions
from netiso.handlers.memo import runtime_of
from netiso.runtime.reading import profile_exists

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
    runtime = runtime_of(memo)
    now = time.monotonic()
    last = runtime.last_resync.setdefault(name, now)
    if now - last >= runtime.settings.resync_interval:
        runtime.last_resync[name] = now
        runtime.reconciler.resync(name)


@kopf.on.delete(*PROFILES, id="profile-delete")
async def profile_delete(name: str, spec: kopf.Spec, memo: kopf.Memo, **_: Any) -> None:
    """Remove the profile's policies (default-deny first) unless it says onDelete: Orphan."""
    runtime = runtime_of(memo)
    runtime.last_resync.pop(name, None)
    namespaces = runtime.reconciler.view.namespaces_of(name)
    if spec.get("onDelete") == "Orphan":
        return
    reconciler = runtime.reconciler
    outcomes = await reconciler.settle(ns for ns in namespaces if reconciler.leads(ns))
    failed = sorted(ns for ns, outcome in outcomes.items() if outcome.error)
    if failed:
        raise kopf.TemporaryError(
            f"policies not yet removed from {len(failed)} namespace(s): {', '.join(failed[:5])}",
            delay=5,
        )
    # Namespaces another replica leads: Kopf must not drop the shared finalizer before their
    # leader removed their policies, so wait for that (seen through the policy watch), for
    # the profile to go, or to lead them here. A raised retry would write Kopf's progress
    # annotations from a standby; waiting writes nothing.
    while others := [
        ns for ns in namespaces if not reconciler.leads(ns) and reconciler.view.live_policies(ns)
    ]:
        if not await profile_exists(runtime.api, name):
            return
        await asyncio.sleep(runtime.settings.retry_period)
        if any(reconciler.leads(ns) for ns in others):
            raise kopf.TemporaryError("took over namespaces of a deleted profile", delay=0)
