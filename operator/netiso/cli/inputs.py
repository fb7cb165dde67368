"""Reading the user's manifest files for the `netiso` command: files, directories, stdin.

Top layer, under cli.py and live.py: bounded reads, then model/documents.py for the YAML, then
one Document per YAML document with the problems that stop it being read or parsed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from netiso import conventions
from netiso.model.documents import (
    DEFAULT_LIMITS,
    DocumentError,
    DocumentLimits,
    clipped,
    load_documents,
)
from netiso.model.fields import json_type
from netiso.model.parsing import parse_profile
from netiso.model.problems import Problem, ProfileError
from netiso.model.profiles import Profile

STDIN: Final = "-"


def add_templates_option(parser: argparse.ArgumentParser) -> None:
    """`--templates DIR`: policy templates to use instead of the shipped ones."""
    parser.add_argument(
        "--templates",
        type=Path,
        metavar="DIR",
        help="directory of *.yaml.j2 policy templates (default: the shipped ones)",
    )


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """`--kubeconfig`, `--context` and `--request-timeout`, as kubectl spells them."""
    parser.add_argument(
        "--kubeconfig",
        default=None,
        metavar="FILE",
        help="default: $KUBECONFIG, ~/.kube/config, or the pod's service account",
    )
    parser.add_argument("--context", default=None, help="kubeconfig context (default: current)")
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up on an API request after this long (default: 30)",
    )


@dataclass
class Document:
    """One YAML document of an input file, or the reason the file could not be read."""

    label: str
    body: object = None
    problems: list[Problem] = field(default_factory=list)


def read_input(name: str, *, limits: DocumentLimits = DEFAULT_LIMITS) -> str:
    """The text of a file ('-': stdin), reading at most one byte past the size limit.

    Raises DocumentError for an oversized or non-UTF-8 input, OSError when unreadable.
    """
    if name == STDIN:
        stream = getattr(sys.stdin, "buffer", None)
        raw: bytes | str = (stream or sys.stdin).read(limits.max_bytes + 1)
    else:
        with open(name, "rb") as file:
            raw = file.read(limits.max_bytes + 1)
    if len(raw) > limits.max_bytes:
        raise DocumentError(
            source=name, message=f"is larger than the limit of {limits.max_bytes} bytes"
        )
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DocumentError(source=name, message="cannot read: not UTF-8 text") from None


def documents(name: str) -> Iterator[Document]:
    """The non-empty documents of a file; an unreadable file or bad YAML is one problem."""
    try:
        bodies = [
            body for body in load_documents(read_input(name), source=name) if body is not None
        ]
    except OSError as error:
        yield Document(name, problems=[Problem("", f"cannot read: {error.strerror or error}")])
        return
    except DocumentError as error:
        yield Document(name, problems=[Problem("", error.detail)])
        return
    if not bodies:
        yield Document(name, problems=[Problem("", "no YAML document found")])
        return
    for index, body in enumerate(bodies, start=1):
        # Name the document only when there are several: `file#2: spec...`.
        yield Document(name if len(bodies) == 1 else f"{name}#{index}", body=body)


def parse(document: Document) -> Profile | None:
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


MANIFEST_SUFFIXES: Final = (".yaml", ".yml", ".json")


def input_files(names: Sequence[str]) -> Iterator[str]:
    """Each name, a directory replaced by its YAML and JSON files (sorted, not recursive)."""
    for name in names:
        directory = Path(name)
        if name == STDIN or not directory.is_dir():
            yield name
            continue
        yield from sorted(
            str(path)
            for path in directory.iterdir()
            if path.suffix in MANIFEST_SUFFIXES and path.is_file()
        )


def other_kind(body: object) -> str:
    """Why a document is not netiso's to validate ("" when it is, or claims to be).

    Only a document that names another API group is skipped: one without apiVersion, or with
    netiso's group and a misspelt kind, is validated and gets its problems reported.
    """
    if not isinstance(body, dict):
        return ""
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return ""
    group = api_version.rpartition("/")[0]
    if group == conventions.GROUP:
        return ""
    return f"{clipped(kind)} ({clipped(api_version)}) is not an {conventions.KIND}"
