"""Writes to the API server: create, server-side apply and delete of managed NetworkPolicies.

Cluster layer. Steps run in the order `drifts.order_steps` gives, in phases: the default-deny
removal, then all allows (concurrently), then the default-deny, then other removals. The first
failure stops everything after its phase, so a namespace never gets a deny without its allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from netiso import conventions
from netiso.cluster.client import ApiClient, ApiError
from netiso.cluster.drifts import LivePolicy, Step, is_default_deny, order_steps
from netiso.cluster.reading import get_object, policy_path
from netiso.rendering.policies import RenderedPolicy


class UnmanagedConflict(Exception):
    """A NetworkPolicy with netiso's name exists but is not netiso's; it is left untouched."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(
            f"NetworkPolicy {namespace}/{name} exists without label "
            f"{conventions.MANAGED_BY_LABEL}={conventions.MANAGED_BY_VALUE}; "
            "netiso will not take it over (rename or label it)"
        )
        self.namespace = namespace
        self.name = name


@dataclass(frozen=True)
class Written:
    """The outcome of one successful step: the live view after it (None after a delete)."""

    step: Step
    live: LivePolicy | None


class StepFailed(Exception):
    """A write failed; `written` holds the steps that had succeeded before it."""

    def __init__(self, *, step: Step, cause: Exception, written: Sequence[Written]) -> None:
        super().__init__(f"{step.action} {step.name}: {cause}")
        self.step = step
        self.cause = cause
        self.written = tuple(written)


async def server_side_apply(api: ApiClient, policy: RenderedPolicy) -> LivePolicy:
    """Apply with field manager netiso and force: we own every field we render."""
    _, payload = await api.request(
        "PATCH",
        policy_path(policy.namespace, policy.name),
        verb="apply",
        params={"fieldManager": conventions.FIELD_MANAGER, "force": "true"},
        body=policy.body,
        content_type="application/apply-patch+yaml",
    )
    return LivePolicy.from_body(payload)


async def create(api: ApiClient, policy: RenderedPolicy) -> LivePolicy:
    """Create a policy that netiso believes absent, without ever overwriting a foreign one.

    Server-side apply would silently take over an unmanaged object of the same name, so new
    objects are POSTed; on AlreadyExists the existing object is adopted only if it carries
    netiso's managed-by label (our view was merely stale), and refused otherwise.
    """
    status, payload = await api.request(
        "POST",
        policy_path(policy.namespace),
        verb="create",
        params={"fieldManager": conventions.FIELD_MANAGER},
        body=policy.body,
        allow_statuses=frozenset({409}),
    )
    if status != 409:
        return LivePolicy.from_body(payload)
    existing = await get_object(api, policy_path(policy.namespace, policy.name))
    if existing is None:
        # Deleted between our POST and GET: a plain retry of the create is safe.
        return await create(api, policy)
    labels = (existing.get("metadata") or {}).get("labels") or {}
    if labels.get(conventions.MANAGED_BY_LABEL) != conventions.MANAGED_BY_VALUE:
        raise UnmanagedConflict(policy.namespace, policy.name)
    return await server_side_apply(api, policy)


async def delete(api: ApiClient, policy: LivePolicy) -> None:
    """Delete a managed policy; gone already is fine. The uid precondition makes sure we
    delete the object we looked at, not a namesake created since."""
    body = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if policy.uid:
        body["preconditions"] = {"uid": policy.uid}  # type: ignore[assignment]
    try:
        await api.request(
            "DELETE",
            policy_path(policy.namespace, policy.name),
            verb="delete",
            body=body,
            allow_statuses=frozenset({404}),
        )
    except ApiError as exc:
        if exc.status == 409:  # precondition failed: a different object holds the name now
            return
        raise


async def _run(api: ApiClient, step: Step) -> LivePolicy | None:
    if step.action == "delete":
        assert step.live is not None
        await delete(api, step.live)
        return None
    assert step.rendered is not None
    if step.action == "create":
        return await create(api, step.rendered)
    return await server_side_apply(api, step.rendered)


def _phases(steps: Sequence[Step]) -> list[list[Step]]:
    """Group ordered steps into phases whose members may run concurrently."""
    phases: list[list[Step]] = []
    last_key: tuple[str, bool] | None = None
    for step in order_steps(steps):
        deny = is_default_deny(step)
        key = ("delete" if step.action == "delete" else "write", deny)
        if deny or key != last_key:
            phases.append([])
        phases[-1].append(step)
        last_key = key
    return phases


async def execute(api: ApiClient, steps: Sequence[Step]) -> tuple[Written, ...]:
    """Run the steps phase by phase; raise StepFailed at the first failing phase."""
    done: list[Written] = []
    for phase in _phases(steps):
        results = await asyncio.gather(*(_run(api, s) for s in phase), return_exceptions=True)
        failure: tuple[Step, BaseException] | None = None
        for step, result in zip(phase, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or (step, result)
            else:
                done.append(Written(step=step, live=result))
        if failure is not None:
            step, exc = failure
            if not isinstance(exc, Exception):
                raise exc
            raise StepFailed(step=step, cause=exc, written=done)
    return tuple(done)
