"""Writes to the API server: create, replace and delete of managed NetworkPolicies.

Cluster layer. Steps run in the order `drifts.order_steps` gives, in phases: the default-deny
removal, then all allows (concurrently), then the default-deny, then other removals. The first
failure stops everything after its phase, so a namespace never gets a deny without its allows.

Writes are authoritative: an update replaces the whole object (PUT with the resourceVersion
netiso looked at), not a server-side apply, which would reset only the fields netiso's field
manager owns and keep anything someone else added (`ingress: [{}]` on the default-deny). Every
create and update is verified: the object the API server returns must be exactly the rendering,
or the step fails as `NotConverged`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from netiso import conventions
from netiso.observed.authorship import Signer
from netiso.observed.drifts import LivePolicy, Step, Verb, is_default_deny, order_steps, owned
from netiso.rendering.bodies import RenderedPolicy
from netiso.runtime.client import ApiClient
from netiso.runtime.errors import Conflict, NotFound
from netiso.runtime.reading import find_named, policy_path


class UnmanagedConflict(Exception):
    """A NetworkPolicy with netiso's name exists but is not netiso's; it is left untouched."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(
            f"NetworkPolicy {namespace}/{name} exists and is not netiso's (a label alone does "
            "not make it so); netiso will not take it over, change or delete it. Rename or "
            "delete that policy to let netiso isolate the namespace"
        )
        self.namespace = namespace
        self.name = name


class NotConverged(Exception):
    """A write succeeded but the object the API server kept is not what netiso rendered
    (an admission webhook or another controller changes it): the repair did not take."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(
            f"NetworkPolicy {namespace}/{name} still differs from the rendering after netiso "
            "replaced it (something changes it on every write: a mutating webhook, or another "
            "controller applying the same object)"
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


def _verified(policy: RenderedPolicy, payload: dict[str, Any]) -> LivePolicy:
    live = LivePolicy.from_body(payload)
    if live.actual_hash != policy.spec_hash:
        raise NotConverged(policy.namespace, policy.name)
    return live


async def replace_policy(
    api: ApiClient, policy: RenderedPolicy, *, resource_version: str
) -> LivePolicy:
    """Replace the whole object with the rendering (PUT), conditional on `resource_version`.

    Labels, annotations and spec become exactly netiso's; anything someone else added goes.
    Raises Conflict when the object changed since netiso looked at it. Never sent without
    a resourceVersion: an unconditional PUT would overwrite whatever a new leader wrote.
    """
    if not resource_version:
        raise ValueError(f"replace of {policy.namespace}/{policy.name} without a resourceVersion")
    body = copy.deepcopy(policy.body)
    body["metadata"]["resourceVersion"] = resource_version
    _, payload = await api.request(
        "PUT",
        policy_path(policy.namespace, policy.name),
        verb="update",
        params={"fieldManager": conventions.FIELD_MANAGER},
        body=body,
    )
    return _verified(policy, payload)


async def update(
    api: ApiClient,
    policy: RenderedPolicy,
    *,
    seen: LivePolicy | None,
    signer: Signer | None = None,
) -> LivePolicy:
    """Replace a managed policy; on a stale view, re-read it and replace it once more if it is
    still netiso's (the same object netiso assessed, or one netiso can prove it wrote)."""
    if seen is not None and seen.resource_version:
        # Gone or changed since our view: read it again below.
        with contextlib.suppress(NotFound, Conflict):
            return await replace_policy(api, policy, resource_version=seen.resource_version)
    existing = await find_named(api, policy_path(policy.namespace), policy.name)
    if existing is None:
        return await create(api, policy, signer=signer)
    return await _take_over(api, policy, existing, seen=seen, signer=signer)


async def _take_over(
    api: ApiClient,
    policy: RenderedPolicy,
    existing: dict[str, Any],
    *,
    seen: LivePolicy | None,
    signer: Signer | None,
) -> LivePolicy:
    current = LivePolicy.from_body(existing)
    same_object = seen is not None and bool(seen.uid) and seen.uid == current.uid
    # A name netiso wants in a namespace opted in to it: an unsigned copy of a rendering may
    # be adopted (drifts.owned), as the assessment would.
    evidence = owned(current, signer=signer, known_hashes={policy.spec_hash}, adopting=True)
    if not (same_object or evidence):
        raise UnmanagedConflict(policy.namespace, policy.name)
    return await replace_policy(api, policy, resource_version=current.resource_version)


