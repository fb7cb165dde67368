"""`netiso probe PROFILE`: one enforcement probe round against the live cluster, now.

CLI layer. Runs the same round as the operator's prober (probing/rounds.py) for one profile
and one of its namespaces, prints the verdict and exits 0 enforced, 1 not-enforced, 2
inconclusive, unavailable or unusable input. Needs to create, get, list and delete pods in
the probed namespace and the source namespace (docs/cli.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace
from typing import Any

from netiso import conventions
from netiso.cli.exits import ClusterError, Exit, InputError, UsageError
from netiso.cli.live import explain
from netiso.model.enforcement import (
    MAX_PROBE_PORT,
    MIN_PROBE_PORT,
    EnforcementState,
    ProbeVerdict,
)
from netiso.model.names import dns1123_label_problem
from netiso.model.parsing import parse_profile
from netiso.model.problems import ProfileError
from netiso.model.profiles import Mode
from netiso.probing.podspecs import Owner
from netiso.probing.rounds import RoundPlan, run_round
from netiso.runtime.client import ApiClient, ApiError, CredentialsError, load_credentials
from netiso.runtime.reading import get_object, profile_path

DEFAULT_SOURCE_NAMESPACE = "netiso-system"
EXITS = {EnforcementState.ENFORCED: Exit.OK, EnforcementState.NOT_ENFORCED: Exit.FINDINGS}


def add_probe_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `netiso probe`."""
    probe = subparsers.add_parser(
        "probe",
        help="prove with real connections that the network plugin enforces a profile",
        description=(
            "Run one enforcement probe round for PROFILE: a probe target in one of its "
            "namespaces, a control target and a one-shot source in --source-namespace; the "
            "source tries the connection the policies forbid and the control connection. "
            "Exit 0 enforced, 1 not-enforced, 2 inconclusive (the control failed, the pods did "
            "not run) or unusable input. Pods are deleted when the round ends."
        ),
    )
    probe.add_argument("profile", metavar="PROFILE", help="the IsolationProfile's name")
    probe.add_argument(
        "--namespace",
        "-n",
        metavar="NAME",
        help="the opted-in namespace to probe (default: the first opted in to PROFILE)",
    )
    probe.add_argument(
        "--source-namespace",
        default=DEFAULT_SOURCE_NAMESPACE,
        metavar="NAME",
        help=f"where the source and control run; no policy may isolate them "
        f"(default: {DEFAULT_SOURCE_NAMESPACE})",
    )
    probe.add_argument("--image", help="agnhost image (default: the profile's enforcementProbe)")
    probe.add_argument(
        "--port", type=int, help="TCP port of the targets (default: the profile's, 8080)"
    )
    probe.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long the pods may take to run (default: 120)",
    )
    probe.add_argument("-o", "--output", choices=("text", "json"), default="text")
    probe.add_argument("--kubeconfig", default=None, metavar="FILE")
    probe.add_argument("--context", default=None, help="kubeconfig context (default: current)")
    probe.set_defaults(handler=_probe)


def _probe(args: argparse.Namespace) -> int:
    for option, value in (("--namespace", args.namespace), ("--source-namespace",
                                                           args.source_namespace)):  # fmt: skip
        if value is not None and (problem := dns1123_label_problem(value)):
            raise UsageError(f"{option}: {problem}, got {value!r}")
    if args.port is not None and not MIN_PROBE_PORT <= args.port <= MAX_PROBE_PORT:
        raise UsageError(f"--port: must be {MIN_PROBE_PORT}-{MAX_PROBE_PORT}, got {args.port}")
    if not 0 < args.timeout <= 600:
        raise UsageError(f"--timeout: must be in (0, 600] seconds, got {args.timeout}")
    try:
        credentials = load_credentials(args.kubeconfig, context=args.context)
    except CredentialsError as error:
        raise ClusterError(str(error)) from error

    async def run() -> ProbeVerdict:
        api = ApiClient(credentials, timeout=30, retries=3)
        try:
            return await run_round(api, await _plan(api, args))
        finally:
            await api.close()

    try:
        verdict = asyncio.run(run())
    except ApiError as error:
        raise ClusterError(explain(error, server=credentials.server, command="probe")) from error
    _print(verdict, profile=args.profile, output=args.output)
    return EXITS.get(verdict.state, Exit.BAD_INPUT)


async def _plan(api: ApiClient, args: argparse.Namespace) -> RoundPlan:
    body = await get_object(api, profile_path(args.profile))
    if body is None:
        raise InputError(f"IsolationProfile {args.profile!r} not found")
    try:
        profile = parse_profile(body)
    except ProfileError as error:
        raise InputError(f"IsolationProfile {args.profile!r} is invalid: {error}") from error
    if profile.mode == Mode.DRY_RUN:
        raise InputError(
            f"IsolationProfile {args.profile!r} is in DryRun: netiso applies no policies to probe"
        )
    probe = profile.enforcement_probe
    probe = replace(probe, image=args.image or probe.image, port=args.port or probe.port)
    namespace = args.namespace or await _first_namespace(api, args.profile)
    if namespace == args.source_namespace:
        raise UsageError("--namespace: must differ from --source-namespace")
    metadata = body.get("metadata") or {}
    return RoundPlan(
        owner=Owner(args.profile, str(metadata.get("uid") or "")),
        probe=probe,
        namespace=namespace,
        source_namespace=args.source_namespace,
        ready_seconds=args.timeout,
    )


async def _first_namespace(api: ApiClient, profile: str) -> str:
    _, payload = await api.request(
        "GET",
        "/api/v1/namespaces",
        verb="list",
        params={"labelSelector": f"{conventions.PROFILE_LABEL}={profile}"},
    )
    names = sorted(
        str((item.get("metadata") or {}).get("name")) for item in payload.get("items") or []
    )
    if not names:
        raise InputError(f"no namespace is labelled {conventions.PROFILE_LABEL}={profile}")
    return names[0]


def _print(verdict: ProbeVerdict, *, profile: str, output: str) -> None:
    if output == "json":
        document: dict[str, Any] = {
            "profile": profile,
            "namespace": verdict.namespace,
            "state": str(verdict.state),
            "reason": str(verdict.reason),
            "message": verdict.message,
            "seconds": verdict.seconds,
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return
    sys.stdout.write(
        f"{verdict.state}: profile {profile}, namespace {verdict.namespace or '-'} "
        f"({verdict.reason}, {verdict.seconds:.1f} s)\n{verdict.message}\n"
    )
