"""Reading and writing the ValidatingAdmissionPolicies and bindings netiso keeps.

Cluster layer: REST paths, the collections the keeper watches, and the three writes it makes
(create, replace whole with the resourceVersion as guard, delete with uid and resourceVersion
preconditions). Which objects are netiso's and what they should say is decided above, in
reconciling/.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from netiso import conventions
from netiso.runtime.client import ApiClient
from netiso.runtime.watching import Watched

ADMISSION: Final = "/apis/admissionregistration.k8s.io/v1"
POLICIES: Final = f"{ADMISSION}/validatingadmissionpolicies"
BINDINGS: Final = f"{ADMISSION}/validatingadmissionpolicybindings"
PATHS: Final = {
    "ValidatingAdmissionPolicy": POLICIES,
    "ValidatingAdmissionPolicyBinding": BINDINGS,
}
# Every policy and binding, not only labelled ones: a label someone removed must not hide an
# object from netiso (it would then try to create a name that exists). Clusters hold few.
WATCHED: Final = {
    "ValidatingAdmissionPolicy": Watched("validatingadmissionpolicies", POLICIES, ""),
    "ValidatingAdmissionPolicyBinding": Watched("validatingadmissionpolicybindings", BINDINGS, ""),
}

# Named in managedFields, as netiso's policy writes are: `kubectl apply --server-side` of the
# shipped policies then shares the fields with netiso instead of an anonymous client.
_MANAGER: Final = {"fieldManager": conventions.FIELD_MANAGER}


def object_path(kind: str, name: str) -> str:
    """REST path of one policy or binding."""
    return f"{PATHS[kind]}/{name}"


async def create(api: ApiClient, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST the object; returns what the server stored. AlreadyExists raises (409)."""
    _, stored = await api.request(
        "POST", PATHS[str(body["kind"])], verb="create", params=_MANAGER, body=body
    )
    return stored


async def replace(
    api: ApiClient, body: Mapping[str, Any], *, resource_version: str
) -> dict[str, Any]:
    """PUT the object whole, guarded by `resource_version` (a newer object answers 409)."""
    metadata = {**body["metadata"], "resourceVersion": resource_version}
    name = str(metadata["name"])
    _, stored = await api.request(
        "PUT",
        object_path(str(body["kind"]), name),
        verb="update",
        params=_MANAGER,
        body={**body, "metadata": metadata},
    )
    return stored


async def delete(api: ApiClient, *, kind: str, name: str, uid: str, resource_version: str) -> None:
    """DELETE the object only if it is still the one with `uid`, unchanged since netiso read it
    at `resource_version` (otherwise 409); gone already is fine."""
    await api.request(
        "DELETE",
        object_path(kind, name),
        verb="delete",
        body={"preconditions": {"uid": uid, "resourceVersion": resource_version}},
        allow_statuses=frozenset({404}),
    )
