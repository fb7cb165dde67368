"""An older commit's operator, installed apart, so one benchmark run measures before and after.

`prepare(ref)` exports the commit's tree with `git archive` (no worktree, no change to the
repository), installs it into a venv of its own with the dependency versions of the running
venv (pip freeze as constraints, so only netiso's code differs) and returns where its `kopf`
is. The benchmark code itself (client, scenarios, raw bound, expectations) is the current one
for both runs: the same measurement of two operators.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.options import ROOT

# Our own distributions: installed from the baseline's tree, never pinned to the current one.
OWN_DISTRIBUTIONS = ("netiso", "netiso-devkit", "netiso_devkit")


@dataclass(frozen=True)
class Baseline:
    """The baseline commit, its exported tree and venv, and the kopf that runs its operator."""

    commit: str
    directory: Path

    @property
    def source(self) -> Path:
        return self.directory / "src"

    @property
    def kopf(self) -> Path:
        return self.directory / "venv" / "bin" / "kopf"

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _git(*args: str) -> bytes:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace')}")
    return done.stdout


def _constraints() -> str:
    """The running venv's third-party versions, as pip constraints."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = []
    for line in done.stdout.splitlines():
        name = line.split("==", 1)[0].strip().lower()
        if "==" in line and name not in OWN_DISTRIBUTIONS:
            lines.append(line.strip())
    return "\n".join(lines) + "\n"


def prepare(ref: str, *, progress: Callable[[str], None]) -> Baseline:
    """Export `ref` and install its operator; raises RuntimeError when that fails."""
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}").decode().strip()
    directory = Path(tempfile.mkdtemp(prefix=f"netiso-bench-baseline-{commit[:7]}-"))
    baseline = Baseline(commit=commit, directory=directory)
    try:
        source = directory / "src"
        progress(f"baseline {commit[:10]}: exporting the tree to {source}")
        with tarfile.open(fileobj=io.BytesIO(_git("archive", "--format=tar", commit))) as tar:
            tar.extractall(source, filter="data")
        progress("baseline: creating its venv and installing its operator (pinned dependencies)")
        venv.create(directory / "venv", with_pip=True)
        constraints = directory / "constraints.txt"
        constraints.write_text(_constraints())
        python = directory / "venv" / "bin" / "python"
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-c", str(constraints), str(source)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or not baseline.kopf.exists():
            raise RuntimeError(f"installing the baseline failed:\n{done.stderr[-4000:]}")
    except BaseException:
        baseline.remove()
        raise
    return baseline
