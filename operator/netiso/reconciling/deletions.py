"""A profile's deletion: its policies go (default-deny first) before its finalizer does.

Reconciling layer. The Kopf deletion handler adapts `remove_profile` and turns `NotYet` into
Kopf's retry; everything it decides (what is orphaned, what this replica removes, what it
waits for another replica to remove) is here.
"""

from __future__ import annotations

import asyncio

from netiso.reconciling.reconciler import Reconciler
from netiso.runtime.client import ApiClient
from netiso.runtime.reading import profile_exists


class NotYet(Exception):
    """The profile's finalizer must stay for now: ask again after `delay` seconds."""

    def __init__(self, message: str, *, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


async def remove_profile(
    reconciler: Reconciler, *, api: ApiClient, name: str, orphan: bool, pause: float
) -> None:
    """Remove the deleted profile's policies from its namespaces unless `orphan`; returns once
    the finalizer may go, raises NotYet when it must stay.

    Namespaces another replica leads are waited for, `pause` seconds at a time: Kopf must not
    drop the shared finalizer before their leader removed their policies (seen through the
    policy watch), so this returns when they are gone, when the profile is, or raises to start
    over when this replica now leads some of them. Waiting writes nothing; a raised retry
    would write Kopf's progress annotations from a standby.
    """
    namespaces = reconciler.view.namespaces_of(name)
    if orphan:
        return
    outcomes = await reconciler.settle(ns for ns in namespaces if reconciler.leads(ns))
    failed = sorted(ns for ns, outcome in outcomes.items() if outcome.error)
    if failed:
        raise NotYet(
            f"policies not yet removed from {len(failed)} namespace(s): {', '.join(failed[:5])}",
            delay=5,
        )
    while others := [
        ns for ns in namespaces if not reconciler.leads(ns) and reconciler.view.live_policies(ns)
    ]:
        if not await profile_exists(api, name):
            return
        await asyncio.sleep(pause)
        if any(reconciler.leads(ns) for ns in others):
            raise NotYet("took over namespaces of a deleted profile", delay=0)
