"""Read-only views of a live cluster for the CLI: what `diff`, `status` and `version` show.

Top layer beside the CLI: reads through the cluster layer and decides with the same pure
`reconciling.assessments.assess()` the operator uses, so the CLI can never disagree with the
operator about what would change. Writes nothing; live.py turns these into commands.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import yaml

from netiso import conventions
from netiso.model import apiendpoints
from netiso.model.apiendpoints import ApiServerEndpoints, api_server_endpoints
from netiso.model.guardrails import Violation
from netiso.observed.drifts import LivePolicy
from netiso.observed.entries import NamespaceEntry, NamespaceState, ProfileEntry
from netiso.observed.foreign import ForeignPolicy, is_labelled_managed
from netiso.observed.view import namespace_labels_of
from netiso.reconciling.assessments import Assessment, assess
from netiso.rendering.bodies import RenderError, render_policies
from netiso.rendering.environment import Templates
from netiso.runtime.client import ApiClient
from netiso.runtime.errors import Forbidden
from netiso.runtime.reading import NAMESPACES, get_object, list_all, policies_in
from netiso.runtime.reading import profiles as list_profiles

_OWNED_LABELS = (
    conventions.MANAGED_BY_LABEL,
    conventions.PROFILE_LABEL,
    conventions.POLICY_ROLE_LABEL,
)
_OWNED_ANNOTATIONS = (
    conventions.OWNER_ANNOTATION,
    conventions.REASON_ANNOTATION,
    conventions.SPEC_HASH_ANNOTATION,
)


def comparable(body: Mapping[str, Any] | None) -> str:
    """The YAML of the parts netiso owns (identity labels, annotations, spec), for diffing."""
    if body is None:
        return ""
    metadata = body.get("metadata") or {}
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    view = {
        "metadata": {
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "labels": {k: labels[k] for k in _OWNED_LABELS if k in labels},
            "annotations": {k: annotations[k] for k in _OWNED_ANNOTATIONS if k in annotations},
        },
        "spec": body.get("spec") or {},
    }
    return yaml.safe_dump(view, sort_keys=True, default_flow_style=False)


@dataclass(frozen=True)
class Snapshot:
    """What the CLI read of the cluster: namespaces in scope, every profile, their policies.

    `namespaces` holds the opted-in namespaces in scope; `live` the managed policies of the
    namespaces in scope, also of ones no longer opted in (their policies would be removed);
    `foreign` every other policy of the opted-in namespaces in scope (for the guardrails).
    """

    namespaces: Mapping[str, NamespaceEntry]
    profiles: Mapping[str, ProfileEntry]
    live: Mapping[str, Sequence[Mapping[str, Any]]]
    foreign: Mapping[str, Sequence[ForeignPolicy]] = field(default_factory=dict)
    # The labels of every namespace, opted in or not, in scope or not: the operator's
    # inventory, which the effective exposure is judged against (reachability/exposures.py).
    inventory: tuple[Mapping[str, str], ...] = ()
    # The API server's endpoints, which a profile's apiServer allow admits (None: unreadable).
    api_server: ApiServerEndpoints | None = None

    def names(self) -> list[str]:
        """Every namespace in scope, sorted."""
        return sorted(set(self.namespaces) | set(self.live))


async def read_snapshot(
    api: ApiClient, *, namespace: str | None = None, selector: str = "", opt_in: bool = False
) -> Snapshot:
    """One namespace (`namespace`) or every opted-in one matching the label `selector`.

    With a selector, namespaces that match it only by holding managed policies are left out:
    they carry no labels to match. `opt_in` keeps the named namespace even without the opt-in
    label (to preview opting it in).
    """
    namespaces: dict[str, NamespaceEntry] = {}
    if namespace is not None:
        body = await get_object(api, f"{NAMESPACES}/{namespace}")
        entry = NamespaceEntry.from_body(body) if body is not None else None
        if entry is not None and (entry.profile_name or opt_in):
            namespaces[namespace] = entry
    else:
        scope = ",".join(part for part in (conventions.PROFILE_LABEL, selector) if part)
        async for body in list_all(api, NAMESPACES, label_selector=scope):
            entry = NamespaceEntry.from_body(body)
            namespaces[entry.facts.name] = entry
    live: dict[str, list[Mapping[str, Any]]] = {}
    foreign: dict[str, list[ForeignPolicy]] = {}
    async for policy in policies_in(api, namespace):
        owner = str((policy.get("metadata") or {}).get("namespace"))
        if is_labelled_managed(policy):
            if not selector or owner in namespaces:
                live.setdefault(owner, []).append(policy)
        elif owner in namespaces:
            foreign.setdefault(owner, []).append(ForeignPolicy.from_body(policy))
    profiles = {
        entry.name: entry for entry in map(ProfileEntry.from_body, await list_profiles(api))
    }
    # Every namespace, opted in or not, as the operator judges selectors against them.
    inventory = tuple([namespace_labels_of(body) async for body in list_all(api, NAMESPACES)])
    return Snapshot(
        namespaces=namespaces,
        profiles=profiles,
        live=live,
        foreign=foreign,
        inventory=inventory,
        api_server=await read_api_server(api),
    )


async def read_api_server(api: ApiClient) -> ApiServerEndpoints | None:
    """The `default/kubernetes` EndpointSlices' endpoints, as the operator follows them; None
    when the user may not list them (only a profile's apiServer allow needs them)."""
    try:
        slices = [
            body
            async for body in list_all(
                api, apiendpoints.SLICES_PATH, label_selector=apiendpoints.SLICES_SELECTOR
            )
        ]
    except Forbidden:
        return None
    return api_server_endpoints(slices)


@dataclass(frozen=True)
class NamespaceReport:
    """What netiso would do in one namespace, and the unified diff of its policies."""

    assessment: Assessment
    diff: str

    @property
    def changes(self) -> bool:
        """True when netiso would write something or reports drift (its own policies', or a
        guardrail a namespace owner's policy breaks)."""
        assessment = self.assessment
        return (
            not assessment.changes.empty
            or bool(assessment.changes.reported_only)
            or bool(assessment.weakened)
        )

    def as_dict(self) -> dict[str, Any]:
        """For `-o json|yaml`."""
        assessment = self.assessment
        return {
            "namespace": assessment.namespace,
            "profile": assessment.profile,
            "state": str(assessment.state),
            "message": assessment.message,
            "changes": [str(write) for write in assessment.changes.planned()],
            "reportedDrift": [
                f"{drift.policy}:{drift.reason}" for drift in assessment.changes.reported_only
            ],
            "guardrailViolations": [violation_dict(v) for v in assessment.violations],
            "diff": self.diff,
        }


def violation_dict(violation: Violation) -> dict[str, Any]:
    """One guardrail violation, for `-o json|yaml`."""
    return {
        "policy": violation.policy,
        "rule": str(violation.rule),
        "path": violation.path,
        "exception": violation.exception,
        "message": violation.message,
    }


def diff_reports(
    snapshot: Snapshot,
    *,
    environment: Templates,
    protected: frozenset[str],
    candidate: ProfileEntry | None = None,
) -> list[NamespaceReport]:
    """A report per namespace in the snapshot.

    With a `candidate` (a profile read from a file), every namespace in scope is assessed as
    if opted in to it and the profile were applied: the live profile of that name is ignored.
    """
    reports = []
    for name in snapshot.names():
        entry = snapshot.namespaces.get(name)
        profile = snapshot.profiles.get(entry.profile_name) if entry else None
        if candidate is not None and entry is not None:
            entry, profile = replace(entry, profile_name=candidate.name), candidate
        reports.append(
            diff_namespace(
                name=name,
                entry=entry,
                profile=profile,
                live_bodies=snapshot.live.get(name, ()),
                environment=environment,
                protected=protected,
                foreign=snapshot.foreign.get(name, ()),
                inventory=snapshot.inventory,
                api_server=snapshot.api_server,
            )
        )
    return reports


def diff_namespace(
    *,
    name: str,
    entry: NamespaceEntry | None,
    profile: ProfileEntry | None,
    live_bodies: Sequence[Mapping[str, Any]],
    environment: Templates,
    protected: frozenset[str],
    foreign: Sequence[ForeignPolicy] = (),
    inventory: Sequence[Mapping[str, str]] = (),
    api_server: ApiServerEndpoints | None = None,
) -> NamespaceReport:
    """Compare a namespace's managed policies with what its profile renders, and evaluate
    its other policies against the profile's guardrails."""
    assessment = assess(
        name=name,
        entry=entry,
        profile=profile,
        live=[LivePolicy.from_body(body) for body in live_bodies],
        environment=environment,
        protected=protected,
        foreign=foreign,
        inventory=lambda: inventory,
        describe_exposure=True,
        api_server=api_server,
    )
    desired: dict[str, Mapping[str, Any]] = {}
    if entry is not None and profile is not None and profile.profile is not None:
        try:
            for policy in render_policies(
                environment, profile.profile, entry.facts, api_server=api_server
            ):
                desired[policy.name] = policy.body
        except RenderError:
            desired = {}
    if assessment.state in (NamespaceState.RELEASED, NamespaceState.PROTECTED) or (
        profile is not None and profile.deleting and not profile.orphan_on_delete
    ):
        desired = {}
    live_by_name = {str((b.get("metadata") or {}).get("name")): b for b in live_bodies}
    # A name held by a policy that is not netiso's is reported as a conflict, never written.
    conflicts = {drift.policy for drift in assessment.changes.conflicts}
    chunks: list[str] = []
    for policy_name in sorted(set(desired) | set(live_by_name)):
        fail_closed = assessment.state in (NamespaceState.MISSING_PROFILE, NamespaceState.ERROR)
        if (fail_closed and policy_name not in desired) or policy_name in conflicts:
            continue  # netiso leaves these as they are
        chunks.extend(
            difflib.unified_diff(
                comparable(live_by_name.get(policy_name)).splitlines(keepends=True),
                comparable(desired.get(policy_name)).splitlines(keepends=True),
                fromfile=f"live/{name}/{policy_name}",
                tofile=f"desired/{name}/{policy_name}",
            )
        )
    return NamespaceReport(assessment=assessment, diff="".join(chunks))


@dataclass(frozen=True)
class StatusLine:
    """One row of `netiso status`."""

    namespace: str
    profile: str
    state: str
    drift: str
    pending: int
    message: str = ""
    violations: tuple[Violation, ...] = ()
    exposure: tuple[str, ...] = ()

    @property
    def guardrails(self) -> str:
        """The GUARDRAILS column: `-`, or the policies breaking guardrails, then those let
        through by exception (`2 violating, 1 excepted`)."""
        weakened = len({v.policy for v in self.violations if v.exception is None})
        excepted = len({v.policy for v in self.violations if v.exception is not None})
        parts = [f"{weakened} violating"] if weakened else []
        parts += [f"{excepted} excepted"] if excepted else []
        return ", ".join(parts) or "-"

    def as_dict(self) -> dict[str, Any]:
        """For `-o json|yaml`."""
        return {
            "namespace": self.namespace,
            "profile": self.profile,
            "state": self.state,
            "drift": self.drift,
            "pendingChanges": self.pending,
            "guardrailViolations": [violation_dict(v) for v in self.violations],
            "exposure": list(self.exposure),
            "message": self.message,
        }


def status_lines(
    snapshot: Snapshot, *, environment: Templates, protected: frozenset[str]
) -> list[StatusLine]:
    """One line per namespace in the snapshot (opted in, or holding managed policies)."""
    lines = []
    for report in diff_reports(snapshot, environment=environment, protected=protected):
        assessment = report.assessment
        drifts = sorted({f"{d.policy}:{d.reason}" for d in assessment.changes.drifts})
        state = str(assessment.state)
        if assessment.state == NamespaceState.ISOLATED and not assessment.changes.empty:
            state = "pending"
        lines.append(
            StatusLine(
                namespace=assessment.namespace,
                profile=assessment.profile or "-",
                state=state,
                drift=",".join(drifts) or "-",
                pending=len(assessment.changes.steps),
                message=assessment.message,
                violations=assessment.violations,
                exposure=assessment.exposure,
            )
        )
    return lines


def summary(lines: Iterable[StatusLine]) -> str:
    """`12 namespaces: 10 isolated, 1 drifted, 1 pending`: the count per state, most first."""
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.state] = counts.get(line.state, 0) + 1
    total = sum(counts.values())
    parts = ", ".join(
        f"{count} {state}" for state, count in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
    )
    noun = "namespace" if total == 1 else "namespaces"
    return f"{total} {noun}: {parts}" if parts else f"0 {noun}"


