"""`netiso check` and `netiso admission`: guardrails offline, for CI and for a manual install.

Top layer beside inspection, registered by cli.py: builds on model (the guardrail evaluator)
and rendering (the admission bindings), never talks to a cluster. `check` evaluates a GitOps
directory of NetworkPolicies against a profile's guardrails, each policy as admission would,
and all policies of a namespace together as the operator does (reachability/exposures.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import yaml

from netiso import conventions
from netiso.cli.exits import Exit, InputError
from netiso.cli.inputs import read_input
from netiso.model.documents import (
    DEFAULT_LIMITS,
    DocumentError,
    DocumentLimits,
    clipped,
    load_documents,
)
from netiso.model.fields import json_type
from netiso.model.guardrails import EXCEPTION_ADVICE, RULE_TEXTS, Violation, is_managed
from netiso.model.networkpolicies import network_policy_problems
from netiso.model.parsing import parse_profile
from netiso.model.problems import ProfileError
from netiso.model.profiles import Profile
from netiso.observed.foreign import ForeignPolicy
from netiso.reconciling.assessments import judge_guardrails
from netiso.rendering.validations import baseline_binding, profile_binding

NAME_LABEL: Final = conventions.NAMESPACE_NAME_LABEL
YAML_SUFFIXES: Final = (".yaml", ".yml")
# Problems named in the one line of a malformed policy before the rest is counted.
_SHOWN_PROBLEMS: Final = 3
# A policy file that names no namespace is applied to the one kubectl targets.
DEFAULT_NAMESPACE: Final = "default"
# Sized for what the API server takes: a request body of at most 3 MiB (a valid policy with
# 20,000 ipBlocks is about 1 MiB of YAML and 100,000 nodes); aliases still count expanded.
POLICY_LIMITS: Final = DocumentLimits(
    max_bytes=3 * 1024 * 1024,
    max_document_bytes=3 * 1024 * 1024,
    max_nodes=500_000,
)


@dataclass(frozen=True)
class Finding:
    """One violation of one policy, and the file it came from."""

    file: str
    violation: Violation

    def __str__(self) -> str:
        found = self.violation
        line = (
            f"{self.file}: NetworkPolicy {found.namespace}/{found.policy}: {found.path}: "
            f"{found.rule}: {RULE_TEXTS[found.rule].problem}"
        )
        if found.exception is not None:
            return f"{line} [exception: {found.exception}]"
        return f"{line} [exception expired: {found.lapsed}]" if found.lapsed else line


def add_guardrail_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register `check` and `admission`; each sets `handler(args) -> int`."""
    check = subparsers.add_parser(
        "check",
        help="check NetworkPolicy files against a profile's guardrails",
        description=(
            "Evaluate every NetworkPolicy in the given files and directories (searched for "
            "*.yaml and *.yml) against the guardrails of the profile, as admission would. "
            "The policies of each namespace are also judged together, as the operator does "
            "(ipBlocks, ports and namespace selectors that add up across policies; Namespace "
            "objects in the files give the labels). "
            "One line per violation; policies with a netiso.io/exception annotation are "
            "listed as exceptions and pass. Exit status 0: none, 1: violations, 2: bad input."
        ),
    )
    check.add_argument("--profile", required=True, metavar="FILE", help="IsolationProfile YAML")
    check.add_argument(
        "-f",
        "--filename",
        dest="paths",
        action="append",
        required=True,
        metavar="PATH",
        help="a NetworkPolicy file or a directory of them (repeatable)",
    )
    check.add_argument(
        "--namespace",
        default=DEFAULT_NAMESPACE,
        metavar="NAME",
        help=f"namespace of policies that name none (default: {DEFAULT_NAMESPACE})",
    )
    check.set_defaults(handler=run_check)

    admission = subparsers.add_parser(
        "admission",
        help="print the admission bindings of profiles, for installs with the keeper off",
        description=(
            "Print the ValidatingAdmissionPolicyBinding of each profile and the baseline "
            "binding for namespaces naming none of them: "
            "netiso admission PROFILE.yaml... | kubectl apply -f -. "
            "The operator keeps these bindings itself; this is for installs that run it with "
            "NETISO_ADMISSION=off (a platform that manages admission objects)."
        ),
    )
    admission.add_argument("profiles", nargs="+", metavar="FILE", help="IsolationProfile YAML")
    admission.set_defaults(handler=run_admission)


