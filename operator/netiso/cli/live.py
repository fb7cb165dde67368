"""The `netiso` commands that read a live cluster: `diff`, `status` and `version`.

Top layer under cli.py: options as kubectl spells them, credentials found as kubectl finds them,
the read-only views of inspection.py, output through printing.py. Every failure a user can cause
(no kubeconfig, unknown context, unreachable server, refused credentials, a missing permission)
is one `netiso CMD: error: ...` line and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from netiso import __version__, conventions
from netiso.cli import inputs, printing
from netiso.cli.exits import ClusterError, ConfigurationError, Exit, InputError, UsageError, fail
from netiso.cli.inputs import add_connection_options as add_connection_options
from netiso.cli.inspection import (
    NamespaceReport,
    OperatorVersion,
    diff_reports,
    operator_versions,
    read_snapshot,
    status_lines,
    summary,
)
from netiso.model.names import dns1123_label_problem
from netiso.observed.drifts import REPORT_ONLY
from netiso.observed.entries import ProfileEntry
from netiso.rendering.environment import Templates, make_environment
from netiso.runtime.client import ApiClient, ApiError, Credentials, CredentialsError
from netiso.runtime.credentials import load_credentials
from netiso.runtime.errors import Forbidden, NotFound, Unauthorized, Unreachable
from netiso.settings import Settings, SettingsError

# What each command reads, for the message when the API server says 403.
_NEEDS: Final = {
    "diff": "get namespaces, list networkpolicies and isolationprofiles",
    "status": "list namespaces, networkpolicies and isolationprofiles",
    "version": "list deployments.apps (for the operator's version)",
    "doctor": (
        "get isolationprofiles and namespaces, list namespaces, pods, services, "
        "endpointslices.discovery.k8s.io, networkpolicies and daemonsets.apps"
    ),
    "matrix": "list namespaces, pods and networkpolicies, and get the services and workloads "
    "(deployments, statefulsets, daemonsets, replicasets) it is asked about",
    "explain": "list namespaces, pods and networkpolicies, and get the services and workloads "
    "(deployments, statefulsets, daemonsets, replicasets) it is asked about",
    "probe": "get isolationprofiles, list namespaces and networkpolicies, and create, get, "
    "list and delete pods",
    "exposure": "list namespaces, pods and networkpolicies, and get the services and workloads "
    "(deployments, statefulsets, daemonsets, replicasets) it is asked about",
}


@dataclass(frozen=True)
class Context:
    """What a command runs with: the parsed options, the credentials and a client."""

    args: argparse.Namespace
    credentials: Credentials
    api: ApiClient

    @property
    def namespace(self) -> str:
        """-n, else the kubeconfig context's namespace, else `default` (as kubectl)."""
        return str(self.args.namespace or self.credentials.namespace or "default")

    def templates(self) -> Templates:
        return make_environment(self.args.templates)


Command = Callable[[Context], Awaitable[int]]


