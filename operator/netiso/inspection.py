"""Read-only views of a live cluster for the CLI: `netiso diff` and `netiso status`.

Top layer beside the CLI: reads through the cluster layer and decides with the same pure
`reconciling.assessments.assess()` the operator uses, so the CLI can never disagree with the
operator about what would change. Writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from netiso import conventions
from netiso.cluster.client import ApiClient, ApiError, load_credentials
from netiso.cluster.drifts import LivePolicy
from netiso.cluster.reading import get_object, managed_policies, opted_in_namespaces, profile_path
from netiso.cluster.reading import profiles as list_profiles
from netiso.model.entries import NamespaceEntry, ProfileEntry
from netiso.reconciling.assessments import Assessment, assess
from netiso.rendering.environment import Templates, make_environment
from netiso.rendering.policies import RenderError, render_policies
from netiso.settings import Settings

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
class NamespaceReport:
    """What `netiso diff` prints for one namespace."""

    assessment: Assessment
    diff: str

    @property
    def changes(self) -> bool:
        """True when netiso would write something (or already reports drift)."""
        return not self.assessment.changes.empty or bool(self.assessment.changes.reported_only)


async def _profile_entry(api: ApiClient, name: str) -> ProfileEntry | None:
    if not name:
        return None
    body = await get_object(api, profile_path(name))
    return ProfileEntry.from_body(body) if body else None


async def diff_namespace(
    api: ApiClient, *, namespace: str, environment: Templates, protected: frozenset[str]
) -> NamespaceReport:
    """Compare a namespace's managed policies with what its profile renders."""
    ns_body = await get_object(api, f"/api/v1/namespaces/{namespace}")
    entry = None
    if ns_body is not None:
        labels = (ns_body.get("metadata") or {}).get("labels") or {}
        if conventions.PROFILE_LABEL in labels:
            entry = NamespaceEntry.from_body(ns_body)
    profile = await _profile_entry(api, entry.profile_name) if entry else None
    live_bodies = await managed_policies(api, namespace)
    live = [LivePolicy.from_body(b) for b in live_bodies]
    assessment = assess(
        name=namespace,
        entry=entry,
        profile=profile,
        live=live,
        environment=environment,
        protected=protected,
    )
    desired: dict[str, Mapping[str, Any]] = {}
    if entry is not None and profile is not None and profile.profile is not None:
        try:
            for policy in render_policies(environment, profile.profile, entry.facts):
                desired[policy.name] = policy.body
        except RenderError:
            desired = {}
    if assessment.state in ("released", "protected") or (
        profile is not None and profile.deleting and not profile.orphan_on_delete
    ):
        desired = {}
    live_by_name = {str((b.get("metadata") or {}).get("name")): b for b in live_bodies}
    chunks: list[str] = []
    for name in sorted(set(desired) | set(live_by_name)):
        before = comparable(live_by_name.get(name)).splitlines(keepends=True)
        after = comparable(desired.get(name)).splitlines(keepends=True)
        if assessment.state in ("missing_profile", "error") and name not in desired:
            continue  # fail-closed: netiso leaves these as they are
        chunks.extend(
            difflib.unified_diff(
                before,
                after,
                fromfile=f"live/{namespace}/{name}",
                tofile=f"desired/{namespace}/{name}",
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

    def as_dict(self) -> dict[str, Any]:
        """For `--output json`."""
        return {
            "namespace": self.namespace,
            "profile": self.profile,
            "state": self.state,
            "drift": self.drift,
            "pendingChanges": self.pending,
        }


async def status_lines(
    api: ApiClient, *, environment: Templates, protected: frozenset[str]
) -> list[StatusLine]:
    """One line per namespace that is opted in or holds managed policies."""
    namespaces = {
        str(b["metadata"]["name"]): NamespaceEntry.from_body(b)
        for b in await opted_in_namespaces(api)
    }
    profiles = {
        str(b["metadata"]["name"]): ProfileEntry.from_body(b) for b in await list_profiles(api)
    }
    live: dict[str, list[LivePolicy]] = {}
    for body in await managed_policies(api):
        policy = LivePolicy.from_body(body)
        live.setdefault(policy.namespace, []).append(policy)
    lines = []
    for name in sorted(set(namespaces) | set(live)):
        entry = namespaces.get(name)
        assessment = assess(
            name=name,
            entry=entry,
            profile=profiles.get(entry.profile_name) if entry else None,
            live=live.get(name, []),
            environment=environment,
            protected=protected,
        )
        drifts = sorted({f"{d.policy}:{d.reason}" for d in assessment.changes.drifts})
        state = str(assessment.state)
        if state == "isolated" and not assessment.changes.empty:
            state = "pending"
        lines.append(
            StatusLine(
                namespace=name,
                profile=assessment.profile or "-",
                state=state,
                drift=",".join(drifts) or "-",
                pending=len(assessment.changes.steps),
            )
        )
    return lines


def format_table(lines: Sequence[StatusLine]) -> str:
    """Aligned columns, like kubectl get."""
    rows = [("NAMESPACE", "PROFILE", "STATE", "PENDING", "DRIFT")] + [
        (s.namespace, s.profile, s.state, str(s.pending), s.drift) for s in lines
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        for row in rows
    )


# ----- CLI handlers --------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> ApiClient:
    return ApiClient(load_credentials(args.kubeconfig, context=args.context), timeout=30)


def _protected() -> frozenset[str]:
    return Settings.from_env().protected_namespaces


async def _run_diff(args: argparse.Namespace) -> int:
    api = _client(args)
    try:
        report = await diff_namespace(
            api,
            namespace=args.namespace,
            environment=make_environment(args.templates),
            protected=_protected(),
        )
    finally:
        await api.close()
    assessment = report.assessment
    print(f"# namespace {args.namespace}: {assessment.state}", end="")
    print(f" (profile {assessment.profile})" if assessment.profile else "")
    if assessment.message:
        print(f"# {assessment.message}")
    for line in assessment.changes.describe():
        print(f"# would {line}")
    for drift in assessment.changes.reported_only:
        print(f"# drift left in place (driftAction: Report): {drift.policy} {drift.reason}")
    if report.diff:
        print(report.diff, end="")
    return 1 if report.changes else 0


async def _run_status(args: argparse.Namespace) -> int:
    api = _client(args)
    try:
        lines = await status_lines(
            api, environment=make_environment(args.templates), protected=_protected()
        )
    finally:
        await api.close()
    if args.output == "json":
        print(json.dumps([line.as_dict() for line in lines], indent=2))
    elif lines:
        print(format_table(lines))
    else:
        print("no namespace is opted in")
    return 0


def _handle(
    coroutine: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        try:
            return asyncio.run(coroutine(args))
        except (ApiError, OSError, ValueError) as exc:
            # kubeconfig problems, an unreachable server, refused credentials.
            print(f"netiso {args.command}: error: {exc}", file=sys.stderr)
            return 2

    return handler


def add_inspection_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register `netiso diff` and `netiso status`."""
    diff = subparsers.add_parser(
        "diff",
        help="show what netiso would change in a namespace, as a unified diff",
        description="Compare a namespace's managed policies with what its profile renders. "
        "Exit 0: nothing to change; 1: changes or drift; 2: error.",
    )
    diff.add_argument("--namespace", "-n", required=True, help="the namespace to compare")
    status = subparsers.add_parser(
        "status",
        help="one line per opted-in namespace: profile, state, drift",
        description="The state of every namespace that is opted in or holds managed policies.",
    )
    status.add_argument("--output", "-o", choices=("table", "json"), default="table")
    for parser in (diff, status):
        parser.add_argument("--kubeconfig", default=None, help="default: $KUBECONFIG or in-cluster")
        parser.add_argument("--context", default=None, help="kubeconfig context to use")
        parser.add_argument(
            "--templates", type=Path, default=None, metavar="DIR", help="policy templates directory"
        )
    diff.set_defaults(handler=_handle(_run_diff))
    status.set_defaults(handler=_handle(_run_status))
