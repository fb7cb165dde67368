"""The `netiso` command: render and validate IsolationProfiles offline, without a cluster.

Top layer, beside main: builds on model and rendering. Cluster-facing subcommands (cluster,
diff, status) plug in through _add_cluster_facing_commands. Bad input never ends in a
traceback: every failure is one clean line per problem and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

import yaml

from netiso import version
from netiso.cli import inputs, printing
from netiso.cli.checking import add_guardrail_commands
from netiso.cli.exits import CliError, Exit, UsageError, fail
from netiso.cli.inputs import Document, add_templates_option, input_files, other_kind, parse
from netiso.model.advisories import expired_exception_warnings, profile_warnings
from netiso.model.names import dns1123_label_problem, label_key_problem, label_value_problem
from netiso.model.namespaces import NamespaceFacts
from netiso.model.planning import API_SERVER_EGRESS_ROLE, policy_name
from netiso.model.problems import Problem
from netiso.model.profiles import Profile
from netiso.rendering.bodies import RenderError, render_policies
from netiso.rendering.environment import Templates, make_environment

_REACHABILITY_COMMANDS: Final = frozenset({"matrix", "explain", "diff-reach", "exposure"})
# validate renders every profile for a stand-in namespace: the templates do not depend on it.
_VALIDATION_NAMESPACE: Final = "netiso-validate"

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the netiso command with `argv` (default: sys.argv[1:]) and return the exit status."""
    if "_ARGCOMPLETE" in os.environ:
        # The shell asks what completes (argcomplete's protocol); answered, the process exits.
        from netiso.cli.completion import complete

        complete(build_parser(program_name()))
    arguments = list(sys.argv[1:] if argv is None else argv)
    # The reachability commands read files offline; building only their parser spares them
    # importing the cluster-facing commands (most of a 100-namespace matrix's run time).
    only = arguments[0] if arguments and arguments[0] in _REACHABILITY_COMMANDS else None
    parser = build_parser(program_name(), only=only)
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exit_:
        # argparse exits on --help (0) and on usage errors (2); main() returns instead.
        return exit_.code if isinstance(exit_.code, int) else Exit.BAD_INPUT
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return Exit.BAD_INPUT
    try:
        code = handler(args)
        # Flushed here, so a reader that has gone away (`| head -1`) is noticed in this try.
        sys.stdout.flush()
    except CliError as error:
        return fail(args.command, error)
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
    except BrokenPipeError:
        return closed_pipe()
    return code


