"""Kubernetes Events about namespaces and profiles: what to say, and about which object.

Reporting layer; runtime/posting.py sends them. Namespace Events go into the namespace itself
(so its owner sees them with `kubectl get events -n NS`); profile Events go to `default`, where
Kubernetes keeps Events of cluster-scoped objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from netiso import conventions
from netiso.runtime.posting import EventPoster

NORMAL = "Normal"
WARNING = "Warning"
# Kubernetes rejects Event messages over 1 KiB on some versions; keep well inside.
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Involved:
    """The object an Event is about."""

    kind: str
    name: str
    api_version: str
    uid: str = ""
    namespace: str = ""

    def reference(self) -> dict[str, str]:
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if self.uid:
            ref["uid"] = self.uid
        if self.namespace:
            ref["namespace"] = self.namespace
        return ref


def namespace_ref(name: str, uid: str = "") -> Involved:
    """The involved-object reference for a Namespace.

    The API server requires involvedObject.namespace to equal the Event's namespace; naming
    the namespace itself there lets the Event live where the namespace's owner can read it.
    """
    return Involved(kind="Namespace", name=name, api_version="v1", uid=uid, namespace=name)


def profile_ref(name: str, uid: str = "") -> Involved:
    """The involved-object reference for an IsolationProfile."""
    return Involved(kind=conventions.KIND, name=name, api_version=conventions.API_VERSION, uid=uid)


def event_body(
    *, involved: Involved, reason: str, message: str, type_: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event; pure so it can be tested without a server."""
    namespace = involved.namespace or "default"
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{involved.name}.netiso.", "namespace": namespace},
        "involvedObject": involved.reference(),
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "type": type_,
        "source": {"component": conventions.EVENT_SOURCE},
        "reportingComponent": conventions.EVENT_SOURCE,
        "reportingInstance": os.environ.get("HOSTNAME", conventions.EVENT_SOURCE)[:128],
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class Events:
    """Queues Events for posting: building the body here, sending it in cluster/posting."""

    def __init__(self, poster: EventPoster) -> None:
        self._poster = poster

    def emit(self, *, involved: Involved, reason: str, message: str, type_: str) -> None:
        """Queue one Event; never blocks and never raises."""
        self._poster.submit(
            event_body(
                involved=involved,
                reason=reason,
                message=message,
                type_=type_,
                now=datetime.now(UTC),
            )
        )
