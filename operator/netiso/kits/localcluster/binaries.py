"""Build and cache the local control plane's binaries: kube-apiserver, controller-manager, etcd.

Kubernetes (with kubectl) and etcd are compiled from the Go module proxy through generated
wrapper modules and cached by version; Debian's etcd-server is the fallback for etcd.
Part of netiso.kits.localcluster, which knows nothing of the operator. Run as
`python -m netiso.kits.localcluster.binaries` to prebuild the cache (CI does this before pytest).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal, TextIO

from netiso.kits.localcluster.progress import Heartbeat, Progress, stderr_terminal

# Pinned rather than resolved on every run: a new upstream patch would otherwise trigger a
# 20-minute rebuild in the middle of a CI run. Override with the environment variables below;
# the value "latest" resolves the newest patch of the pinned minor from the module proxy.
KUBERNETES_VERSION: Final = "v1.35.4"
ETCD_VERSION: Final = "v3.6.16"
KUBERNETES_VERSION_ENV: Final = "NETISO_KUBERNETES_VERSION"
ETCD_VERSION_ENV: Final = "NETISO_ETCD_VERSION"
CACHE_DIR_ENV: Final = "NETISO_CACHE_DIR"
KUBEBUILDER_ASSETS_ENV: Final = "KUBEBUILDER_ASSETS"

KUBERNETES_COMMANDS: Final = ("kube-apiserver", "kube-controller-manager", "kubectl")
ETCD_MAIN_MODULE: Final = "go.etcd.io/etcd/server/v3"
# Debian's etcd-server package installs the server here (3.4.x on bookworm).
DEBIAN_ETCD: Final = Path("/usr/bin/etcd")

EtcdSource = Literal["go-module-proxy", "debian-etcd-server", "kubebuilder-assets"]
KubernetesSource = Literal["go-module-proxy", "kubebuilder-assets"]

# Seconds between two progress lines during a build step (at most progress.MAX_SILENCE_SECONDS).
HEARTBEAT_SECONDS: Final = 10.0

_MANIFEST: Final = "manifest.json"
_SEMVER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
# `k8s.io/api v0.0.0` (require) or `k8s.io/api => ./staging/src/k8s.io/api` (replace); not
# `k8s.io/utils v0.0.0-2025...`, a real pseudo-version of a module that is not in staging.
_STAGING_LINE = re.compile(
    r"^\s*(k8s\.io/[A-Za-z0-9._-]+)\s+"
    r"(?:v0\.0\.0\s*(?://.*)?$|=>\s*\./staging/)"
)


class BinariesError(RuntimeError):
    """The binaries could not be found, built or run; the message says what to do."""


@dataclass(frozen=True)
class Binaries:
    """Paths and versions of the binaries one control plane runs.

    `go_version` is the toolchain that built the Kubernetes binaries, or None when they came
    from KUBEBUILDER_ASSETS. `etcd_source` tells whether etcd was built here or is Debian's.
    """

    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path
    etcd: Path
    kubernetes_version: str
    etcd_version: str
    kubernetes_source: KubernetesSource
    etcd_source: EtcdSource
    go_version: str | None

    def describe(self) -> str:
        """One line for logs and test headers: what runs and where it came from."""
        built = f", Go {self.go_version}" if self.go_version else ""
        return (
            f"Kubernetes {self.kubernetes_version} ({self.kubernetes_source}{built}), "
            f"etcd {self.etcd_version} ({self.etcd_source})"
        )


@dataclass(frozen=True)
class _Built:
    """What a cache entry's manifest records about one build."""

    version: str
    go_version: str | None
    source: str
    build_seconds: float


