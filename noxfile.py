"""Development sessions: `nox -s lint`, `unit`, `integration`, `ship`, `bench`, `dist`.

They run in the project's own environment (`.venv`, made by `bash .ci/run` or
`pip install -e . -e ./devkit --group dev`) rather than in fresh virtualenvs: the integration
tests start `kopf` from the environment that runs them, and the control-plane binaries are
shared through ~/.cache/netiso.
`bash .ci/run` remains the whole check CI runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
# The environment nox itself runs in (.venv/bin/nox): its tools and its python.
BIN = Path(sys.executable).parent
nox.options.sessions = ["lint", "unit"]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format), mypy --strict over operator, tests and bench, import layers."""
    session.run(str(BIN / "ruff"), "check", ".")
    session.run(str(BIN / "ruff"), "format", "--check", ".")
    session.run(str(BIN / "mypy"))
    session.run(str(BIN / "lint-imports"))


@nox.session
def unit(session: nox.Session) -> None:
    """The pure core: seconds, no server."""
    session.run(sys.executable, "-m", "pytest", "-q", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """The operator against the real local control plane."""
    session.run(sys.executable, "-m", "pytest", "-q", "-m", "integration", *session.posargs)


@nox.session
def ship(session: nox.Session) -> None:
    """Manifests, alerts, dashboard, image and docs, checked with the real tools."""
    session.run(sys.executable, "-m", "pytest", "-q", "-m", "ship", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark suite at N = 1,000 (pass options after --, e.g. -- --n 20)."""
    session.run(sys.executable, "-m", "bench", *session.posargs)


@nox.session
def dist(session: nox.Session) -> None:
    """dist/ and the Helm chart's generated files from manifests/ (-- --check: only compare)."""
    session.run(sys.executable, ".ci/build_dist.py", *session.posargs)
