"""The API server's defaults for the admission objects netiso renders, and their comparison.

Rendering layer, pure. kube-apiserver fills defaults into every ValidatingAdmissionPolicy and
binding it stores (admissionregistration.k8s.io/v1 defaults.go); `normalise` adds the same to
a rendering, so a stored object is in place exactly when its spec equals the normalised one.
tests/integration/test_keeper.py proves that equality on a real API server for every object.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

# MatchResources defaults: the policy's matchConstraints and a binding's matchResources.
_MATCH_DEFAULTS: Final = {
    "matchPolicy": "Equivalent",
    "namespaceSelector": {},
    "objectSelector": {},
}
# A resource rule's scope, when it names none: any.
_RULE_SCOPE: Final = "*"


def _match_resources(match: Mapping[str, Any]) -> dict[str, Any]:
    out = {**copy.deepcopy(_MATCH_DEFAULTS), **copy.deepcopy(dict(match))}
    for key in ("resourceRules", "excludeResourceRules"):
        if key in out:
            out[key] = [{"scope": _RULE_SCOPE, **rule} for rule in out[key]]
    return out


def normalise(body: Mapping[str, Any]) -> dict[str, Any]:
    """The spec the API server stores for `body` (a rendered policy or binding): the rendered
    spec plus the server's defaults. Never changes `body`."""
    spec = copy.deepcopy(dict(body.get("spec") or {}))
    if body.get("kind") == "ValidatingAdmissionPolicy":
        spec.setdefault("failurePolicy", "Fail")
        spec["matchConstraints"] = _match_resources(spec.get("matchConstraints") or {})
    elif "matchResources" in spec:
        spec["matchResources"] = _match_resources(spec["matchResources"])
    return spec


def labels_in_place(rendered: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """Whether `live` carries every label of `rendered` (others may add their own)."""
    want = (rendered.get("metadata") or {}).get("labels") or {}
    have = (live.get("metadata") or {}).get("labels") or {}
    return all(have.get(key) == value for key, value in want.items())


def in_place(rendered: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """Whether the stored `live` object is `rendered` as the server keeps it: the spec equal to
    the normalised rendering (anything added, removed or changed counts) and netiso's labels."""
    return live.get("spec") == normalise(rendered) and labels_in_place(rendered, live)
