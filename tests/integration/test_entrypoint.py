"""The image's command works from the installed wheel, without the source tree.

No container engine here, so the image is reproduced where it matters: the wheel is built
from the checkout (as the Dockerfile's builder stage does), installed with its dependencies
from requirements/runtime.txt under --require-hashes into a fresh virtualenv that has no pip
and no access to the checkout (as the runtime stage does), and the Dockerfile's exact
ENTRYPOINT + CMD is run from a scratch working directory with the image's environment. Only
the liveness port is moved to a free one. The operator runs as a user bound to the shipped
ClusterRole against the local control plane.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from kubernetes import client

from netiso import conventions
from netiso_devkit.harness import (
    ROOT,
    free_port,
    grant_operator_rbac,
    http_status,
    install_crd,
    wait_for,
)
from netiso_devkit.localcluster.controlplane import ControlPlane

from .conftest import MakeNamespace, unique_name
from .ship_cluster import create_profile, matches_rendered, remove_profile
from .ship_rbac import revoke

pytestmark = pytest.mark.integration

DOCKERFILE = ROOT / "Dockerfile"
LIVENESS_FLAG = "--liveness="
# The runtime stage's ENV (the Dockerfile's `ENV` line).
IMAGE_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


def final_stage_instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the last stage, continuation lines joined, no comments."""
    logical: list[str] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), arguments.strip()))
    assert stages, f"no FROM in {dockerfile}"
    return stages[-1]


def exec_form(dockerfile: Path, instruction: str) -> list[str]:
    """The JSON (exec) form of the final stage's last `instruction` (what Docker uses)."""
    found = [args for name, args in final_stage_instructions(dockerfile) if name == instruction]
    assert found, f"no {instruction} in the final stage of {dockerfile}"
    value = json.loads(found[-1])
    assert isinstance(value, list), f"{instruction} must use the exec (JSON) form: {found[-1]}"
    assert all(isinstance(part, str) for part in value), value
    return [str(part) for part in value]


def with_liveness_port(args: list[str], port: int) -> tuple[list[str], str]:
    """The args with --liveness moved to `port` (scheme, host and path kept), and the URL to
    probe it on from here."""
    flags = [arg for arg in args if arg.startswith(LIVENESS_FLAG)]
    assert len(flags) == 1, f"CMD must carry exactly one {LIVENESS_FLAG}...: {args}"
    url = urlsplit(flags[0][len(LIVENESS_FLAG) :])
    assert url.hostname is not None, flags[0]
    moved = urlunsplit(url._replace(netloc=f"{url.hostname}:{port}"))
    probe = urlunsplit(url._replace(netloc=f"127.0.0.1:{port}"))
    return [f"{LIVENESS_FLAG}{moved}" if arg == flags[0] else arg for arg in args], probe


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the netiso wheel and its locked dependencies, and no pip."""
    work = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    # hatchling is in the test environment already; no build isolation keeps this offline.
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (work / "dist").glob("netiso-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # The test environment's pip installs into the new venv, which itself gets none (the
    # image removes pip too). As in the Dockerfile: the dependencies exactly as locked, every
    # file checked against its hash, then netiso's wheel without dependencies.
    target = [*pip, "--python", str(venv / "bin" / "python"), "install", "--quiet"]
    lock = ROOT / "requirements" / "runtime.txt"
    for command in (
        [*target, "--require-hashes", "--only-binary=:all:", "-r", str(lock)],
        [*target, "--no-deps", str(wheel)],
    ):
        install = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert install.returncode == 0, install.stdout + install.stderr
    return venv


def image_env(venv: Path, *, home: Path) -> dict[str, str]:
    """A clean environment: the venv's bin first on PATH, nothing inherited from pytest."""
    return {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        **IMAGE_ENV,
    }