async def create(
    api: ApiClient, policy: RenderedPolicy, *, signer: Signer | None = None
) -> LivePolicy:
    """Create a policy that netiso believes absent, without ever overwriting a foreign one.

    On AlreadyExists the existing object is taken over only if it is provably netiso's
    (`drifts.owned`: our view was merely stale), and refused otherwise: a label is not
    ownership.
    """
    status, payload = await api.request(
        "POST",
        policy_path(policy.namespace),
        verb="create",
        params={"fieldManager": conventions.FIELD_MANAGER},
        body=policy.body,
        allow_statuses=frozenset({HTTPStatus.CONFLICT}),
    )
    if status != HTTPStatus.CONFLICT:
        return _verified(policy, payload)
    existing = await find_named(api, policy_path(policy.namespace), policy.name)
    if existing is None:
        # Deleted between our POST and the read: a plain retry of the create is safe.
        return await create(api, policy, signer=signer)
    return await _take_over(api, policy, existing, seen=None, signer=signer)


async def delete(api: ApiClient, policy: LivePolicy) -> None:
    """Delete a managed policy; gone already is fine.

    The uid and resourceVersion preconditions make sure netiso deletes the object as it looked
    at it: not a namesake created since, not one edited since (a new leader's repair, or an
    edit that changes what the object is). On a failed precondition the object is read again
    and deleted once more only if it is still the one netiso assessed.
    """
    for _ in range(2):
        if await _delete_as_seen(api, policy):
            return
        existing = await find_named(api, policy_path(policy.namespace), policy.name)
        if existing is None:
            return
        current = LivePolicy.from_body(existing)
        if not policy.uid or current.uid != policy.uid:
            return  # a different object holds the name now: the next reconcile judges it
        policy = current
    raise Conflict(
        status=HTTPStatus.CONFLICT,
        reason="Conflict",
        message=f"NetworkPolicy {policy.namespace}/{policy.name} keeps changing under netiso",
        method="DELETE",
        path=policy_path(policy.namespace, policy.name),
    )


async def _delete_as_seen(api: ApiClient, policy: LivePolicy) -> bool:
    """One conditional DELETE; False when a precondition failed (409)."""
    preconditions = {
        key: value
        for key, value in (("uid", policy.uid), ("resourceVersion", policy.resource_version))
        if value
    }
    if not preconditions:
        raise ValueError(f"delete of {policy.namespace}/{policy.name} without a precondition")
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": preconditions}
    try:
        await api.request(
            "DELETE",
            policy_path(policy.namespace, policy.name),
            verb="delete",
            body=body,
            allow_statuses=frozenset({HTTPStatus.NOT_FOUND}),
        )
    except Conflict:
        return False
    return True


async def _run(api: ApiClient, step: Step, *, signer: Signer | None) -> LivePolicy | None:
    if step.action == Verb.DELETE:
        assert step.live is not None
        await delete(api, step.live)
        return None
    assert step.rendered is not None
    if step.action == Verb.CREATE:
        return await create(api, step.rendered, signer=signer)
    return await update(api, step.rendered, seen=step.live, signer=signer)


def _phases(steps: Sequence[Step]) -> list[list[Step]]:
    """Group ordered steps into phases whose members may run concurrently."""
    phases: list[list[Step]] = []
    last_key: tuple[str, bool] | None = None
    for step in order_steps(steps):
        deny = is_default_deny(step)
        key = ("delete" if step.action == Verb.DELETE else "write", deny)
        if deny or key != last_key:
            phases.append([])
        phases[-1].append(step)
        last_key = key
    return phases


async def execute(
    api: ApiClient, steps: Sequence[Step], *, signer: Signer | None = None
) -> tuple[Written, ...]:
    """Run the steps phase by phase; raise StepFailed at the first failing phase.

    `signer` (the operator's key, if any) judges a policy found in the way of a create or an
    update, as the assessment judged the ones it saw (drifts.owned).
    """
    done: list[Written] = []
    for phase in _phases(steps):
        results = await asyncio.gather(
            *(_run(api, s, signer=signer) for s in phase), return_exceptions=True
        )
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
