"""The `netiso` command: render and validate IsolationProfiles offline, without a cluster.

Top layer, beside main: builds on model and rendering. Cluster-facing subcommands (cluster,
diff, status) plug in through _add_cluster_facing_commands. Bad input never ends in a
traceback: every failure is one clean line per problem and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

import yaml

from netiso.model.fields import json_type
from netiso.model.names import dns1123_label_problem, label_key_problem, label_value_problem
from netiso.model.namespaces import NamespaceFacts
from netiso.model.problems import Problem, ProfileError
from netiso.model.profiles import Profile, parse_profile, profile_warnings

if TYPE_CHECKING:
    from netiso.rendering.environment import Templates

EXIT_OK: Final = 0
EXIT_INVALID: Final = 1
EXIT_USAGE: Final = 2
_REACHABILITY_COMMANDS: Final = frozenset({"matrix", "explain"})
# validate renders every profile for a stand-in namespace: the templates do not depend on it.
_VALIDATION_NAMESPACE: Final = "netiso-validate"
_STDIN: Final = "-"

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A command-line argument is unusable; reported as `netiso: error: ...`, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the netiso command with `argv` (default: sys.argv[1:]) and return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    # The reachability commands read files offline; building only their parser spares them
    # importing the cluster-facing commands (most of a 100-namespace matrix's run time).
    only = arguments[0] if arguments and arguments[0] in _REACHABILITY_COMMANDS else None
    parser = build_parser(only=only)
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exit_:
        # argparse exits on --help (0) and on usage errors (2); main() returns instead.
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args)
    except UsageError as error:
        print(f"netiso {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def build_parser(*, only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered (or only the reachability
    command `only`)."""
    parser = argparse.ArgumentParser(
        prog="netiso",
        description="Keep opted-in namespaces behind a default-deny NetworkPolicy baseline.",
    )
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
    _add_templates_option(render)
    render.add_argument("--output", choices=("yaml", "json"), default="yaml")
    render.set_defaults(handler=_render)

    validate = subparsers.add_parser(
        "validate",
        help="check IsolationProfile files",
        description=(
            "Check IsolationProfile files (several documents per file allowed) and that the "
            "templates render for each. Exit status 0 when all are valid, 1 otherwise."
        ),
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="YAML file ('-': stdin)")
    _add_templates_option(validate)
    validate.add_argument("--output", choices=("text", "json"), default="text")
    validate.set_defaults(handler=_validate)

    _add_cluster_facing_commands(subparsers)
    return parser


