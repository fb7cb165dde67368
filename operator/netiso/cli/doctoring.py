"""`netiso doctor`: check an IsolationProfile against the live cluster before and after opt-in.

CLI layer. Reads what the profile depends on (the DNS Service's EndpointSlices and pods,
NodeLocal DNSCache, the gateway and scraper pods) and the checked namespaces' pods and
policies; the judgement is reachability/dependencies.py's. Exit 0 fine, 1 findings, 2 error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, Final

from netiso import conventions
from netiso.cli import printing
from netiso.cli.exits import Exit, InputError, UsageError
from netiso.cli.inspection import read_api_server
from netiso.cli.live import Context, add_connection_options, handle_live
from netiso.model import apiendpoints
from netiso.model.names import dns1123_label_problem
from netiso.model.namespaces import NamespaceFacts
from netiso.model.parsing import parse_profile
from netiso.model.problems import ProfileError
from netiso.model.profiles import Profile
from netiso.reachability.accessors import ObjectError
from netiso.reachability.clusterfacts import (
    NODE_LOCAL_DNS_LABEL,
    ClusterFacts,
    node_local_dns,
    pod_facts,
    service_facts,
    slice_facts,
)
from netiso.reachability.dependencies import Diagnosis, Severity, diagnose_profile
from netiso.reachability.policies import Policy, parse_network_policy
from netiso.rendering.bodies import RenderError, render_policies
from netiso.rendering.environment import make_environment
from netiso.runtime.errors import NotFound
from netiso.runtime.reading import NAMESPACES, list_all, policy_path, profile_path

ENDPOINT_SLICES: Final = "/apis/discovery.k8s.io/v1"
DAEMONSETS: Final = "/apis/apps/v1/daemonsets"
_MARKS: Final = {Severity.ERROR: "ERROR", Severity.WARNING: "WARNING", Severity.NOTE: "NOTE"}


def add_doctor_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `netiso doctor`."""
    doctor = subparsers.add_parser(
        "doctor",
        help="check a profile against the live cluster: DNS, gateway, scraper, likely breakage",
        description=(
            "Check the IsolationProfile NAME against the cluster: its DNS selector matches the "
            "ready pods behind the DNS Service on its ports, NodeLocal DNSCache is allowed if "
            "it runs, the gateway and monitoring selectors match pods; and, in the namespaces "
            "using the profile (or in -n NAMESPACE, as if opted in), the target ports exist, "
            "the pods' ports some allow reaches, and which pods the kubelet probes. Every "
            "finding names the fix. Exit 0: fine (notes only); 1: findings; 2: error."
        ),
    )
    doctor.add_argument("--profile", required=True, metavar="NAME", help="the profile's name")
    doctor.add_argument(
        "--namespace", "-n", metavar="NAMESPACE", help="check this namespace as if opted in"
    )
    add_connection_options(doctor)
    printing.add_output_option(
        doctor, formats=("text", printing.JSON, printing.YAML), default="text"
    )
    doctor.set_defaults(handler=handle_live(_doctor))


async def _doctor(context: Context) -> int:
    args = context.args
    if problem := dns1123_label_problem(args.profile):
        raise UsageError(f"--profile: {problem}, got {args.profile!r}")
    if args.namespace and (problem := dns1123_label_problem(args.namespace)):
        raise UsageError(f"--namespace: {problem}, got {args.namespace!r}")
    profile = await _profile(context, args.profile)
    namespaces = await _namespaces(context, profile=profile.name, only=args.namespace)
    facts = await _facts(context, profile=profile, namespaces=[ns.name for ns in namespaces])
    policies = {
        namespace.name: await _policies(context, profile=profile, namespace=namespace)
        for namespace in namespaces
    }
    diagnosis = diagnose_profile(
        profile, facts, namespaces=[ns.name for ns in namespaces], policies=policies
    )
    if args.output != "text":
        sys.stdout.write(printing.dumps(diagnosis.as_dict(), output=args.output))
    else:
        _print(diagnosis)
    return Exit.OK if diagnosis.fine else Exit.FINDINGS


async def _profile(context: Context, name: str) -> Profile:
    try:
        _, body = await context.api.request("GET", profile_path(name), verb="get")
    except NotFound as error:
        raise InputError(
            f"--profile: IsolationProfile {name!r} not found (kubectl get isolationprofiles)"
        ) from error
    try:
        return parse_profile(body)
    except ProfileError as error:
        raise InputError(f"IsolationProfile {name} is invalid: {error}") from error


