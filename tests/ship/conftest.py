"""Fixtures for the shipping tests: the repository root, tool paths and the rendered manifests.

kubectl is the one the local control plane builds; helm is built by .ci/install-helm.sh (both
cached under ~/.cache/netiso); promtool is required from PATH, and a test skips (with the
install hint) only when it is genuinely missing. CI installs it. Rendering goes through
.ci/build_dist.py, the script that writes dist/, so tests and release agree by construction.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from netiso_devkit.localcluster.binaries import ensure_binaries
from tests.prerequisites import unavailable

REPO = Path(__file__).resolve().parents[2]
Obj = dict[str, Any]


def build_dist() -> ModuleType:
    """.ci/build_dist.py as a module (it is a script, not part of the netiso package)."""
    spec = importlib.util.spec_from_file_location("build_dist", REPO / ".ci" / "build_dist.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_objects(text: str, *, what: str) -> list[Obj]:
    objects = [doc for doc in yaml.safe_load_all(text) if doc]
    assert objects, f"{what} rendered nothing"
    return objects


def require_tool(name: str, *, hint: str) -> str:
    """The absolute path of `name` on PATH, or skip the test saying how to install it."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed ({hint})")
    return path


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def pyproject() -> dict[str, Any]:
    """pyproject.toml's [project] table: the one place the version is written."""
    with (REPO / "pyproject.toml").open("rb") as fh:
        table: dict[str, Any] = tomllib.load(fh)["project"]
    return table


@pytest.fixture(scope="session")
def kubectl() -> str:
    """The kubectl netiso's local control plane builds (cached; .ci/run builds it first), so
    the tests do not depend on whichever kubectl a machine happens to have."""
    return str(ensure_binaries().kubectl)


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_tool("promtool", hint="apt-get install prometheus")


def built_helm() -> str:
    """helm's path, built once from the Go module proxy by .ci/install-helm.sh (cached)."""
    result = subprocess.run(
        ["bash", str(REPO / ".ci" / "install-helm.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, f".ci/install-helm.sh failed:\n{result.stderr}"
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def helm() -> str:
    """helm, built once from the Go module proxy by the repository's own script."""
    return built_helm()


@pytest.fixture(scope="session")
def rendered(kubectl: str) -> list[Obj]:
    """Every object `kubectl kustomize manifests/` renders (the base install), in order."""
    return parse_objects(build_dist().kustomize(kubectl, REPO / "manifests"), what="manifests/")


@pytest.fixture(scope="session")
def monitored(kubectl: str) -> list[Obj]:
    """The base with the monitoring Component, as an overlay that opts into it renders it."""
    return parse_objects(build_dist().with_monitoring(kubectl), what="manifests/ + monitoring")