def cache_dir() -> Path:
    """The binary cache: $NETISO_CACHE_DIR, else $XDG_CACHE_HOME/netiso, else ~/.cache/netiso."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "netiso"


def ensure_binaries(
    *,
    cache: Path | None = None,
    kubernetes_version: str | None = None,
    etcd_version: str | None = None,
    progress: Progress | None = None,
) -> Binaries:
    """Return usable binaries, building whatever the cache lacks.

    Idempotent and safe to call from several processes at once: builds run under a file lock
    and land in the cache by an atomic rename, so a second caller waits and then reuses them.
    Versions default to the pinned constants (or $NETISO_KUBERNETES_VERSION /
    $NETISO_ETCD_VERSION). $KUBEBUILDER_ASSETS (a setup-envtest folder) is used as given:
    its kube-apiserver sets the Kubernetes version, and only what the folder lacks (usually
    kube-controller-manager) is built or taken from the cache, at that same version; a
    controller-manager there that the version-skew policy forbids is replaced likewise.
    """
    say = progress or _stderr
    root = cache or cache_dir()
    assets = _kubebuilder_assets()
    if assets is not None:
        return _from_assets(assets, cache=root, etcd_version=etcd_version, say=say)
    kube_dir, kube = _ensure_kubernetes(root, version=kubernetes_version, say=say)
    etcd_path, etcd_built, etcd_source = _ensure_etcd(root, version=etcd_version, say=say)
    return Binaries(
        kube_apiserver=kube_dir / "kube-apiserver",
        kube_controller_manager=kube_dir / "kube-controller-manager",
        kubectl=kube_dir / "kubectl",
        etcd=etcd_path,
        kubernetes_version=kube.version,
        etcd_version=etcd_built.version,
        kubernetes_source="go-module-proxy",
        etcd_source=etcd_source,
        go_version=kube.go_version,
    )


# --- Kubernetes ------------------------------------------------------------------------------


def _ensure_kubernetes(
    root: Path,
    *,
    version: str | None,
    say: Progress,
    commands: tuple[str, ...] = KUBERNETES_COMMANDS,
) -> tuple[Path, _Built]:
    """The cache entry holding `commands` at `version`, built if missing.

    An entry built for fewer commands (a controller-manager to go with KUBEBUILDER_ASSETS) is
    rebuilt whole when more are asked of it; one with all of them serves any subset.
    """
    wanted = version or os.environ.get(KUBERNETES_VERSION_ENV) or KUBERNETES_VERSION
    if wanted == "latest":
        wanted = _newest_patch("k8s.io/kubernetes", like=KUBERNETES_VERSION)
    _check_semver(wanted, what="Kubernetes version")
    target = root / f"kubernetes-{wanted}"
    cached = _read_manifest(target, commands)
    if cached is not None:
        return target, cached
    with _build_lock(root):
        # Another process may have finished the build while this one waited for the lock.
        cached = _read_manifest(target, commands)
        if cached is not None:
            return target, cached
        built = _build_kubernetes(root, target=target, version=wanted, commands=commands, say=say)
        return target, built


def _build_kubernetes(
    root: Path, *, target: Path, version: str, commands: tuple[str, ...], say: Progress
) -> _Built:
    go = _go_binary()
    workdir = root / "build" / f"kubernetes-{version}"
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "build.log"
    say(f"netiso: building Kubernetes {version} from the Go module proxy (log: {log})")
    started = time.monotonic()
    info = _download_module(go, module=f"k8s.io/kubernetes@{version}", log=log, say=say)
    staging = _staging_modules(info.gomod)
    _write_kubernetes_wrapper(workdir, version=version, staging=staging)
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in commands]
    _go(
        go,
        ["get", *(f"{p}@{version}" for p in packages)],
        cwd=workdir,
        log=log,
        say=say,
        what=f"resolving Kubernetes {version} dependencies",
    )
    major, minor, _ = _check_semver(version, what="Kubernetes version")
    stamp = "k8s.io/component-base/version"
    ldflags = " ".join(
        [
            f"-X {stamp}.gitVersion={version}",
            f"-X {stamp}.gitMajor={major}",
            f"-X {stamp}.gitMinor={minor}",
            # The module proxy does not carry the tag's commit; say so instead of inventing one.
            f"-X {stamp}.gitCommit={info.commit or 'unknown-from-go-module-proxy'}",
            f"-X {stamp}.gitTreeState=clean",
            # The tag's publication time keeps the binaries reproducible across rebuilds.
            f"-X {stamp}.buildDate={_module_time(info)}",
            "-s -w",
        ]
    )
    names = ", ".join(commands)
    say(f"netiso: compiling {names} (cold Go cache: ~6-8 min on 2 cores)")
    with _staging_dir(root, name=target.name) as out:
        # One invocation for all commands shares the compile work between them; -v names each
        # package as it is compiled, which the heartbeat shows.
        _go(
            go,
            ["build", "-v", "-trimpath", "-ldflags", ldflags, "-o", f"{out}{os.sep}", *packages],
            cwd=workdir,
            log=log,
            say=say,
            what=f"compiling {names} {version}",
        )
        built = _Built(
            version=version,
            go_version=_go_version(go),
            source="go-module-proxy",
            build_seconds=round(time.monotonic() - started, 1),
        )
        _write_manifest(out, built)
        _publish(out, target)
    say(f"netiso: built Kubernetes {version} in {built.build_seconds:.0f} s -> {target}")
    return built


def _staging_modules(gomod: Path) -> list[str]:
    """The k8s.io modules that kubernetes' go.mod pins to v0.0.0 and replaces with staging/."""
    modules: set[str] = set()
    for line in gomod.read_text().splitlines():
        match = _STAGING_LINE.match(line)
        if match:
            modules.add(match.group(1))
    if not modules:
        raise BinariesError(f"no k8s.io staging modules found in {gomod}")
    return sorted(modules)


