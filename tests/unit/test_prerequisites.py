"""A test that lacks a tool or privilege skips on a developer's machine and fails under --all.

Runs tests/conftest.py's hooks in a pytest of its own (pytester, in process): one test says a
tool is unavailable, one skips for a reason of its own, which stays a skip either way.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TESTS = """
import pytest

from tests.prerequisites import unavailable


def test_needs_a_tool() -> None:
    unavailable("frobnicate is not installed (apt-get install frobnicate)")


@pytest.fixture(scope="module")
def tool() -> str:
    unavailable("needs root")


def test_needs_root(tool: str) -> None:
    pass


def test_skips_by_choice() -> None:
    pytest.skip("no cluster of its own wanted")
"""


def test_a_missing_tool_skips_here_and_fails_under_all(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("from tests.conftest import *  # noqa: F403\n")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_tools=TESTS)
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(skipped=3)
    strict = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--all")
    strict.assert_outcomes(failed=1, errors=1, skipped=1)
    strict.stdout.fnmatch_lines(["*frobnicate is not installed*install it, as .ci/run does*"])