async def _namespaces(context: Context, *, profile: str, only: str | None) -> list[NamespaceFacts]:
    """-n NAMESPACE (which must exist), else every namespace opted in to the profile."""
    if only:
        try:
            _, body = await context.api.request("GET", f"{NAMESPACES}/{only}", verb="get")
        except NotFound as error:
            raise UsageError(f"--namespace: namespace {only!r} not found") from error
        return [_namespace(body)]
    selector = f"{conventions.PROFILE_LABEL}={profile}"
    return [
        _namespace(body)
        async for body in list_all(context.api, NAMESPACES, label_selector=selector)
    ]


def _namespace(body: dict[str, Any]) -> NamespaceFacts:
    metadata = body.get("metadata") or {}
    return NamespaceFacts(name=str(metadata.get("name")), labels=dict(metadata.get("labels") or {}))


async def _facts(context: Context, *, profile: Profile, namespaces: Sequence[str]) -> ClusterFacts:
    """The pods of the DNS, gateway, monitoring and checked namespaces, the DNS namespace's
    Services and EndpointSlices, and any NodeLocal DNSCache DaemonSet."""
    api = context.api
    dns = profile.dns.namespace
    wanted = dict.fromkeys(
        [dns, *profile.gateway.namespaces, *profile.monitoring.namespaces, *namespaces]
    )
    pods = [
        pod_facts(body)
        for namespace in wanted
        async for body in list_all(api, f"{NAMESPACES}/{namespace}/pods")
    ]
    services = [service_facts(body) async for body in list_all(api, f"{NAMESPACES}/{dns}/services")]
    slices = [
        slice_facts(body)
        async for body in list_all(api, f"{ENDPOINT_SLICES}/namespaces/{dns}/endpointslices")
    ]
    caches = [
        node_local_dns(body)
        async for body in list_all(api, DAEMONSETS, label_selector=NODE_LOCAL_DNS_LABEL)
    ]
    api_server = api_service = None
    if profile.api_server.enabled:
        api_server = await read_api_server(api)
        found = [
            service_facts(body)
            async for body in list_all(
                api, f"{NAMESPACES}/{apiendpoints.NAMESPACE}/services", label_selector=""
            )
            if (body.get("metadata") or {}).get("name") == apiendpoints.SERVICE
        ]
        api_service = found[0] if found else None
    return ClusterFacts(
        pods=tuple(pods),
        services=tuple(services),
        slices=tuple(slices),
        node_local=tuple(caches),
        api_server=api_server,
        api_service=api_service,
    )


async def _policies(
    context: Context, *, profile: Profile, namespace: NamespaceFacts
) -> list[Policy]:
    """The ingress policies the namespace would have: the profile's, rendered, and the
    namespace's own (netiso's live ones are replaced by the rendering)."""
    try:
        rendered = render_policies(make_environment(None), profile, namespace)
    except RenderError as error:
        raise InputError(f"IsolationProfile {profile.name}: {error}") from error
    policies = [parse_network_policy(policy.body) for policy in rendered]
    async for body in list_all(context.api, policy_path(namespace.name)):
        labels = (body.get("metadata") or {}).get("labels") or {}
        if labels.get(conventions.MANAGED_BY_LABEL) == conventions.MANAGED_BY_VALUE:
            continue
        try:
            policies.append(parse_network_policy(body, default_namespace=namespace.name))
        except ObjectError as error:
            name = (body.get("metadata") or {}).get("name")
            raise InputError(f"NetworkPolicy {namespace.name}/{name}: {error}") from error
    return policies


def _print(diagnosis: Diagnosis) -> None:
    scope = ", ".join(diagnosis.namespaces) or "no namespace uses it yet"
    print(f"profile {diagnosis.profile}; namespaces: {scope}")
    print(f"checked: {', '.join(diagnosis.checked)}")
    for finding in diagnosis.findings:
        print(f"{_MARKS[finding.severity]} [{finding.check}] {finding.message}")
        print(f"  fix: {finding.fix}")
    counts = {
        severity: sum(1 for finding in diagnosis.findings if finding.severity is severity)
        for severity in Severity
    }
    if not diagnosis.findings:
        print("no finding: the profile fits the cluster")
    else:
        print(", ".join(f"{count} {severity}(s)" for severity, count in counts.items()))
