"""Namespace events: opt-in, relabel, opt-out and deletion all become one reconcile.

Handlers layer. Event handlers return None and Kopf writes nothing back to the Namespace. A
namespace whose label is removed leaves the server-side selector and arrives as DELETED.
"""

from __future__ import annotations

from typing import Any

import kopf

from netiso.handlers.runtime import runtime_of


# No client-side label filter: a namespace whose label was removed arrives as DELETED with
# the unlabelled body, which such a filter would drop. The server-side selector (lifecycle)
# already limits the watch to opted-in namespaces.
@kopf.on.event("v1", "namespaces", id="namespace-event")
async def namespace_event(name: str, memo: kopf.Memo, **_: Any) -> None:
    """Reconcile the namespace (the first event of the process also starts the bootstrap)."""
    runtime = runtime_of(memo)
    runtime.reconciler.start_bootstrap()
    runtime.reconciler.enqueue(name)