def add_live_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `netiso diff`, `netiso status` and `netiso version`."""
    diff = subparsers.add_parser(
        "diff",
        help="show what netiso would change, as a unified diff (writes nothing)",
        description=(
            "Compare managed policies with what their profile renders: in one namespace (-n, "
            "default: the context's), or in all opted-in ones (-A). With --profile FILE, "
            "show what applying that profile would change in the namespaces using its name "
            "(or in -n NAMESPACE, as if opted in). Exit 0: nothing to change; 1: changes or "
            "drift; 2: error."
        ),
    )
    diff.add_argument("--profile", metavar="FILE", help="a profile file to preview ('-': stdin)")
    _add_scope_options(diff)
    printing.add_output_option(
        diff,
        formats=("diff", printing.JSON, printing.YAML, printing.NAME, printing.JSONPATH),
        default="diff",
    )
    diff.set_defaults(handler=handle_live(_diff))

    status = subparsers.add_parser(
        "status",
        help="one line per opted-in namespace: profile, state, drift, and a summary",
        description=(
            "The state of every namespace that is opted in or holds managed policies "
            "(-A, the default), or of one (-n). Filter by --profile or a label --selector."
        ),
    )
    _add_scope_options(status)
    status.add_argument("--profile", metavar="NAME", help="only namespaces using this profile")
    status.add_argument(
        "--selector", "-l", default="", metavar="SELECTOR", help="namespace label selector"
    )
    printing.add_output_option(
        status,
        formats=(
            printing.TABLE,
            printing.WIDE,
            printing.JSON,
            printing.YAML,
            printing.NAME,
            printing.JSONPATH,
        ),
        default=printing.TABLE,
        no_headers=True,
    )
    status.set_defaults(handler=handle_live(_status))

    version = subparsers.add_parser(
        "version",
        help="the client's version and, when the cluster is reachable, the operator's",
        description=(
            "Print netiso's version, and the version of every netiso operator Deployment "
            "(labelled app.kubernetes.io/name=netiso) the cluster shows. --client: no cluster."
        ),
    )
    version.add_argument("--client", action="store_true", help="only the client's version")
    add_connection_options(version)
    printing.add_output_option(
        version, formats=("text", printing.JSON, printing.YAML), default="text"
    )
    version.set_defaults(handler=_version)


def _add_scope_options(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", metavar="NAMESPACE", help="one namespace")
    scope.add_argument(
        "--all-namespaces", "-A", action="store_true", help="every opted-in namespace"
    )
    add_connection_options(parser)
    inputs.add_templates_option(parser)


def handle_live(command: Command) -> Callable[[argparse.Namespace], int]:
    """Wrap a live command: credentials, a client, and every failure raised as a CliError."""

    def handler(args: argparse.Namespace) -> int:
        name = args.command
        try:
            credentials = load_credentials(args.kubeconfig, context=args.context)
        except CredentialsError as error:
            raise ClusterError(str(error)) from error
        try:
            return asyncio.run(_run(command, args=args, credentials=credentials))
        except ApiError as error:
            explained = explain(error, server=credentials.server, command=name)
            raise ClusterError(explained) from error
        except SettingsError as error:
            raise ConfigurationError(str(error)) from error

    return handler


async def _run(command: Command, *, args: argparse.Namespace, credentials: Credentials) -> int:
    # CLI calls fail fast: three attempts, not the operator's five.
    api = ApiClient(credentials, timeout=args.request_timeout, retries=3)
    try:
        return await command(Context(args=args, credentials=credentials, api=api))
    finally:
        await api.close()


def explain(error: ApiError, *, server: str, command: str) -> str:
    """What went wrong, for a user: which server, which permission, what to check."""
    if isinstance(error, Unreachable):
        return f"cannot reach the API server at {server}: {error.message}"
    if isinstance(error, Unauthorized):
        return (
            f"the API server at {server} refused the credentials (401 Unauthorized): the "
            "kubeconfig's token or certificate is invalid or has expired"
        )
    if isinstance(error, Forbidden):
        needs = _NEEDS.get(command, "read access")
        return f"permission denied: {error.message} (netiso {command} needs to {needs})"
    if isinstance(error, NotFound) and error.path.startswith(f"/apis/{conventions.GROUP}/"):
        return (
            f"the {conventions.KIND} API is not installed at {server}: apply "
            f"crds/{conventions.CRD_NAME}.yaml first"
        )
    return f"{error.method} {error.path}: {error.status} {error.reason}: {error.message}"


# --- diff ------------------------------------------------------------------------------------


async def _diff(context: Context) -> int:
    args = context.args
    candidate = _candidate(args.profile) if args.profile else None
    if args.all_namespaces:
        selector = f"{conventions.PROFILE_LABEL}={candidate.name}" if candidate else ""
        snapshot = await read_snapshot(context.api, selector=selector)
    else:
        _check_namespace(context.namespace)
        snapshot = await read_snapshot(
            context.api, namespace=context.namespace, opt_in=candidate is not None
        )
    reports = diff_reports(
        snapshot,
        environment=context.templates(),
        protected=_protected(),
        candidate=candidate,
    )
    if args.output == printing.NAME:
        for report in reports:
            print(f"namespace/{report.assessment.namespace}")
    elif args.output != "diff":
        data = printing.listing([report.as_dict() for report in reports])
        sys.stdout.write(printing.data_text(data, output=args.output, template=args.template))
    elif reports:
        for report in reports:
            _print_diff(report)
    elif args.all_namespaces:
        scope = f"uses profile {candidate.name}" if candidate else "is opted in"
        print(f"# no namespace {scope}")
    else:
        # Neither opted in nor holding managed policies: netiso has nothing to do there.
        print(f"# namespace {context.namespace}: not opted in, no managed policies")
    return Exit.FINDINGS if any(report.changes for report in reports) else Exit.OK


def _candidate(path: str) -> ProfileEntry:
    """The one IsolationProfile in a file, parsed; InputError names every problem."""
    found = [
        document
        for document in inputs.documents(path)
        if document.problems or not inputs.other_kind(document.body)
    ]
    if len(found) != 1:
        raise InputError(f"{path}: holds {len(found)} profiles; diff --profile takes one")
    (document,) = found
    if inputs.parse(document) is None:
        problems = "; ".join(str(problem) for problem in document.problems)
        raise InputError(f"{document.label}: {problems}")
    assert isinstance(document.body, dict)  # parse() accepted it
    return ProfileEntry.from_body(document.body)


def _check_namespace(name: str) -> None:
    if problem := dns1123_label_problem(name):
        raise UsageError(f"--namespace: {problem}, got {name!r}")


def _print_diff(report: NamespaceReport) -> None:
    assessment = report.assessment
    profile = f" (profile {assessment.profile})" if assessment.profile else ""
    print(f"# namespace {assessment.namespace}: {assessment.state}{profile}")
    if assessment.message:
        print(f"# {assessment.message}")
    for line in assessment.changes.planned():
        print(f"# would {line}")
    for drift in assessment.changes.reported_only:
        why = "not netiso's" if drift.reason in REPORT_ONLY else "driftAction: Report"
        print(f"# drift left in place ({why}): {drift.policy} {drift.reason}")
    for violation in assessment.violations:
        if violation.exception is None:
            print(f"# guardrail violated by NetworkPolicy {violation.policy}: {violation.message}")
        else:
            print(
                f"# guardrail exception on NetworkPolicy {violation.policy} "
                f"({violation.rule} at {violation.path}): {violation.exception}"
            )
    if report.diff:
        print(report.diff, end="")


# --- status ----------------------------------------------------------------------------------


async def _status(context: Context) -> int:
    args = context.args
    selector = ",".join(
        part
        for part in (
            f"{conventions.PROFILE_LABEL}={args.profile}" if args.profile else "",
            args.selector,
        )
        if part
    )
    namespace = args.namespace
    if namespace:
        _check_namespace(namespace)
        if args.selector:
            raise UsageError("--selector filters all namespaces: use it without --namespace")
    snapshot = await read_snapshot(context.api, namespace=namespace, selector=selector)
    lines = status_lines(snapshot, environment=context.templates(), protected=_protected())
    if args.profile:
        lines = [line for line in lines if line.profile == args.profile]
    if args.output in (printing.JSON, printing.YAML, printing.JSONPATH):
        data = printing.listing([line.as_dict() for line in lines])
        sys.stdout.write(printing.data_text(data, output=args.output, template=args.template))
        return Exit.OK
    if args.output == printing.NAME:
        for line in lines:
            print(f"namespace/{line.namespace}")
        return Exit.OK
    if not lines:
        nothing = "no namespace matches" if selector or namespace else "no namespace is opted in"
        # A table's reader sees the sentence; a script reading rows (--no-headers) gets none.
        print(nothing, file=sys.stderr if args.no_headers else sys.stdout)
        return Exit.OK
    header = ["NAMESPACE", "PROFILE", "STATE", "PENDING", "DRIFT", "GUARDRAILS"]
    rows = [[s.namespace, s.profile, s.state, str(s.pending), s.drift, s.guardrails] for s in lines]
    if args.output == printing.WIDE:
        header += ["EXPOSURE", "MESSAGE"]
        for row, line in zip(rows, lines, strict=True):
            row += ["; ".join(line.exposure) or "-", line.message or "-"]
    print(printing.table(header, rows, headers=not args.no_headers))
    if not args.no_headers:
        print(summary(lines))
    return Exit.OK


def _protected() -> frozenset[str]:
    return Settings.from_env().protected_namespaces


# --- version ---------------------------------------------------------------------------------


def _version(args: argparse.Namespace) -> int:
    """The client's version; the operators' too unless --client (an error only loses those)."""
    operators: list[OperatorVersion] | None = None
    code = Exit.OK
    if not args.client:
        try:
            credentials = load_credentials(args.kubeconfig, context=args.context)
        except CredentialsError as error:
            code = fail(args.command, ClusterError(str(error)))
        else:
            try:
                operators = asyncio.run(_operators(args, credentials))
            except ApiError as error:
                explained = explain(error, server=credentials.server, command="version")
                code = fail(args.command, ClusterError(explained))
    if args.output != "text":
        report: dict[str, object] = {"clientVersion": __version__}
        if operators is not None:
            report["operators"] = [operator.as_dict() for operator in operators]
        sys.stdout.write(printing.dumps(report, output=args.output))
        return code
    print(f"Client Version: {__version__}")
    for operator in operators or ():
        where = f"{operator.namespace}/{operator.name}"
        print(f"Operator Version: {operator.version} ({where})")
    if operators == []:
        print("Operator Version: no netiso operator Deployment found")
    return code


async def _operators(args: argparse.Namespace, credentials: Credentials) -> list[OperatorVersion]:
    api = ApiClient(credentials, timeout=args.request_timeout, retries=3)
    try:
        return await operator_versions(api)
    finally:
        await api.close()