def _add_cluster_facing_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register the subcommands that talk to a cluster: `cluster`, `diff`, `status`, `demo`,
    `matrix`, `explain` (the last two also read files).

    Imported here, not at module level, so `render` and `validate` never load the cluster
    layer. Each command sets `handler(args) -> int` (0 ok, 1 findings or failure, 2 usage).
    """
    from netiso.inspection import add_inspection_commands
    from netiso.kits.demo import add_demo_command
    from netiso.kits.localcluster.commands import add_cluster_commands

    add_inspection_commands(subparsers)
    add_cluster_commands(subparsers)
    add_demo_command(subparsers)
    _add_reachability_commands(subparsers)


def _add_reachability_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], *, only: str | None = None
) -> None:
    """Register `matrix` and `explain` (or only one): files offline, or the live cluster."""
    if only in (None, "matrix"):
        from netiso.matrices import add_matrix_command

        add_matrix_command(subparsers)
    if only in (None, "explain"):
        from netiso.explaining import add_explain_command

        add_explain_command(subparsers)


def _add_templates_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--templates",
        type=Path,
        metavar="DIR",
        help="directory of *.yaml.j2 policy templates (default: the shipped ones)",
    )


def _environment(args: argparse.Namespace) -> Templates:
    # Imported where used, with render_policies below: `netiso matrix` on a 100-namespace
    # input must not spend a third of its time importing Jinja.
    from netiso.rendering.environment import make_environment

    templates: Path | None = args.templates
    if templates is not None and not templates.is_dir():
        raise UsageError(f"--templates: {templates} is not a directory")
    return make_environment(templates)


@dataclass
class _Document:
    """One YAML document of an input file, or the reason the file could not be read."""

    label: str
    body: object = None
    problems: list[Problem] = field(default_factory=list)


def _documents(name: str) -> Iterator[_Document]:
    """The non-empty documents of a file; an unreadable file or bad YAML is one problem."""
    try:
        text = sys.stdin.read() if name == _STDIN else Path(name).read_text(encoding="utf-8")
    except OSError as error:
        yield _Document(name, problems=[Problem("", f"cannot read: {error.strerror or error}")])
        return
    except UnicodeDecodeError:
        yield _Document(name, problems=[Problem("", "cannot read: not UTF-8 text")])
        return
    try:
        bodies = [body for body in yaml.safe_load_all(text) if body is not None]
    except yaml.YAMLError as error:
        yield _Document(name, problems=[Problem("", f"invalid YAML: {_yaml_reason(error)}")])
        return
    if not bodies:
        yield _Document(name, problems=[Problem("", "no YAML document found")])
        return
    for index, body in enumerate(bodies, start=1):
        # Name the document only when there are several: `file#2: spec...`.
        yield _Document(name if len(bodies) == 1 else f"{name}#{index}", body=body)


def _yaml_reason(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(error).replace("\n", " ")


def _parse(document: _Document) -> Profile | None:
    """Parse a document into `document.problems`; None when it is not a valid profile."""
    if document.problems:
        return None
    if not isinstance(document.body, dict):
        document.problems.append(
            Problem("", f"must be an IsolationProfile object, got {json_type(document.body)}")
        )
        return None
    try:
        return parse_profile(document.body)
    except ProfileError as error:
        document.problems.extend(error.problems)
        return None


def _render(args: argparse.Namespace) -> int:
    from netiso.rendering.policies import RenderError, render_policies

    env = _environment(args)
    namespace = _namespace_facts(args.namespace, args.label)
    documents = list(_documents(args.profile))
    if len(documents) > 1:
        print(
            f"{args.profile}: holds {len(documents)} documents; render takes one profile",
            file=sys.stderr,
        )
        return EXIT_INVALID
    document = documents[0]
    profile = _parse(document)
    if profile is None:
        _print_findings(document.label, document.problems, stream=sys.stderr)
        return EXIT_INVALID
    _print_findings(document.label, profile_warnings(profile), stream=sys.stderr, warning=True)
    try:
        policies = render_policies(env, profile, namespace)
    except RenderError as error:
        print(f"{document.label}: {error}", file=sys.stderr)
        return EXIT_INVALID
    bodies = [policy.body for policy in policies]
    if not bodies:
        print(f"{document.label}: the profile plans no policies", file=sys.stderr)
    if args.output == "json":
        print(json.dumps({"apiVersion": "v1", "kind": "List", "items": bodies}, indent=2))
    elif bodies:
        sys.stdout.write(yaml.safe_dump_all(bodies, sort_keys=False, explicit_start=True))
    return EXIT_OK


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
    from netiso.rendering.policies import RenderError, render_policies

    env = _environment(args)
    report: list[dict[str, Any]] = []
    for name in args.files:
        for document in _documents(name):
            profile = _parse(document)
            warnings: tuple[Problem, ...] = ()
            if profile is not None:
                warnings = profile_warnings(profile)
                try:
                    render_policies(env, profile, NamespaceFacts(_VALIDATION_NAMESPACE))
                except RenderError as error:
                    document.problems.append(Problem("", str(error)))
            report.append(
                {
                    "file": document.label,
                    "valid": not document.problems,
                    "problems": [_finding(problem) for problem in document.problems],
                    "warnings": [_finding(warning) for warning in warnings],
                }
            )
            if args.output == "text":
                _print_findings(document.label, document.problems, stream=sys.stdout)
                _print_findings(document.label, warnings, stream=sys.stdout, warning=True)
    valid = all(entry["valid"] for entry in report)
    if args.output == "json":
        print(json.dumps({"valid": valid, "documents": report}, indent=2))
    else:
        invalid = sum(1 for entry in report if not entry["valid"])
        summary = (
            f"{len(report)} document(s) valid"
            if valid
            else f"{invalid} of {len(report)} document(s) invalid"
        )
        print(summary, file=sys.stderr)
    return EXIT_OK if valid else EXIT_INVALID


def _finding(problem: Problem) -> dict[str, str]:
    return {"path": problem.path, "message": problem.message}


def _print_findings(
    label: str, findings: Sequence[Problem], *, stream: TextIO, warning: bool = False
) -> None:
    prefix = f"{label}: warning: " if warning else f"{label}: "
    for finding in findings:
        print(f"{prefix}{finding}", file=stream)


if __name__ == "__main__":
    sys.exit(main())
