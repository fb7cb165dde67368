"""Kopf indexes: the operator's in-memory view of opted-in namespaces, profiles and managed
policies.

Handlers layer. The watches behind them are filtered server-side (see lifecycle), so only
opted-in namespaces and netiso-labelled policies are listed or remembered. Index ids are the
kwarg names Kopf injects into other handlers.
"""

from __future__ import annotations

from typing import Any

import kopf

from netiso import conventions
from netiso.cluster.drifts import LivePolicy
from netiso.reconciling import NamespaceEntry, ProfileEntry

MANAGED = {conventions.MANAGED_BY_LABEL: conventions.MANAGED_BY_VALUE}


@kopf.index("v1", "namespaces", labels={conventions.PROFILE_LABEL: kopf.PRESENT}, id="opted_in")
def opted_in(name: str, body: kopf.Body, **_: Any) -> dict[str, NamespaceEntry]:
    """Opted-in namespaces by name."""
    return {name: NamespaceEntry.from_body(body)}


@kopf.index("v1", "namespaces", labels={conventions.PROFILE_LABEL: kopf.PRESENT}, id="by_profile")
def by_profile(name: str, labels: kopf.Labels, **_: Any) -> dict[str, str]:
    """Namespace names by the profile their label names."""
    return {labels.get(conventions.PROFILE_LABEL, ""): name}


@kopf.index(conventions.GROUP, conventions.VERSION, conventions.PLURAL, id="profiles")
def profiles(name: str, body: kopf.Body, **_: Any) -> dict[str, ProfileEntry]:
    """Parsed profiles (or their problems) by name."""
    return {name: ProfileEntry.from_body(body)}


@kopf.index("networking.k8s.io", "v1", "networkpolicies", labels=MANAGED, id="policies")
def policies(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, LivePolicy]:
    """Managed NetworkPolicies by namespace, summarised with their content hash."""
    return {namespace or "": LivePolicy.from_body(body)}
