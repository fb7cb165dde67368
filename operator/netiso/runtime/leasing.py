"""Reading and writing the coordination.k8s.io/v1 Leases that elect netiso's leaders.

Cluster layer: the I/O half of leader election (model/leases.py decides). Every write
carries the resourceVersion it was decided on, so of two replicas racing for a Lease exactly
one wins and the other gets a Conflict, which is an answer here, never retried.
"""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import Any

from netiso import conventions
from netiso.model.leases import LeaseRecord
from netiso.runtime.client import ApiClient

_BASE = "/apis/coordination.k8s.io/v1/namespaces"
# Where a shard's leader publishes its status tallies for the leader of shard 0.
NOTES_ANNOTATION = f"{conventions.GROUP}/shard-tallies"


def lease_path(namespace: str, name: str | None = None) -> str:
    """The collection of Leases in `namespace`, or one of them."""
    path = f"{_BASE}/{namespace}/leases"
    return f"{path}/{name}" if name else path


def parse_lease(body: dict[str, Any]) -> LeaseRecord:
    """A Lease body as a record; missing fields read as a released Lease."""
    spec = body.get("spec") or {}
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        duration=float(spec.get("leaseDurationSeconds") or 0),
        transitions=int(spec.get("leaseTransitions") or 0),
        acquired=spec.get("acquireTime"),
        renewed=spec.get("renewTime"),
        version=str((body.get("metadata") or {}).get("resourceVersion", "")),
        notes=str(annotations.get(NOTES_ANNOTATION, "")),
    )


def lease_body(*, namespace: str, name: str, record: LeaseRecord) -> dict[str, Any]:
    """The Lease object for `record` (its version, when set, guards the write)."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if record.version:
        metadata["resourceVersion"] = record.version
    if record.notes:
        metadata["annotations"] = {NOTES_ANNOTATION: record.notes}
    spec: dict[str, Any] = {
        "holderIdentity": record.holder or None,
        # The API takes whole seconds; rounding up never shortens the fence's margin.
        "leaseDurationSeconds": max(1, math.ceil(record.duration)),
        "leaseTransitions": record.transitions,
        "acquireTime": record.acquired,
        "renewTime": record.renewed,
    }
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {key: value for key, value in spec.items() if value is not None},
    }


# An update's answer when another replica deleted or changed the Lease first: not an error.
_GONE_OR_CHANGED = frozenset({HTTPStatus.NOT_FOUND, HTTPStatus.CONFLICT})


async def read_lease(api: ApiClient, *, namespace: str, name: str) -> LeaseRecord | None:
    """The Lease's record, or None when it does not exist; raises ApiError."""
    status, body = await api.request(
        "GET",
        lease_path(namespace, name),
        verb="get",
        allow_statuses=frozenset({HTTPStatus.NOT_FOUND}),
    )
    return None if status == HTTPStatus.NOT_FOUND else parse_lease(body)


async def create_lease(
    api: ApiClient, *, namespace: str, name: str, record: LeaseRecord
) -> LeaseRecord | None:
    """Create the Lease; None when another replica created it first. Raises ApiError."""
    status, body = await api.request(
        "POST",
        lease_path(namespace),
        verb="create",
        body=lease_body(namespace=namespace, name=name, record=record),
        allow_statuses=frozenset({HTTPStatus.CONFLICT}),
    )
    return None if status == HTTPStatus.CONFLICT else parse_lease(body)


async def update_lease(
    api: ApiClient, *, namespace: str, name: str, record: LeaseRecord
) -> LeaseRecord | None:
    """Replace the Lease if it is still at `record.version`; None when it changed meanwhile
    (or is gone). Raises ApiError."""
    status, body = await api.request(
        "PUT",
        lease_path(namespace, name),
        verb="update",
        body=lease_body(namespace=namespace, name=name, record=record),
        allow_statuses=_GONE_OR_CHANGED,
    )
    return None if status in _GONE_OR_CHANGED else parse_lease(body)