def test_netiso_in_the_venv_comes_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    probe = (
        "import netiso, netiso.rendering.environment as e; "
        "print(netiso.__file__); print(e.shipped_templates_dir())"
    )
    result = subprocess.run(
        [str(installed / "bin" / "python"), "-c", probe],
        env=image_env(installed, home=tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    module, templates = (Path(line) for line in result.stdout.split())
    assert installed in module.parents, module
    assert installed in templates.parents, templates
    assert sorted(p.name for p in templates.glob("*.yaml.j2")) == sorted(
        p.name for p in (ROOT / "templates").glob("*.yaml.j2")
    )
    assert not (installed / "bin" / "pip").exists()
    # The wheel holds the product only: the development kit is a distribution of its own.
    site = next(installed.glob("lib/python*/site-packages"))
    assert not list(site.glob("netiso_devkit*")), "the development kit came with the wheel"
    assert not [p for p in (site / "netiso").rglob("*") if "kits" in p.parts]


def assert_json_logs(text: str) -> None:
    """With the image's --log-format=json every log line is one JSON object with a message."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "the operator logged nothing"
    for line in lines:
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert record.get("message"), line


@contextlib.contextmanager
def running(
    command: list[str], *, env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The command in its own process group; killed if the block leaves it running."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_image_command_serves_probes_isolates_and_exits_cleanly_on_sigterm(
    installed: Path,
    control_plane: ControlPlane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    tmp_path: Path,
) -> None:
    entrypoint = exec_form(DOCKERFILE, "ENTRYPOINT")
    cmd = exec_form(DOCKERFILE, "CMD")
    assert entrypoint[:4] == ["kopf", "run", "-m", "netiso.main"], entrypoint
    args, liveness = with_liveness_port(cmd, free_port())
    # As in the image, `kopf` is whatever PATH finds: it must be the venv's.
    kopf = shutil.which(entrypoint[0], path=str(installed / "bin"))
    assert kopf is not None, f"no {entrypoint[0]} in {installed / 'bin'}"

    install_crd(kube_api)
    user = unique_name("netiso-image")
    role = grant_operator_rbac(kube_api, user=user)
    metrics_port = free_port()
    env = image_env(installed, home=tmp_path) | {
        "KUBECONFIG": str(control_plane.user_kubeconfig(user)),
        "NETISO_METRICS_PORT": str(metrics_port),
        # What the Deployment sets from the downward API.
        "POD_NAMESPACE": "netiso-system",
        # The admission keeper would install netiso-managed-policies, which lets only the
        # installed service account write managed policies: every later test's operator
        # runs as a plain user. The keeper is proven in test_keeper.py.
        "NETISO_ADMISSION": "off",
    }
    workdir = tmp_path / "workdir"  # the image's WORKDIR /tmp: nothing of the checkout in it
    workdir.mkdir()
    log = tmp_path / "operator.log"

    def output() -> str:
        return log.read_text(errors="replace")[-20000:]

    profile = unique_name("image")
    create_profile(kube_api, profile)
    try:
        with running([kopf, *entrypoint[1:], *args], env=env, cwd=workdir, log=log) as process:

            def probes_ok() -> bool:
                if process.poll() is not None:
                    raise AssertionError(f"exited with {process.returncode}:\n{output()}")
                ready = http_status(f"http://127.0.0.1:{metrics_port}/readyz")
                return http_status(liveness) == 200 and ready == 200

            wait_for("/healthz and /readyz answer 200", probes_ok, timeout=30, interval=0.2)
            ns = make_namespace("image", labels={conventions.PROFILE_LABEL: profile})
            wait_for(
                "policies from the wheel's templates",
                lambda: matches_rendered(kube_api, profile=profile, namespace=ns),
            )

            os.killpg(process.pid, signal.SIGTERM)
            code = process.wait(timeout=30)
            assert code == 0, f"exited with {code} on SIGTERM:\n{output()}"
        assert "--log-format=json" in cmd, "the image's CMD no longer asks for JSON logs"
        assert_json_logs(log.read_text(errors="replace"))
    finally:
        remove_profile(kube_api, profile)
        revoke(kube_api, role)
