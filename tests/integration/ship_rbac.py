"""The shipped ClusterRole split into single permissions, for the RBAC ablation proofs.

A permission is one verb on one resource of one API group, the smallest thing an RBAC rule can
grant without resourceNames. `rules_without` builds the role minus one of them;
`wait_until_authorized` asks the API server (SubjectAccessReview) until the user's rights are
exactly what the test granted, so no run starts against a stale RBAC cache.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes import client


@dataclass(frozen=True, order=True)
class Permission:
    """One verb on one resource (subresources as `resource/sub`) in one API group."""

    group: str
    resource: str
    verb: str

    @property
    def id(self) -> str:
        """`resource.group:verb`, `resource:verb` for the core group, e.g. `events:create`."""
        qualified = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{qualified}:{self.verb}"


def permissions(rules: Iterable[Mapping[str, Any]]) -> list[Permission]:
    """Every permission the rules grant, in rule order, each once."""
    found: list[Permission] = []
    for rule in rules:
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                for verb in rule.get("verbs") or []:
                    permission = Permission(group, resource, verb)
                    if permission not in found:
                        found.append(permission)
    return found


def rules_without(rules: Sequence[Mapping[str, Any]], removed: Permission) -> list[dict[str, Any]]:
    """The rules minus `removed`, every other permission kept.

    Rules naming several groups or resources are split into one rule per group and resource,
    so dropping one verb never drops it anywhere else; a rule left without verbs disappears.
    """
    out: list[dict[str, Any]] = []
    for rule in rules:
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                verbs = [
                    verb
                    for verb in rule.get("verbs") or []
                    if Permission(group, resource, verb) != removed
                ]
                if verbs:
                    out.append({"apiGroups": [group], "resources": [resource], "verbs": verbs})
    return out


def _allowed(
    api: client.ApiClient, *, user: str, permission: Permission, namespace: str | None
) -> bool:
    resource, _, subresource = permission.resource.partition("/")
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=user,
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace,
                group=permission.group,
                resource=resource,
                subresource=subresource or None,
                verb=permission.verb,
            ),
        )
    )
    answer = client.AuthorizationV1Api(api).create_subject_access_review(review)
    return answer.status is not None and bool(answer.status.allowed)


def wait_until_authorized(
    api: client.ApiClient,
    *,
    user: str,
    granted: Iterable[Permission],
    denied: Iterable[Permission] = (),
    timeout: float = 15.0,
    namespace: str | None = None,
) -> None:
    """Block until the API server allows `user` every granted and none of the denied
    permissions, cluster-wide or in `namespace` (RBAC changes reach the authorizer through an
    informer)."""
    wanted = {p: True for p in granted} | {p: False for p in denied}
    deadline = time.monotonic() + timeout
    while True:
        wrong = sorted(
            p.id
            for p, allow in wanted.items()
            if _allowed(api, user=user, permission=p, namespace=namespace) != allow
        )
        if not wrong:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"RBAC of {user} not in effect after {timeout}s: {wrong}")
        time.sleep(0.2)


def revoke(api: client.ApiClient, role_name: str) -> None:
    """Delete the ClusterRole and ClusterRoleBinding grant_operator_rbac made under one name."""
    rbac = client.RbacAuthorizationV1Api(api)
    for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
        try:
            delete(role_name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
