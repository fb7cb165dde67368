"""The pure decision for one namespace: what netiso wants there and the writes that get it there.

Reconciling layer, no I/O. `assess()` is shared by the operator and the CLI (`netiso diff`,
`netiso status`), so the two can never disagree about what would change.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from netiso import conventions
from netiso.model.apiendpoints import ApiServerEndpoints
from netiso.model.grants import apply_grants, granted_rules
from netiso.model.guardrails import Rule, Violation, exception_of, violations
from netiso.model.limits import Guardrails
from netiso.model.profiles import DriftAction, Mode
from netiso.observed.authorship import Signer
from netiso.observed.drifts import Changes, LivePolicy, compare, owned
from netiso.observed.entries import NamespaceEntry, NamespaceState, ProfileEntry
from netiso.observed.foreign import ForeignPolicy
from netiso.reachability.exposures import EXPOSURE_PREFIX, Reach, exposure_of
from netiso.rendering.bodies import RenderedPolicy, RenderError, render_policies
from netiso.rendering.environment import Templates


@dataclass(frozen=True)
class Assessment:
    """What a namespace should look like and the writes that would get it there."""

    namespace: str
    profile: str
    state: NamespaceState
    changes: Changes = field(default_factory=Changes)
    dry_run: bool = False
    message: str = ""
    desired: tuple[str, ...] = ()
    # The content hashes of the desired policies: renderings netiso made (ownership evidence).
    desired_hashes: tuple[str, ...] = ()
    # Guardrails the namespace's foreign policies break, excepted ones included, and what
    # only their sum or the namespace inventory shows (reachability/exposures.py).
    violations: tuple[Violation, ...] = ()
    # The effective exposure in words, one sentence per peer ("reachable from every namespace
    # on TCP 5432"): netiso's policies and the owners' together.
    exposure: tuple[str, ...] = ()
    # Of that, the sentences that a policy breaking a guardrail without an exception takes
    # part in (computed only when there is one): what the profile status shows.
    weakened_exposure: tuple[str, ...] = ()

    @property
    def weakened(self) -> tuple[Violation, ...]:
        """The violations no exception covers: what re-opens the namespace."""
        return tuple(v for v in self.violations if v.exception is None)


def assess(
    *,
    name: str,
    entry: NamespaceEntry | None,
    profile: ProfileEntry | None,
    live: Sequence[LivePolicy],
    environment: Templates,
    protected: Collection[str],
    established: Iterable[str] | None = None,
    written_uids: Collection[str] = (),
    known_hashes: Collection[str] = (),
    foreign: Sequence[ForeignPolicy] = (),
    inventory: Callable[[], Iterable[Mapping[str, str]]] = tuple,
    describe_exposure: bool = False,
    signer: Signer | None = None,
    api_server: ApiServerEndpoints | None = None,
    now: datetime | None = None,
) -> Assessment:
    """Decide, without I/O, what netiso wants for one namespace.

    Fail-closed rules: a missing, invalid or unrenderable profile changes nothing in the
    namespace (whatever isolation it has stays), so a typo can never drop isolation. A
    namespace that is no longer opted in, or is protected, loses all managed policies that are
    provably netiso's (`signer`, `written_uids`, `known_hashes`: see drifts.owned); policies
    that only wear netiso's label are reported and left alone. With a `signer` (the operator's
    key; the CLI has none) the desired policies carry netiso's signature.

    The `foreign` policies (the namespace owner's own) are evaluated against the profile's
    guardrails: one that breaks a guardrail without an exception is isolation drift, so a
    namespace otherwise isolated is DRIFTED. So is what they open together, judged against the
    labels of the known namespaces (`inventory()`, read only when a selector needs it).
    netiso never writes to them. `describe_exposure` adds the exposure in words (the CLI's).
    A profile's API server allow admits the `api_server` endpoints (None: none known).
    The profile's listed exceptions count until their expiry, judged at `now` (None: the
    current time).
    """

    def diff(desired: Sequence[RenderedPolicy], *, repair: bool = True) -> Changes:
        return compare(
            desired=desired,
            live=[*live, *namesakes(foreign, desired=desired)],
            repair=repair,
            established=established if desired else None,
            written_uids=written_uids,
            known_hashes=known_hashes,
            signer=signer,
        )

    if entry is None or entry.facts.name in protected:
        if entry is not None and entry.terminating:
            return Assessment(namespace=name, profile="", state=NamespaceState.RELEASED)
        changes = diff(())
        if entry is None:
            # Labelled policies that are not netiso's, in a namespace that is not opted in:
            # reported (with no profile), never deleted.
            state = NamespaceState.DRIFTED if changes.reported_only else NamespaceState.RELEASED
            return Assessment(namespace=name, profile="", state=state, changes=changes)
        return Assessment(
            namespace=name,
            profile=entry.profile_name,
            state=NamespaceState.PROTECTED,
            changes=changes,
            message=f"namespace {name} is protected and is never isolated",
        )
    if entry.terminating:
        return Assessment(namespace=name, profile=entry.profile_name, state=NamespaceState.RELEASED)
    profile_name = entry.profile_name
    if profile is None or (profile.deleting and profile.orphan_on_delete):
        return Assessment(
            namespace=name,
            profile=profile_name,
            state=NamespaceState.MISSING_PROFILE,
            message=_missing_profile_message(profile_name, live, signer=signer),
        )
    if profile.problems or profile.profile is None:
        return Assessment(
            namespace=name,
            profile=profile_name,
            state=NamespaceState.ERROR,
            message=f"IsolationProfile {profile_name!r} is invalid: " + "; ".join(profile.problems),
        )
    if profile.deleting:
        changes = diff(())
        return Assessment(
            namespace=name, profile=profile_name, state=NamespaceState.RELEASED, changes=changes
        )
    spec = profile.profile
    try:
        desired = render_policies(environment, spec, entry.facts, api_server=api_server)
    except RenderError as exc:
        return Assessment(
            namespace=name,
            profile=profile_name,
            state=NamespaceState.ERROR,
            message=f"cannot render profile {profile_name!r}: {exc}",
        )
    if signer is not None:
        desired = tuple(signer.signed(policy) for policy in desired)
    repair = spec.drift_action == DriftAction.REPAIR
    changes = diff(desired, repair=repair)
    judged_at = now or datetime.now(UTC)

    def judge(*, describe: bool) -> tuple[list[Violation], tuple[Reach, ...]]:
        return judge_guardrails(
            foreign,
            namespace=name,
            guardrails=spec.guardrails,
            inventory=inventory,
            now=judged_at,
            netisos=[policy.body for policy in desired],
            describe=describe,
        )

    found, reaches = judge(describe=describe_exposure)
    offenders = {v.policy for v in found if v.exception is None}
    if offenders and not describe_exposure:
        # Words cost a second pass, paid only where isolation is weakened.
        _, reaches = judge(describe=True)
    exposure = tuple(reach.words() for reach in reaches) if describe_exposure else ()
    weakened_exposure = tuple(
        reach.words() for reach in reaches if offenders.intersection(reach.policies)
    )
    weakened = [v for v in found if v.exception is None]
    dry_run = spec.mode == Mode.DRY_RUN
    if dry_run:
        state = NamespaceState.DRY_RUN
    elif changes.conflicts:
        state = NamespaceState.ERROR
    elif changes.reported_only or weakened:
        state = NamespaceState.DRIFTED
    elif excepted := [v for v in found if v.exception is not None]:
        state = NamespaceState.EXCEPTED
    else:
        state = NamespaceState.ISOLATED
    messages = []
    if changes.conflicts:
        names = ", ".join(d.policy for d in changes.conflicts)
        listed = " ".join(d.policy for d in changes.conflicts)
        messages.append(
            f"NetworkPolicy {names} in namespace {name} holds a name netiso reserves but is "
            "not netiso's (a label alone does not make it so): netiso will not change it, and "
            "holds back the default-deny until it is deleted "
            f"(kubectl -n {name} delete networkpolicy {listed}); this namespace is not isolated"
        )
    if weakened:
        messages.append(weakened_message(weakened, namespace=name))
    if state == NamespaceState.EXCEPTED:
        granted = sorted({(v.policy, v.exception or "") for v in excepted})
        messages.append(
            f"namespace {name} is isolated except for what the platform excepted: "
            + "; ".join(f"NetworkPolicy {policy} ({reason})" for policy, reason in granted)
        )
    message = "; ".join(messages)
    return Assessment(
        namespace=name,
        profile=profile_name,
        state=state,
        changes=changes,
        dry_run=dry_run,
        message=message,
        desired=tuple(p.name for p in desired),
        desired_hashes=tuple(p.spec_hash for p in desired),
        violations=tuple(found),
        exposure=exposure,
        weakened_exposure=weakened_exposure,
    )


def namesakes(
    foreign: Iterable[ForeignPolicy], *, desired: Sequence[RenderedPolicy]
) -> list[LivePolicy]:
    """The unlabelled policies that hold a name netiso wants here (made before netiso's
    admission reserved the names), as live policies that are not netiso's: compare() reports
    each as a `conflict` and writes nothing in its place, as for a labelled impostor."""
    wanted = {policy.name for policy in desired}
    return [
        LivePolicy(namespace=p.namespace, name=p.name, uid=p.uid, managed=False)
        for p in foreign
        if p.name in wanted
    ]


def judge_guardrails(
    foreign: Sequence[ForeignPolicy],
    *,
    namespace: str,
    guardrails: Guardrails,
    inventory: Callable[[], Iterable[Mapping[str, str]]],
    now: datetime,
    netisos: Sequence[Mapping[str, Any]] = (),
    describe: bool = False,
) -> tuple[list[Violation], tuple[Reach, ...]]:
    """Every guardrail the namespace owners' `foreign` policies break, one by one (as
    admission judges) and together with the namespace inventory (reachability/exposures.py),
    with the exceptions applied: the annotation's, and the profile's listed entries that have
    not expired at `now`. Also the exposure, peer by peer, with `describe` (netiso's own
    policies, `netisos`, included). The operator, `netiso status`/`diff` and `netiso check`
    share it.
    """
    grants = [grant for grant in guardrails.exceptions if grant.namespace == namespace]
    found = apply_grants(
        evaluate_guardrails(foreign, guardrails, namespace=namespace), grants, now=now
    )
    # An annotation covers its policy whatever it opens, alone or with the others.
    judged = [policy for policy in foreign if not _excepted(policy)]
    exposure = exposure_of(
        namespace=namespace,
        policies=[*netisos, *(policy.document for policy in foreign)],
        judged=[policy.document for policy in judged],
        guardrails=guardrails,
        inventory=inventory,
        describe=describe,
    )
    findings = list(exposure.findings)
    if grants:
        # A listed entry covers its policy for its rules: the sums of those rules leave the
        # policy out, as an annotation leaves it out of every sum.
        allowed = {
            policy.name: granted_rules(grants, namespace=namespace, policy=policy.name, now=now)
            for policy in judged
        }
        for rule in (Rule.BROAD_CIDR, Rule.NO_PORTS):
            left = [policy.document for policy in judged if rule not in allowed[policy.name]]
            if len(left) == len(judged):
                continue
            again = exposure_of(
                namespace=namespace,
                policies=(),
                judged=left,
                guardrails=guardrails,
                inventory=inventory,
                describe=False,
            )
            findings = [f for f in findings if f.rule != rule]
            findings.extend(f for f in again.findings if f.rule == rule)
    found.extend(apply_grants(findings, grants, now=now))
    return found, exposure.reaches


def evaluate_guardrails(
    foreign: Iterable[ForeignPolicy], guardrails: Guardrails, *, namespace: str
) -> list[Violation]:
    """Every guardrail the foreign policies break, by policy name, each in rule order."""
    found: list[Violation] = []
    for policy in sorted(foreign, key=lambda p: p.name):
        found.extend(
            replace(violation, namespace=namespace)
            for violation in _document_violations(policy.document, guardrails)
        )
    return found


@functools.lru_cache(maxsize=4096)
def _document_violations(document: str, guardrails: Guardrails) -> tuple[Violation, ...]:
    """The violations of a policy given as its JSON document, without a namespace: namespaces
    hold the same policies (a platform's template, a Helm chart), and a namespace is assessed
    again at every change and resync with the same ones (2 ms a policy, decoded and judged)."""
    body = json.loads(document)
    return tuple(violations(body if isinstance(body, dict) else {}, guardrails, namespace=""))


def weakened_message(weakened: Sequence[Violation], *, namespace: str) -> str:
    """Say which policies re-open the namespace and which guardrails they break."""
    rules: dict[str, list[str]] = {}
    for violation in weakened:
        broken = rules.setdefault(violation.policy, [])
        if str(violation.rule) not in broken:
            broken.append(str(violation.rule))
    listed = ", ".join(f"{policy} ({', '.join(r)})" for policy, r in sorted(rules.items()))
    # What only the sum of the policies shows, in words: a field path would not say it.
    together = sorted(
        {
            v.path.removeprefix(EXPOSURE_PREFIX)
            for v in weakened
            if v.path.startswith(EXPOSURE_PREFIX)
        }
    )
    shown = f" ({'; '.join(together)})" if together else ""
    lapsed = sorted({(v.policy, v.lapsed) for v in weakened if v.lapsed})
    expired = (
        "; the profile's exception expired for " + "; ".join(f"{p}: {w}" for p, w in lapsed)
        if lapsed
        else ""
    )
    return (
        f"NetworkPolicy {listed} in namespace {namespace} breaks the profile's guardrails "
        f"and re-opens what the baseline closes{shown}{expired}: this namespace is not "
        "isolated until the policy is fixed, deleted, or excepted by the platform "
        f"(spec.guardrails.exceptions, or the {conventions.EXCEPTION_ANNOTATION} "
        "annotation; `netiso diff` shows each field)"
    )


def _excepted(policy: ForeignPolicy) -> bool:
    # Most policies carry no exception: look for the key before decoding the document.
    if conventions.EXCEPTION_ANNOTATION not in policy.document:
        return False
    return _document_exception(policy.document) is not None


@functools.lru_cache(maxsize=4096)
def _document_exception(document: str) -> str | None:
    body = json.loads(document)
    return exception_of(body if isinstance(body, dict) else {})


def _missing_profile_message(
    profile: str, live: Sequence[LivePolicy], *, signer: Signer | None
) -> str:
    """Say truthfully what a namespace whose profile is missing has left."""
    kept = sorted(p.name for p in live if owned(p, signer=signer))
    if kept:
        return (
            f"IsolationProfile {profile!r} does not exist; netiso keeps its policies here as "
            f"they are ({', '.join(kept)}) until the profile exists again or the namespace "
            "opts out"
        )
    return (
        f"IsolationProfile {profile!r} does not exist and no netiso policies are in place: "
        "this namespace is not isolated by netiso"
    )
