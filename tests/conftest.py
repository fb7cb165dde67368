"""Test selection: a plain `pytest` runs the fast, hermetic unit tests only.

The tests under integration/ (the real local control plane), ship/ (manifests, alerts, image),
bench/ (the benchmark suite end to end) and dataplane/ (real pods and packets, as root) are
marked after their folder and run with `--all` (what `bash .ci/run` does) or when asked for by
marker (`-m integration`) or by path; so do unit tests marked `slow` (exhaustive checks), and
property tests search 150 examples instead of 30. They get a long timeout; unit tests a short
one, so a hang shows up as a failure in seconds. Under --all a test skipped for a missing tool
or privilege (tests/prerequisites.py) fails instead: CI installs them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from hypothesis import settings

from tests.prerequisites import UNAVAILABLE

_HERE = Path(__file__).resolve().parent
# Folder -> marker for the slow suites; unit tests carry no marker.
SLOW_SUITES: Final = {
    "integration": "integration",
    "ship": "ship",
    "bench": "bench",
    "dataplane": "dataplane",
}
SLOW_TIMEOUT: Final = 600


# Property tests: a quick look in the inner loop, the thorough search in CI.
settings.register_profile("dev", max_examples=30)
settings.register_profile("ci", max_examples=150)


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile("ci" if config.getoption("--all") else "dev")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--all",
        action="store_true",
        default=False,
        help="also run the integration, ship, bench and dataplane tests (what bash .ci/run does)",
    )


def _suite_of(item: pytest.Item) -> str | None:
    try:
        relative = Path(str(item.path)).resolve().relative_to(_HERE)
    except ValueError:
        return None
    return SLOW_SUITES.get(relative.parts[0]) if relative.parts else None


def _asked_for(config: pytest.Config, suite: str) -> bool:
    """True when the command line names the suite's folder (or a file in it) explicitly."""
    for arg in config.args:
        path = Path(arg.split("::", 1)[0]).resolve()
        folder = _HERE / suite
        if path == folder or folder in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_all = bool(config.getoption("--all")) or bool(config.getoption("-m"))
    selected: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        suite = _suite_of(item)
        if suite is None:
            # Exhaustive unit checks (marked slow) run with --all, as CI runs them.
            if item.get_closest_marker("slow") and not run_all:
                deselected.append(item)
            else:
                selected.append(item)
            continue
        item.add_marker(getattr(pytest.mark, SLOW_SUITES[suite]))
        item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))
        if run_all or _asked_for(config, suite):
            selected.append(item)
        else:
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under --all, a skip for a missing tool or privilege is a failure: .ci/run installs every
    tool and runs as root, so there it means the install is broken and the test never ran."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if not (report.skipped and item.config.getoption("--all")):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if UNAVAILABLE in reason:
        report.outcome = "failed"
        report.longrepr = f"{reason} (--all runs every test: install it, as .ci/run does)"
