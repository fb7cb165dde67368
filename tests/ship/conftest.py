"""Fixtures for the shipping tests: the repository root, tool paths and the rendered manifests.

kubectl is the one the local control plane builds; promtool is required from PATH, and a test
skips (with the install hint) only when it is genuinely missing. CI installs it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from netiso.kits.localcluster.binaries import ensure_binaries

REPO = Path(__file__).resolve().parents[2]


def require_tool(name: str, *, hint: str) -> str:
    """The absolute path of `name` on PATH, or skip the test saying how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed ({hint})")
    return path


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def kubectl() -> str:
    """The kubectl netiso's local control plane builds (cached; .ci/run builds it first), so
    the tests do not depend on whichever kubectl a machine happens to have."""
    return str(ensure_binaries().kubectl)


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_tool("promtool", hint="apt-get install prometheus")


@pytest.fixture(scope="session")
def rendered(kubectl: str) -> list[dict[str, Any]]:
    """Every object `kubectl kustomize manifests/` renders, in order."""
    result = subprocess.run(
        [kubectl, "kustomize", str(REPO / "manifests")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize manifests/ failed:\n{result.stderr}"
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert objects, "kubectl kustomize manifests/ rendered nothing"
    return objects
