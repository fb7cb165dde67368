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
async def namespace_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """Record the namespace in the operator's view and reconcile it."""
    runtime_of(memo).reconciler.namespace_event(body, deleted=type == "DELETED")