# The Deployment's recommended labels (manifests/deployment.yaml) find the operator.
OPERATOR_SELECTOR: Final = "app.kubernetes.io/name=netiso"
VERSION_LABEL: Final = "app.kubernetes.io/version"
DEPLOYMENTS: Final = "/apis/apps/v1/deployments"


@dataclass(frozen=True)
class OperatorVersion:
    """A netiso operator Deployment found in the cluster and the version it runs."""

    namespace: str
    name: str
    version: str
    images: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "version": self.version,
            "images": list(self.images),
        }


async def operator_versions(api: ApiClient) -> list[OperatorVersion]:
    """Every netiso operator Deployment: version from its `app.kubernetes.io/version` label,
    else its pod template's, else the image tag ("unknown" when none says)."""
    found = []
    async for body in list_all(api, DEPLOYMENTS, label_selector=OPERATOR_SELECTOR):
        metadata = body.get("metadata") or {}
        template = ((body.get("spec") or {}).get("template")) or {}
        containers = ((template.get("spec") or {}).get("containers")) or []
        images = tuple(str(c.get("image", "")) for c in containers)
        version = (
            (metadata.get("labels") or {}).get(VERSION_LABEL)
            or ((template.get("metadata") or {}).get("labels") or {}).get(VERSION_LABEL)
            or next((_tag(image) for image in images if _tag(image)), "unknown")
        )
        found.append(
            OperatorVersion(
                namespace=str(metadata.get("namespace")),
                name=str(metadata.get("name")),
                version=str(version),
                images=images,
            )
        )
    return found


def _tag(image: str) -> str:
    """`registry:5000/netiso:1.2.0@sha256:...` -> `1.2.0`; "" when untagged."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""
