"""The NetworkPolicies netiso does not manage, kept small enough to hold for a whole cluster.

Cluster layer, pure. A namespace owner's own policies add to netiso's baseline and can re-open
what it closes, so the operator follows every policy and evaluates the foreign ones against
their namespace's profile guardrails. It keeps only what the guardrails read (the name, the
annotations and the ingress/egress rules), as compact JSON: a few hundred bytes per policy
instead of the kilobytes of a decoded body with its managedFields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from netiso import conventions
from netiso.observed.drifts import LivePolicy

# kubectl's copy of the whole object: as large as the policy itself and read by no guardrail.
_LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"


def is_labelled_managed(body: Mapping[str, Any]) -> bool:
    """Whether the policy wears netiso's managed-by label (whoever put it there).

    Such policies go through netiso's ownership check (drifts.owned): one that is not provably
    netiso's is reported as drift, and admission's netiso-managed-policies rejects anybody
    else adding the label. The rest are foreign.
    """
    labels = (body.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(conventions.MANAGED_BY_LABEL) == conventions.MANAGED_BY_VALUE)


@dataclass(frozen=True)
class ForeignPolicy:
    """A NetworkPolicy netiso does not manage, reduced to what guardrails evaluate."""

    namespace: str
    name: str
    uid: str = ""
    resource_version: str = ""
    document: str = "{}"

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ForeignPolicy:
        """Summarise a NetworkPolicy as the API server returned it."""
        metadata = body.get("metadata") or {}
        spec = body.get("spec") or {}
        annotations = {
            str(key): value
            for key, value in (metadata.get("annotations") or {}).items()
            if key != _LAST_APPLIED
        }
        reduced: dict[str, Any] = {"metadata": {"name": metadata.get("name", "")}}
        if annotations:
            reduced["metadata"]["annotations"] = annotations
        if isinstance(spec, Mapping):
            rules = {key: spec[key] for key in ("ingress", "egress") if key in spec}
            if rules:
                reduced["spec"] = rules
        return cls(
            namespace=str(metadata.get("namespace", "")),
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            resource_version=str(metadata.get("resourceVersion", "")),
            document=json.dumps(reduced, separators=(",", ":"), sort_keys=True),
        )

    def body(self) -> dict[str, Any]:
        """The reduced policy body, in the shape model.guardrails.violations() reads."""
        value = json.loads(self.document)
        return value if isinstance(value, dict) else {}


def summarise(body: Mapping[str, Any]) -> LivePolicy | ForeignPolicy:
    """A policy netiso may manage (labelled) as a LivePolicy, any other as a ForeignPolicy."""
    if is_labelled_managed(body):
        return LivePolicy.from_body(body)
    return ForeignPolicy.from_body(body)