def _write_kubernetes_wrapper(workdir: Path, *, version: str, staging: list[str]) -> None:
    # Each staging module is published as its own module at v0.<minor>.<patch>.
    _, minor, patch = _check_semver(version, what="Kubernetes version")
    twin = f"v0.{minor}.{patch}"
    replaces = "\n".join(f"\t{module} => {module} {twin}" for module in staging)
    (workdir / "go.mod").write_text(
        "module netiso.local/kubernetes-build\n\n"
        "go 1.25.0\n\n"
        # Upstream builds with this GODEBUG default; keep runtime behaviour identical.
        "godebug default=go1.25\n\n"
        f"require k8s.io/kubernetes {version}\n\n"
        f"replace (\n{replaces}\n)\n"
    )


# --- etcd ------------------------------------------------------------------------------------


def _ensure_etcd(
    root: Path, *, version: str | None, say: Progress
) -> tuple[Path, _Built, EtcdSource]:
    wanted = version or os.environ.get(ETCD_VERSION_ENV) or ETCD_VERSION
    if wanted == "latest":
        wanted = _newest_patch(ETCD_MAIN_MODULE, like=ETCD_VERSION)
    _check_semver(wanted, what="etcd version")
    target = root / f"etcd-{wanted}"
    cached = _read_manifest(target, ("etcd",))
    if cached is None:
        with _build_lock(root):
            cached = _read_manifest(target, ("etcd",))
            if cached is None:
                try:
                    cached = _build_etcd(root, target=target, version=wanted, say=say)
                except BinariesError as error:
                    say(f"netiso: etcd {wanted} did not build ({error}); trying Debian etcd-server")
                    return _debian_etcd(say)
    return target / "etcd", cached, "go-module-proxy"


def _build_etcd(root: Path, *, target: Path, version: str, say: Progress) -> _Built:
    go = _go_binary()
    workdir = root / "build" / f"etcd-{version}"
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "build.log"
    say(f"netiso: building etcd {version} from the Go module proxy (log: {log})")
    started = time.monotonic()
    info = _download_module(go, module=f"{ETCD_MAIN_MODULE}@{version}", log=log, say=say)
    # etcd's server module names the Go release it needs; the wrapper must ask for no less.
    go_directive = _go_directive(info.gomod) or "1.24"
    (workdir / "go.mod").write_text(
        f"module netiso.local/etcd-build\n\ngo {go_directive}\n\n"
        f"require {ETCD_MAIN_MODULE} {version}\n"
    )
    _go(
        go,
        ["get", f"{ETCD_MAIN_MODULE}@{version}"],
        cwd=workdir,
        log=log,
        say=say,
        what=f"resolving etcd {version} dependencies",
    )
    ldflags = f"-X go.etcd.io/etcd/api/v3/version.GitSHA=go-proxy-{version} -s -w"
    with _staging_dir(root, name=target.name) as out:
        binary = str(out / "etcd")
        _go(
            go,
            ["build", "-v", "-trimpath", "-ldflags", ldflags, "-o", binary, ETCD_MAIN_MODULE],
            cwd=workdir,
            log=log,
            say=say,
            what=f"compiling etcd {version}",
        )
        built = _Built(
            version=version,
            go_version=_go_version(go),
            source="go-module-proxy",
            build_seconds=round(time.monotonic() - started, 1),
        )
        _write_manifest(out, built)
        _publish(out, target)
    say(f"netiso: built etcd {version} in {built.build_seconds:.0f} s -> {target}")
    return built


