"""dist/ and the chart's generated files are exactly what .ci/build_dist.py makes of manifests/.

A release ships dist/install.yaml (and dist/monitoring.yaml); both must equal a fresh render,
so a manifest edit without `python .ci/build_dist.py` fails here (and in .ci/run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import Obj


def load(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_checked_in_files_equal_a_fresh_build(repo: Path, kubectl: str) -> None:
    result = subprocess.run(
        [sys.executable, str(repo / ".ci" / "build_dist.py"), "--check"],
        env={**os.environ, "NETISO_KUBECTL": kubectl},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in step with manifests/" in result.stdout


def test_install_file_is_the_base_render(repo: Path, rendered: list[Obj]) -> None:
    assert load(repo / "dist" / "install.yaml") == rendered


def test_monitoring_file_is_what_the_component_adds(
    repo: Path, rendered: list[Obj], monitored: list[Obj]
) -> None:
    added = [obj for obj in monitored if obj not in rendered]
    assert load(repo / "dist" / "monitoring.yaml") == added
    assert sorted(obj["kind"] for obj in added) == ["ConfigMap", "PrometheusRule", "ServiceMonitor"]


def test_dist_install_is_tracked_not_ignored(repo: Path) -> None:
    result = subprocess.run(
        ["git", "-C", str(repo), "check-ignore", "--quiet", "dist/install.yaml"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    # 1: not ignored. 0 would mean .gitignore hides the release file from commits.
    assert result.returncode == 1, "dist/install.yaml is ignored by git"
