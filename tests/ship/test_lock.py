"""The image's lock files are in step with pyproject.toml and pin every file by hash.

requirements/runtime.txt must lock exactly pyproject's runtime dependencies (each pin inside
its specifier), requirements/build.txt exactly the build backend; every entry is `==` with at
least one sha256, which is what `pip install --require-hashes` in the Dockerfile needs.
Regenerate both with .ci/lock.sh.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import Obj

_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Locked:
    """One entry of a pip-compile style lock file."""

    name: str
    version: str
    hashes: int
    via: frozenset[str]


def parse_lock(path: Path) -> dict[str, Locked]:
    """name (canonical) -> entry; `via` holds the `# via` annotations under the entry."""
    blocks: list[list[str]] = []
    for line in path.read_text().splitlines():
        if _ENTRY.match(line):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
        else:
            assert not line.strip() or line.startswith("#"), f"{path.name}: {line}"
    entries: dict[str, Locked] = {}
    for block in blocks:
        match = _ENTRY.match(block[0])
        assert match is not None
        comments = [line.strip().removeprefix("#").strip() for line in block if "#" in line]
        via = {text.removeprefix("via ").strip() for text in comments if text != "via"}
        entry = Locked(
            name=match.group("name"),
            version=match.group("version"),
            hashes=sum(len(_HASH.findall(line)) for line in block),
            via=frozenset(via),
        )
        entries[canonicalize_name(entry.name)] = entry
    return entries


@pytest.fixture(scope="module")
def runtime(repo: Path) -> dict[str, Locked]:
    return parse_lock(repo / "requirements" / "runtime.txt")


def direct(entries: dict[str, Locked], *, source: str) -> set[str]:
    return {name for name, entry in entries.items() if source in entry.via}


def test_runtime_lock_holds_exactly_pyprojects_dependencies(
    runtime: dict[str, Locked], pyproject: Obj
) -> None:
    wanted = [Requirement(text) for text in pyproject["dependencies"]]
    assert direct(runtime, source="netiso (pyproject.toml)") == {
        canonicalize_name(requirement.name) for requirement in wanted
    }, "run .ci/lock.sh"
    for requirement in wanted:
        locked = runtime[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(locked.version, prereleases=True), (
            f"{locked.name}=={locked.version} is outside {requirement}; run .ci/lock.sh"
        )


def test_build_lock_holds_exactly_the_build_backend(repo: Path) -> None:
    with (repo / "pyproject.toml").open("rb") as fh:
        requires = tomllib.load(fh)["build-system"]["requires"]
    listed = [
        line.strip()
        for line in (repo / "requirements" / "build.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert listed == requires, "requirements/build.in must repeat [build-system].requires"
    build = parse_lock(repo / "requirements" / "build.txt")
    for text in requires:
        requirement = Requirement(text)
        locked = build[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(locked.version, prereleases=True)
        assert "-r requirements/build.in" in locked.via


@pytest.mark.parametrize("name", ["runtime.txt", "build.txt"])
def test_every_locked_file_is_pinned_by_hash(repo: Path, name: str) -> None:
    entries = parse_lock(repo / "requirements" / name)
    assert entries
    for entry in entries.values():
        assert entry.hashes >= 1, f"{entry.name} has no --hash"
        assert entry.via, f"{entry.name}: nothing needs it"
    # Every locked package is needed by something that is itself locked (or by the roots).
    roots = {"netiso (pyproject.toml)", "-r requirements/build.in"}
    for entry in entries.values():
        for parent in entry.via - roots:
            assert canonicalize_name(parent) in entries, f"{entry.name} via unlocked {parent}"
