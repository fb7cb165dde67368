"""The import contracts hold for every module, including one nobody has listed yet.

A copy of the package gets a throwaway module that breaks a contract from a place no contract
names; `lint-imports` must fail on it, and must pass on the untouched copy (the control).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_tree(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "operator" / "netiso", target / "operator" / "netiso", ignore=ignore)
    shutil.copytree(
        ROOT / "devkit" / "netiso_devkit", target / "devkit" / "netiso_devkit", ignore=ignore
    )


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=f"{tree / 'operator'}{os.pathsep}{tree / 'devkit'}")
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / ".importlinter"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the lint dependency group")
    _copy_tree(tmp_path)
    return tmp_path


def test_untouched_copy_keeps_every_contract(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        # A new root module importing libraries that only one layer may use.
        ("rogue.py", "import kopf\n", "Only handlers (and main through them) import kopf"),
        ("rogue.py", "import jinja2\n", "Only rendering imports jinja2"),
        ("rogue.py", "import aiohttp\n", "Only the API client and the metrics endpoint"),
        ("rogue.py", "import prometheus_client\n", "Only the metrics module imports"),
        ("rogue.py", "import netiso_devkit.processes\n", "never imports the development kit"),
        # A new module in the pure core that reaches for the API client.
        ("model/rogue.py", "import netiso.runtime.client\n", "does no I/O"),
        # A new module low in the layers importing one above it.
        ("observed/rogue.py", "import netiso.reconciling.reconciler\n", "Data flows one way"),
        ("cli/rogue.py", "import netiso.handlers.lifecycle\n", "Data flows one way"),
    ],
)
def test_a_new_module_that_breaks_a_contract_fails_the_lint(
    tree: Path, module: str, source: str, contract: str
) -> None:
    path = tree / "operator" / "netiso" / module
    path.write_text(f'"""A module that breaks a contract."""\n\n{source}')
    result = _lint(tree)
    assert result.returncode != 0, result.stdout
    # Contract names wrap; the verdict follows the name: "<name> BROKEN (n ignored imports)".
    report = " ".join(result.stdout.split())
    verdict = re.search(re.escape(contract) + r"(?:(?! KEPT| BROKEN).)* (KEPT|BROKEN)", report)
    assert verdict is not None, result.stdout
    assert verdict.group(1) == "BROKEN", result.stdout
