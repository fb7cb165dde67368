"""Managed NetworkPolicy events: the fast path of drift detection.

Handlers layer. Any change to a netiso-labelled policy (edit, delete, label change) re-checks
its namespace within the batching window; the reconcile decides whether it is drift.
"""

from __future__ import annotations

from typing import Any

import kopf

from netiso.handlers.runtime import runtime_of


# No client-side label filter, for the same reason as on namespaces: removing our label from a
# policy arrives as DELETED with the unlabelled body, and that must still trigger a check.
@kopf.on.event("networking.k8s.io", "v1", "networkpolicies", id="policy-event")
async def policy_event(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    """Record the policy in the operator's view and re-check its namespace."""
    runtime_of(memo).reconciler.policy_event(body, deleted=type == "DELETED")
