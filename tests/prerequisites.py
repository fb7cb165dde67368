"""A tool or privilege a test needs and this machine lacks: a skip here, a failure in CI.

Test support for every suite. On a developer's machine a missing buildah or chromium skips the
tests that need it; under `--all` (what .ci/run runs, after installing every tool, as root)
tests/conftest.py turns such a skip into a failure, so a broken install cannot pass in silence.
"""

from __future__ import annotations

from typing import Final, NoReturn

import pytest

# The words every such skip starts with; tests/conftest.py looks for them.
UNAVAILABLE: Final = "unavailable on this machine: "


def unavailable(what: str) -> NoReturn:
    """Skip the test because `what` (a tool and how to install it, or a privilege) is missing."""
    pytest.skip(f"{UNAVAILABLE}{what}")