def run_check(args: argparse.Namespace) -> int:
    """Print one line per violation; the exit status says whether any is not excepted."""
    (profile,) = _profiles([args.profile], single=True)
    objects = list(_objects(args.paths))
    policies = [(label, body) for label, body in objects if body.get("kind") == "NetworkPolicy"]
    namespaces = [body for _, body in objects if body.get("kind") == "Namespace"]
    malformed = [line for label, policy in policies if (line := _malformed(label, policy))]
    if malformed:
        # Guardrails judge what a policy admits; one the API server would refuse admits nothing.
        for line in malformed:
            print(f"netiso check: error: {line}", file=sys.stderr)
        return Exit.BAD_INPUT
    findings = list(
        _findings(policies, profile=profile, namespace=args.namespace, namespaces=namespaces)
    )
    for finding in findings:
        print(finding)
    failing = [f for f in findings if f.violation.exception is None]
    excepted = len(findings) - len(failing)
    print(
        f"netiso check: {len(failing)} violation(s), {excepted} under exception, "
        f"profile {profile.name}",
        file=sys.stderr,
    )
    if failing:
        print(f"netiso check: fix each policy, {EXCEPTION_ADVICE}", file=sys.stderr)
    return Exit.FINDINGS if failing else Exit.OK


def run_admission(args: argparse.Namespace) -> int:
    """Print the bindings as a YAML stream."""
    profiles = _profiles(args.profiles, single=False)
    bindings = [profile_binding(profile) for profile in profiles]
    bindings.append(baseline_binding(profile.name for profile in profiles))
    sys.stdout.write(yaml.safe_dump_all(bindings, sort_keys=False, explicit_start=True))
    return Exit.OK


def _profiles(names: Sequence[str], *, single: bool) -> list[Profile]:
    profiles: list[Profile] = []
    for name in names:
        documents = list(_documents(Path(name)))
        if single and len(documents) != 1:
            raise InputError(f"{name}: holds {len(documents)} documents; expected one profile")
        for label, body in documents:
            if not isinstance(body, dict):
                raise InputError(f"{label}: must be an IsolationProfile, got {json_type(body)}")
            try:
                profiles.append(parse_profile(body))
            except ProfileError as error:
                raise InputError(
                    f"{label}: invalid IsolationProfile: "
                    + "; ".join(str(problem) for problem in error.problems)
                ) from error
    return profiles