def closed_pipe() -> Exit:
    """The reader of stdout has gone (`netiso status | head -1`): stop quietly, as a program
    killed by SIGPIPE would. What is still buffered goes to /dev/null, so the interpreter's
    final flush cannot print a second error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
    return Exit.CLOSED_PIPE


# Installed twice: as `netiso`, and as `kubectl-netiso` so that `kubectl netiso` finds it.
PROGRAMS: Final = ("netiso", "kubectl-netiso")
SHELLS: Final = ("bash", "zsh", "fish")


def program_name(argv0: str | None = None) -> str:
    """`kubectl netiso` when run as the kubectl plugin, else `netiso`."""
    invoked = Path(argv0 if argv0 is not None else sys.argv[0]).name
    return "kubectl netiso" if invoked == "kubectl-netiso" else "netiso"


def build_parser(prog: str = "netiso", *, only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered (or only the reachability
    command `only`)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Keep opted-in namespaces behind a default-deny NetworkPolicy baseline.",
    )
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    if only is not None:
        _add_reachability_commands(subparsers, only=only)
        return parser

    render = subparsers.add_parser(
        "render",
        help="print the NetworkPolicies a profile gives a namespace",
        description=(
            "Print the NetworkPolicies netiso would apply to NAMESPACE under the profile, "
            "allows first and default-deny last."
        ),
    )
    render.add_argument(
        "--profile", required=True, metavar="FILE", help="IsolationProfile YAML ('-': stdin)"
    )
    render.add_argument("--namespace", required=True, metavar="NAME", help="namespace name")
    render.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a label of the namespace (repeatable)",
    )
    add_templates_option(render)
    printing.add_output_option(
        render, formats=(printing.YAML, printing.JSON), default=printing.YAML
    )
    render.set_defaults(handler=_render)

    validate = subparsers.add_parser(
        "validate",
        help="check IsolationProfile files",
        description=(
            "Check IsolationProfile files (several documents per file allowed) and that the "
            "templates render for each; warn of probably-mistaken settings and of listed "
            "exceptions past their expiry. Exit status 0 when all are valid (warnings "
            "included), 1 otherwise."
        ),
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="YAML file ('-': stdin)")
    add_templates_option(validate)
    printing.add_output_option(
        validate, formats=("text", printing.JSON, printing.YAML), default="text"
    )
    validate.set_defaults(handler=_validate)

    add_guardrail_commands(subparsers)
    completion = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description=(
            "Print the completion script for SHELL. Load it with "
            "`source <(netiso completion bash)` (or zsh, or `netiso completion fish | source`), "
            "e.g. from ~/.bashrc. Namespaces, contexts, profiles and pods complete from the "
            "cluster the command line points at."
        ),
    )
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL", help=", ".join(SHELLS))
    completion.set_defaults(handler=_completion)

    _add_cluster_facing_commands(subparsers)
    return parser


def _add_cluster_facing_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register the subcommands that talk to a cluster: diff, status, version, doctor, matrix and
    explain (which also read files), and the development kit's `cluster` and `demo`.

    Imported here, not at module level, so `render` and `validate` never load the cluster
    layer. Each command sets `handler(args) -> int` (an exits.Exit) and raises a CliError for
    input it cannot use.
    """
    from netiso.cli.doctoring import add_doctor_command
    from netiso.cli.live import add_live_commands
    from netiso.cli.plugins import add_plugin_commands
    from netiso.cli.probes import add_probe_command

    add_live_commands(subparsers)
    add_doctor_command(subparsers)
    add_probe_command(subparsers)
    add_plugin_commands(subparsers)
    _add_reachability_commands(subparsers)


def _add_reachability_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], *, only: str | None = None
) -> None:
    """Register `matrix`, `explain`, `diff-reach` and `exposure` (or only one): files
    offline, or the live cluster."""
    if only in (None, "matrix"):
        from netiso.cli.matrices import add_matrix_command

        add_matrix_command(subparsers)
    if only in (None, "explain"):
        from netiso.cli.explaining import add_explain_command

        add_explain_command(subparsers)
    if only in (None, "diff-reach"):
        from netiso.cli.reviewing import add_diff_reach_command

        add_diff_reach_command(subparsers)
    if only in (None, "exposure"):
        from netiso.cli.auditing import add_exposure_command

        add_exposure_command(subparsers)


def _environment(args: argparse.Namespace) -> Templates:
    templates: Path | None = args.templates
    if templates is not None and not templates.is_dir():
        raise UsageError(f"--templates: {templates} is not a directory")
    return make_environment(templates)


def _render(args: argparse.Namespace) -> int:
    env = _environment(args)
    namespace = _namespace_facts(args.namespace, args.label)
    found = list(inputs.documents(args.profile))
    if len(found) > 1:
        print(
            f"{args.profile}: holds {len(found)} documents; render takes one profile",
            file=sys.stderr,
        )
        return Exit.FINDINGS
    document = found[0]
    profile = parse(document)
    if profile is None:
        _print_findings(document.label, document.problems, stream=sys.stderr)
        return Exit.FINDINGS
    _print_findings(document.label, _warnings(profile), stream=sys.stderr, warning=True)
    try:
        policies = render_policies(env, profile, namespace)
    except RenderError as error:
        print(f"{document.label}: {error}", file=sys.stderr)
        return Exit.FINDINGS
    bodies = [policy.body for policy in policies]
    if not bodies:
        print(f"{document.label}: the profile plans no policies", file=sys.stderr)
    if any(policy.role == API_SERVER_EGRESS_ROLE for policy in policies):
        # Offline there are no endpoints: say why the allow is empty, not leave it to puzzle.
        print(
            f"{document.label}: note: {policy_name(API_SERVER_EGRESS_ROLE)} is rendered without "
            "the API server's endpoints (offline) and admits nothing here; the operator fills "
            "in the addresses of the default/kubernetes EndpointSlices",
            file=sys.stderr,
        )
    if args.output == "json":
        print(json.dumps({"apiVersion": "v1", "kind": "List", "items": bodies}, indent=2))
    elif bodies:
        sys.stdout.write(yaml.safe_dump_all(bodies, sort_keys=False, explicit_start=True))
    return Exit.OK