def _debian_etcd(say: Progress) -> tuple[Path, _Built, EtcdSource]:
    found = shutil.which("etcd") or (str(DEBIAN_ETCD) if DEBIAN_ETCD.exists() else None)
    if found is None:
        raise BinariesError(
            "etcd could not be built and no etcd is installed; "
            "run `NETISO_ETCD_FALLBACK=1 .ci/install-system-deps.sh` (installs Debian etcd-server)"
        )
    version = _etcd_version(Path(found))
    say(f"netiso: using etcd {version} from {found} (Debian etcd-server)")
    built = _Built(version=version, go_version=None, source="debian-etcd-server", build_seconds=0)
    return Path(found), built, "debian-etcd-server"


# --- KUBEBUILDER_ASSETS ----------------------------------------------------------------------


def _kubebuilder_assets() -> Path | None:
    """$KUBEBUILDER_ASSETS (what `setup-envtest use -p path` prints) when it names a directory
    holding a kube-apiserver; None when unset. Set but unusable is an error, not a silent build
    of something else."""
    raw = os.environ.get(KUBEBUILDER_ASSETS_ENV)
    if not raw:
        return None
    assets = Path(raw).expanduser()
    if not os.access(assets / "kube-apiserver", os.X_OK):
        raise BinariesError(
            f"{KUBEBUILDER_ASSETS_ENV}={raw}: no executable kube-apiserver there; point it at "
            "a setup-envtest folder (`setup-envtest use -p path`) or unset it"
        )
    return assets


def skew_problem(*, apiserver: str, controller_manager: str) -> str | None:
    """Why this controller-manager must not run with this API server, or None if it may.

    Kubernetes' version-skew policy: kube-controller-manager must not be newer than
    kube-apiserver and may be at most one minor version older.
    https://kubernetes.io/releases/version-skew-policy/#kube-controller-manager-kube-scheduler-and-cloud-controller-manager
    """
    server = _check_semver(_release(apiserver), what="kube-apiserver version")
    manager = _check_semver(_release(controller_manager), what="kube-controller-manager version")
    if manager[:2] > server[:2] or (manager[:2] == server[:2] and manager > server):
        return (
            f"kube-controller-manager {controller_manager} is newer than kube-apiserver {apiserver}"
        )
    if manager[0] != server[0] or server[1] - manager[1] > 1:
        return (
            f"kube-controller-manager {controller_manager} is more than one minor version "
            f"older than kube-apiserver {apiserver}"
        )
    return None


def _release(version: str) -> str:
    """vX.Y.Z of a version that may carry a suffix (v1.33.0-rc.1, v1.33.0+k3s1)."""
    match = re.match(r"v\d+\.\d+\.\d+", version)
    return match.group(0) if match else version


def _from_assets(assets: Path, *, cache: Path, etcd_version: str | None, say: Progress) -> Binaries:
    """The binaries in `assets` as they are, plus whatever is missing there, built (or taken
    from the cache) at exactly the assets' kube-apiserver version."""
    apiserver = assets / "kube-apiserver"
    version = _kubernetes_version(apiserver)
    release = _release(version)
    found = {
        name: assets / name for name in KUBERNETES_COMMANDS if os.access(assets / name, os.X_OK)
    }
    controller_manager = found.get("kube-controller-manager")
    if controller_manager is not None:
        problem = skew_problem(
            apiserver=version, controller_manager=_kubernetes_version(controller_manager)
        )
        if problem is not None:
            say(f"netiso: not using {controller_manager}: {problem}")
            del found["kube-controller-manager"]
    missing = tuple(name for name in KUBERNETES_COMMANDS if name not in found)
    go_version: str | None = None
    paths = dict(found)
    if missing:
        # kubebuilder's asset bundles carry no controller-manager: build it (or take it from
        # the cache) at the API server's own version, never the pinned one.
        say(f"netiso: {KUBEBUILDER_ASSETS_ENV} lacks {', '.join(missing)}; using {release} ones")
        kube_dir, built = _ensure_kubernetes(cache, version=release, say=say, commands=missing)
        paths.update({name: kube_dir / name for name in missing})
        go_version = built.go_version
    etcd = assets / "etcd"
    etcd_source: EtcdSource = "kubebuilder-assets"
    if os.access(etcd, os.X_OK):
        etcd_path, etcd_release = etcd, _etcd_version(etcd)
    else:
        etcd_path, etcd_built, etcd_source = _ensure_etcd(cache, version=etcd_version, say=say)
        etcd_release = etcd_built.version
    say(f"netiso: using {', '.join(sorted(found))} from {KUBEBUILDER_ASSETS_ENV}={assets}")
    return Binaries(
        kube_apiserver=paths["kube-apiserver"],
        kube_controller_manager=paths["kube-controller-manager"],
        kubectl=paths["kubectl"],
        etcd=etcd_path,
        kubernetes_version=version,
        etcd_version=etcd_release,
        kubernetes_source="kubebuilder-assets",
        etcd_source=etcd_source,
        go_version=go_version,
    )


