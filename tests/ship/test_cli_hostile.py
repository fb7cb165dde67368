"""`netiso validate` and `render` on hostile input: one clean line, exit 1, bounded memory.

Shipping checks of the installed command: each file is run by a fresh interpreter, as a CI job
on an untrusted pull request would run it, so the peak resident memory of that process is the
user's real cost (os.wait4 reports it). The in-process limits are unit-tested in
tests/unit/model/test_documents.py.
The inputs live in tests/golden/hostile/; the oversized one is generated.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from netiso.rendering.environment import shipped_templates_dir

REPO = Path(__file__).resolve().parents[2]
HOSTILE = REPO / "tests" / "golden" / "hostile"
MiB = 1024 * 1024
MEMORY_BOUND = 100 * MiB


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    peak_rss: int


# A process's peak RSS includes what it inherited at fork (Linux carries the high-water mark
# across exec), and pytest grows: so a small launcher forks the command and reports its rusage.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "netiso.cli.app", *sys.argv[1:]])
_, status, usage = os.wait4(pid, 0)
with open(os.environ["PEAK_FILE"], "w") as peak:
    peak.write(str(usage.ru_maxrss * 1024))  # kilobytes on Linux
sys.exit(os.waitstatus_to_exitcode(status))
"""


def netiso(*argv: str) -> Run:
    """Run `python -m netiso.cli.app argv` and measure that process's peak resident set size."""
    with tempfile.TemporaryDirectory() as directory:
        peak = Path(directory) / "peak"
        result = subprocess.run(
            [sys.executable, "-S", "-c", LAUNCHER, *argv],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO / "operator"), "PEAK_FILE": str(peak)},
            check=False,
            timeout=120,
        )
        return Run(result.returncode, result.stdout, result.stderr, int(peak.read_text()))


def assert_clean(run: Run) -> None:
    assert run.code == 1, run
    assert "Traceback" not in run.out + run.err
    assert run.peak_rss < MEMORY_BOUND, f"peak RSS {run.peak_rss / MiB:.1f} MiB"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "alias-bomb.yaml",
            "expands to more than 50000 nodes (aliases counted expanded) at line 11, column 37",
        ),
        ("recursive-alias.yaml", 'recursive alias "*spec" at line 7, column 8'),
        (
            "deep-brackets.yaml",
            "invalid YAML: exceeded maximum nesting depth at line 1, column 1001",
        ),
        ("deep-mapping.yaml", "nests deeper than 64 levels at line 69, column 129"),
        (
            "duplicate-keys.yaml",
            'duplicate key "mode" at line 10, column 3 (first at line 8)',
        ),
    ],
)
def test_validate_refuses_a_hostile_file_in_one_line(name: str, expected: str) -> None:
    path = HOSTILE / name
    run = netiso("validate", str(path))
    assert_clean(run)
    assert run.out == f"{path}: {expected}\n"
    assert run.err == "1 of 1 document(s) invalid\n"


def test_render_refuses_an_alias_bomb_the_same_way() -> None:
    path = HOSTILE / "alias-bomb.yaml"
    run = netiso("render", "--profile", str(path), "--namespace", "team-a")
    assert_clean(run)
    assert run.out == ""
    assert run.err.startswith(f"{path}: expands to more than 50000 nodes")


def test_validate_refuses_a_ten_megabyte_file_by_its_size(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w") as file:
        file.write("apiVersion: netiso.io/v1alpha1\nkind: IsolationProfile\nmetadata:\n")
        file.write("  name: huge\nspec:\n  reason: " + "x" * (10 * MiB) + "\n")
    run = netiso("validate", str(path))
    assert_clean(run)
    assert run.out == f"{path}: is larger than the limit of {MiB} bytes\n"


def test_validate_rejects_control_and_bidi_characters_in_owner_and_reason() -> None:
    path = HOSTILE / "control-characters.yaml"
    run = netiso("validate", str(path))
    assert_clean(run)
    assert run.out.splitlines() == [
        f"{path}: spec.owner: must not contain control or bidirectional formatting characters, "
        "found U+202E at character 15",
        f"{path}: spec.reason: must not contain control or bidirectional formatting characters, "
        "found U+001B at character 7",
    ]


def test_a_template_reaching_for_python_internals_is_refused(tmp_path: Path) -> None:
    for template in shipped_templates_dir().glob("*.yaml.j2"):
        shutil.copy(template, tmp_path / template.name)
    shutil.copy(HOSTILE / "sandbox-escape.yaml.j2", tmp_path / "default-deny.yaml.j2")
    run = netiso(
        "validate",
        str(REPO / "manifests" / "samples" / "baseline.yaml"),
        "--templates",
        str(tmp_path),
    )
    assert_clean(run)
    assert run.out.startswith(
        f"{REPO / 'manifests' / 'samples' / 'baseline.yaml'}: default-deny.yaml.j2: cannot "
        "render: access to attribute '__class__' of 'str' object is unsafe."
    )