def _completion(args: argparse.Namespace) -> int:
    from netiso.cli.completion import shell_script

    sys.stdout.write(shell_script(args.shell, programs=PROGRAMS))
    return Exit.OK


def _namespace_facts(name: str, labels: Sequence[str]) -> NamespaceFacts:
    if problem := dns1123_label_problem(name):
        raise UsageError(f"--namespace: {problem}, got {json.dumps(name)}")
    pairs: dict[str, str] = {}
    for label in labels:
        key, equals, value = label.partition("=")
        if not equals:
            raise UsageError(f"--label: expected KEY=VALUE, got {json.dumps(label)}")
        if problem := label_key_problem(key):
            raise UsageError(f"--label: invalid label key {json.dumps(key)}: {problem}")
        if problem := label_value_problem(value):
            raise UsageError(f"--label: invalid label value {json.dumps(value)}: {problem}")
        pairs[key] = value
    return NamespaceFacts(name=name, labels=pairs)


def _validate(args: argparse.Namespace) -> int:
    env = _environment(args)
    checked: list[_Checked] = []
    for name in input_files(args.files):
        for document in inputs.documents(name):
            if skipped := other_kind(document.body):
                # A kustomization.yaml or a Deployment beside the profiles is not a mistake.
                print(f"{document.label}: skipped: {skipped}", file=sys.stderr)
                continue
            checked.append(_check(document, env=env))
            if args.output == "text":
                _print_findings(document.label, document.problems, stream=sys.stdout)
                _print_findings(
                    document.label, checked[-1].warnings, stream=sys.stdout, warning=True
                )
    valid = bool(checked) and all(entry.valid for entry in checked)
    if args.output != "text":
        report = [entry.as_dict() for entry in checked]
        sys.stdout.write(printing.dumps({"valid": valid, "documents": report}, output=args.output))
    if not checked:
        print("no IsolationProfile found", file=sys.stderr)
    elif args.output == "text":
        invalid = sum(1 for entry in checked if not entry.valid)
        summary = (
            f"{len(checked)} document(s) valid"
            if valid
            else f"{invalid} of {len(checked)} document(s) invalid"
        )
        print(summary, file=sys.stderr)
    return Exit.OK if valid else Exit.FINDINGS


@dataclass(frozen=True)
class _Checked:
    """A validated document: its problems (on the document) and its warnings."""

    document: Document
    warnings: tuple[Problem, ...]

    @property
    def valid(self) -> bool:
        return not self.document.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.document.label,
            "valid": self.valid,
            "problems": [_finding(problem) for problem in self.document.problems],
            "warnings": [_finding(warning) for warning in self.warnings],
        }


def _check(document: Document, *, env: Templates) -> _Checked:
    """Parse one document and render it for a stand-in namespace."""
    profile = parse(document)
    warnings: tuple[Problem, ...] = ()
    if profile is not None:
        warnings = _warnings(profile)
        try:
            render_policies(env, profile, NamespaceFacts(_VALIDATION_NAMESPACE))
        except RenderError as error:
            document.problems.append(Problem("", str(error)))
    return _Checked(document=document, warnings=warnings)


def _warnings(profile: Profile) -> tuple[Problem, ...]:
    """What `render` and `validate` warn of: settings that are probably mistakes, and listed
    exceptions that have expired by now."""
    return profile_warnings(profile) + expired_exception_warnings(profile, now=datetime.now(UTC))


def _finding(problem: Problem) -> dict[str, str]:
    return {"path": problem.path, "message": problem.message}


def _print_findings(
    label: str, findings: Sequence[Problem], *, stream: TextIO, warning: bool = False
) -> None:
    prefix = f"{label}: warning: " if warning else f"{label}: "
    for finding in findings:
        print(f"{prefix}{finding}", file=stream)


class _VersionAction(argparse.Action):
    """--version: print the version and exit. Read only when asked for: reading the installed
    package's metadata costs a tenth of every command's start-up."""

    def __init__(self, option_strings: Sequence[str], dest: str, **_: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"netiso {version()}")
        parser.exit()


if __name__ == "__main__":
    sys.exit(main())