# --- helpers ---------------------------------------------------------------------------------


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _check_semver(version: str, *, what: str) -> tuple[int, int, int]:
    match = _SEMVER.match(version)
    if not match:
        raise BinariesError(f"{what}: expected vMAJOR.MINOR.PATCH, got {version!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def _go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        raise BinariesError("`go` is not on PATH; it is needed once to build the binaries")
    return go


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    # Reproducible, static binaries built by the installed toolchain, outside any workspace.
    env.update(
        GOWORK="off", GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS="-mod=mod -buildvcs=false"
    )
    return env


def _go(
    go: str,
    args: list[str],
    *,
    cwd: Path,
    log: Path,
    say: Progress | None = None,
    what: str | None = None,
) -> str:
    """Run one go command, appending its output to `log`; raise with the log's tail on failure.

    With `what`, a heartbeat reports it with the elapsed time and go's latest output line (a
    module downloaded, a package compiled) at least every 15 s through `say`.
    """
    lines: list[str] = []
    with log.open("a") as sink:
        sink.write(f"\n$ go {' '.join(args)}\n")
        sink.flush()
        process = subprocess.Popen(
            [go, *args],
            cwd=cwd,
            env=_go_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        with contextlib.ExitStack() as stack:
            beat = None
            if what is not None:
                beat = stack.enter_context(
                    Heartbeat(
                        what,
                        say=say or _stderr,
                        interval=HEARTBEAT_SECONDS,
                        terminal=_terminal_for(say),
                    )
                )
            for line in process.stdout:
                sink.write(line)
                lines.append(line)
                if beat is not None:
                    beat.note(line)
            returncode = process.wait()
    output = "".join(lines)
    if returncode != 0:
        tail = "\n".join(output.splitlines()[-20:])
        raise BinariesError(f"`go {args[0]}` failed (exit {returncode}); see {log}:\n{tail}")
    return output


def _terminal_for(say: Progress | None) -> TextIO | None:
    # A redrawn status line only where netiso itself writes to a terminal: a caller's own
    # progress callback gets plain lines.
    return stderr_terminal() if say is None or say is _stderr else None


@dataclass(frozen=True)
class _Module:
    """What `go mod download -json` reports about one module version."""

    gomod: Path
    info: Path
    commit: str | None


def _download_module(go: str, *, module: str, log: Path, say: Progress) -> _Module:
    # `go mod download` wants a main module; a throwaway one keeps a half-written wrapper
    # go.mod from an earlier failed build out of the way.
    with tempfile.TemporaryDirectory(prefix="netiso-download-") as scratch:
        Path(scratch, "go.mod").write_text("module netiso.local/download\n")
        output = _go(
            go,
            ["mod", "download", "-json", module],
            cwd=Path(scratch),
            log=log,
            say=say,
            what=f"downloading {module}",
        )
    raw: dict[str, Any] = json.loads(output)
    if "Error" in raw or "GoMod" not in raw:
        raise BinariesError(f"module proxy could not serve {module}: {raw.get('Error')}")
    # Origin (with the tag's commit) is only present when fetched from the VCS directly.
    origin = raw.get("Origin") or {}
    return _Module(gomod=Path(raw["GoMod"]), info=Path(raw["Info"]), commit=origin.get("Hash"))


def _module_time(module: _Module) -> str:
    try:
        stamp = json.loads(module.info.read_text()).get("Time")
    except (OSError, ValueError):
        stamp = None
    if isinstance(stamp, str):
        return stamp
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _go_directive(gomod: Path) -> str | None:
    match = re.search(r"^go\s+(\S+)\s*$", gomod.read_text(), flags=re.MULTILINE)
    return match.group(1) if match else None


def _go_version(go: str) -> str:
    result = subprocess.run(
        [go, "env", "GOVERSION"], env=_go_env(), capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def _newest_patch(module: str, *, like: str) -> str:
    """The newest vX.Y.* of `module` that the proxy lists, X.Y taken from `like`."""
    major, minor, _ = _check_semver(like, what="pinned version")
    with tempfile.TemporaryDirectory(prefix="netiso-golist-") as scratch:
        Path(scratch, "go.mod").write_text("module netiso.local/versions\n")
        result = subprocess.run(
            [_go_binary(), "list", "-m", "-versions", module],
            cwd=scratch,
            env=_go_env(),
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise BinariesError(f"cannot list versions of {module}: {result.stderr.strip()}")
    patches = [
        _check_semver(v, what=module)[2]
        for v in result.stdout.split()[1:]
        if _SEMVER.match(v) and v.startswith(f"v{major}.{minor}.")
    ]
    if not patches:
        raise BinariesError(f"the module proxy lists no v{major}.{minor}.x of {module}")
    return f"v{major}.{minor}.{max(patches)}"


def _kubernetes_version(apiserver: Path) -> str:
    # Prints "Kubernetes v1.35.4".
    output = _run_version(apiserver)
    match = re.search(r"v\d+\.\d+\.\d+\S*", output)
    return match.group(0) if match else output.strip()


def _etcd_version(etcd: Path) -> str:
    # Prints "etcd Version: 3.6.16" on its first line.
    output = _run_version(etcd)
    match = re.search(r"etcd Version:\s*(\S+)", output)
    return f"v{match.group(1)}" if match else output.strip()


def _run_version(binary: Path) -> str:
    result = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    if result.returncode != 0:
        raise BinariesError(f"{binary} --version failed: {result.stderr.strip()}")
    return result.stdout


def _read_manifest(directory: Path, names: tuple[str, ...]) -> _Built | None:
    """The cache entry's record, or None when it is absent or incomplete."""
    try:
        raw = json.loads((directory / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not all(os.access(directory / name, os.X_OK) for name in names):
        return None
    return _Built(
        version=str(raw["version"]),
        go_version=raw.get("go_version"),
        source=str(raw["source"]),
        build_seconds=float(raw.get("build_seconds", 0)),
    )


def _write_manifest(directory: Path, built: _Built) -> None:
    (directory / _MANIFEST).write_text(json.dumps(asdict(built), indent=2) + "\n")


@contextmanager
def _build_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the cache while building; waits for a concurrent builder."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".build.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _stderr(f"netiso: another process is building into {root}; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _staging_dir(root: Path, *, name: str) -> Iterator[Path]:
    """A scratch directory next to the cache entry, removed unless it was published."""
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _publish(scratch: Path, target: Path) -> None:
    # rename(2) is atomic: readers see either no entry or a complete one. A stale, incomplete
    # entry (no manifest) is moved away first because rename cannot replace a full directory.
    if target.exists():
        shutil.rmtree(target)
    # mkdtemp made it private; the cache is meant to be readable like any other.
    scratch.chmod(0o755)
    scratch.rename(target)


def main() -> int:
    """Prebuild the cache and print what it holds; exit 1 with the reason if that fails."""
    started = time.monotonic()
    try:
        binaries = ensure_binaries()
    except BinariesError as error:
        _stderr(f"netiso: {error}")
        return 1
    print(binaries.describe())
    for field_name in ("kube_apiserver", "kube_controller_manager", "kubectl", "etcd"):
        print(f"  {field_name}: {getattr(binaries, field_name)}")
    print(f"  cache: {cache_dir()}")
    print(f"ready in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