def _objects(paths: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, body) of every NetworkPolicy and Namespace in the files and directories, in
    order."""
    for path in paths:
        for file in _yaml_files(Path(path)):
            for label, body in _documents(file, limits=POLICY_LIMITS):
                for found in _checked_objects(body):
                    yield label, found


def _malformed(label: str, policy: dict[str, Any]) -> str:
    """One line naming the object and every field the API server would refuse; "" if none."""
    problems = network_policy_problems(policy)
    if not problems:
        return ""
    metadata = policy.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    name = f"{metadata.get('namespace') or '(default)'}/{metadata.get('name', '(no name)')}"
    shown = "; ".join(str(problem) for problem in problems[:_SHOWN_PROBLEMS])
    more = len(problems) - _SHOWN_PROBLEMS
    if more > 0:
        shown += f"; and {more} more"
    return f"{label}: NetworkPolicy {clipped(name)}: invalid: {shown}"


def _findings(
    policies: Sequence[tuple[str, dict[str, Any]]],
    *,
    profile: Profile,
    namespace: str,
    namespaces: Sequence[Mapping[str, Any]],
) -> Iterator[Finding]:
    """Each namespace's violations as the operator judges them (judge_guardrails): each
    policy as admission does, then what only the policies together (and the namespaces of
    the input) show; the annotation's and the profile's listed exceptions applied."""
    grouped: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for label, policy in policies:
        metadata = policy.get("metadata")
        named = metadata.get("namespace") if isinstance(metadata, dict) else None
        where = named if isinstance(named, str) and named else namespace
        grouped.setdefault(where, []).append((label, policy))
    known = _inventory(namespaces, policies_in=grouped)
    now = datetime.now(UTC)
    for where, members in grouped.items():
        files: dict[str, str] = {}
        foreign: list[ForeignPolicy] = []
        for label, policy in members:
            if is_managed(policy):
                continue
            files.setdefault(_name_of(policy), label)
            foreign.append(ForeignPolicy.from_body(policy))
        found, _ = judge_guardrails(
            foreign,
            namespace=where,
            guardrails=profile.guardrails,
            inventory=lambda: known,
            now=now,
        )
        for violation in found:
            yield Finding(files.get(violation.policy, ""), violation)


def _inventory(
    namespaces: Sequence[Mapping[str, Any]], *, policies_in: Mapping[str, object]
) -> list[Mapping[str, str]]:
    """The labels of the namespaces the input knows of: its Namespace objects, then each
    other namespace the policies live in, known by its name label only."""
    labelled = {_name_of(body): _labels_of(body) for body in namespaces}
    for where in policies_in:
        labelled.setdefault(where, {NAME_LABEL: where})
    return list(labelled.values())


def _name_of(body: Mapping[str, Any]) -> str:
    metadata = body.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else ""


def _labels_of(body: Mapping[str, Any]) -> Mapping[str, str]:
    metadata = body.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    found = {
        key: value
        for key, value in (labels.items() if isinstance(labels, dict) else ())
        if isinstance(key, str) and isinstance(value, str)
    }
    # The API server sets the name label on every namespace.
    found[NAME_LABEL] = _name_of(body)
    return found


def _yaml_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            file for file in path.rglob("*") if file.is_file() and file.suffix in YAML_SUFFIXES
        )
    if path.is_file():
        return [path]
    raise InputError(f"{path}: no such file or directory")


def _documents(path: Path, *, limits: DocumentLimits = DEFAULT_LIMITS) -> Iterator[tuple[str, Any]]:
    """(label, body) of each non-empty YAML document; `file#2` names the second of several.
    Reads are bounded as for every netiso input (model/documents.py)."""
    try:
        loaded = load_documents(
            read_input(str(path), limits=limits), source=str(path), limits=limits
        )
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from error
    except DocumentError as error:
        raise InputError(str(error)) from error
    bodies = [body for body in loaded if body is not None]
    for index, body in enumerate(bodies, start=1):
        yield (str(path) if len(bodies) == 1 else f"{path}#{index}"), body


def _checked_objects(body: object) -> Iterator[dict[str, Any]]:
    """The NetworkPolicies and Namespaces of a document: itself, or the items of a List;
    others are skipped (a GitOps repository holds every kind of object)."""
    if not isinstance(body, dict):
        return
    kind, version = body.get("kind"), body.get("apiVersion")
    if (kind, version) in (("NetworkPolicy", "networking.k8s.io/v1"), ("Namespace", "v1")):
        yield body
    elif kind == "List" and isinstance(body.get("items"), list):
        for item in body["items"]:
            yield from _checked_objects(item)


def guardrail_findings(
    paths: Sequence[str], *, profile_file: str, namespace: str = DEFAULT_NAMESPACE
) -> tuple[Profile, list[Finding]]:
    """The profile in `profile_file` and what `netiso check` finds in `paths` against its
    guardrails (for `diff-reach --profile`); a policy the API server would refuse is an
    InputError naming it."""
    (profile,) = _profiles([profile_file], single=True)
    objects = list(_objects(paths))
    policies = [(label, body) for label, body in objects if body.get("kind") == "NetworkPolicy"]
    if malformed := [line for label, policy in policies if (line := _malformed(label, policy))]:
        more = f" (and {len(malformed) - 1} more)" if len(malformed) > 1 else ""
        raise InputError(malformed[0] + more)
    namespaces = [body for _, body in objects if body.get("kind") == "Namespace"]
    found = _findings(policies, profile=profile, namespace=namespace, namespaces=namespaces)
    return profile, list(found)
