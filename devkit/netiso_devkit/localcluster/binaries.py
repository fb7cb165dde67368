"""Build and cache the local control plane's binaries: kube-apiserver, controller-manager, etcd.

Kubernetes (with kubectl) and etcd are compiled from the Go module proxy through generated
wrapper modules and cached by version; Debian's etcd-server is the fallback for etcd (go runs
in gotoolchain.py, KUBEBUILDER_ASSETS and versions in assets.py, entries in cacheentries.py).
Part of netiso_devkit.localcluster, which knows nothing of the operator. Run as
`python -m netiso_devkit.localcluster.binaries` to prebuild the cache (CI does this before pytest).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from netiso_devkit.localcluster.assets import (
    KUBEBUILDER_ASSETS_ENV,
    etcd_version_of,
    kubebuilder_assets,
    release_of,
    usable_assets,
)
from netiso_devkit.localcluster.cacheentries import (
    Built,
    build_lock,
    publish,
    read_manifest,
    staging_dir,
    write_manifest,
)
from netiso_devkit.localcluster.gotoolchain import (
    BinariesError as BinariesError,
)
from netiso_devkit.localcluster.gotoolchain import (
    check_semver,
    download_module,
    go_binary,
    go_directive_of,
    go_version_of,
    module_time,
    newest_patch,
    run_go,
    say_on_stderr,
    staging_modules,
)
from netiso_devkit.localcluster.progress import Progress

# Pinned rather than resolved on every run: a new upstream patch would otherwise trigger a
# 20-minute rebuild in the middle of a CI run. Override with the environment variables below;
# the value "latest" resolves the newest patch of the pinned minor from the module proxy.
KUBERNETES_VERSION: Final = "v1.35.4"
ETCD_VERSION: Final = "v3.6.16"
KUBERNETES_VERSION_ENV: Final = "NETISO_KUBERNETES_VERSION"
ETCD_VERSION_ENV: Final = "NETISO_ETCD_VERSION"
CACHE_DIR_ENV: Final = "NETISO_CACHE_DIR"

KUBERNETES_COMMANDS: Final = ("kube-apiserver", "kube-controller-manager", "kubectl")
ETCD_MAIN_MODULE: Final = "go.etcd.io/etcd/server/v3"
# Debian's etcd-server package installs the server here (3.4.x on bookworm).
DEBIAN_ETCD: Final = Path("/usr/bin/etcd")

EtcdSource = Literal["go-module-proxy", "debian-etcd-server", "kubebuilder-assets"]
KubernetesSource = Literal["go-module-proxy", "kubebuilder-assets"]


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
    say = progress or say_on_stderr
    root = cache or cache_dir()
    assets = kubebuilder_assets()
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


def ensure_kubernetes_programs(
    *,
    programs: Mapping[str, str],
    entry: str,
    cache: Path | None = None,
    progress: Progress | None = None,
) -> tuple[Path, Built]:
    """The cache entry `entry`-<version> holding `programs` (name -> Go package of
    k8s.io/kubernetes) built at the control plane's Kubernetes version; built if missing.

    For kits beside the control plane (the dataplane's kubelet, kube-scheduler and agnhost):
    same version pin, wrapper module, build flags, lock and cache as ensure_binaries().
    """
    return _ensure_kubernetes(
        cache or cache_dir(),
        version=None,
        say=progress or say_on_stderr,
        commands=tuple(programs),
        entry=entry,
        packages=programs,
    )


def _ensure_kubernetes(
    root: Path,
    *,
    version: str | None,
    say: Progress,
    commands: tuple[str, ...] = KUBERNETES_COMMANDS,
    entry: str = "kubernetes",
    packages: Mapping[str, str] | None = None,
) -> tuple[Path, Built]:
    """The cache entry holding `commands` at `version`, built if missing.

    An entry built for fewer commands (a controller-manager to go with KUBEBUILDER_ASSETS) is
    rebuilt whole when more are asked of it; one with all of them serves any subset.
    `packages` maps a command to its Go package (default: k8s.io/kubernetes/cmd/<command>).
    """
    wanted = version or os.environ.get(KUBERNETES_VERSION_ENV) or KUBERNETES_VERSION
    if wanted == "latest":
        wanted = newest_patch("k8s.io/kubernetes", like=KUBERNETES_VERSION)
    check_semver(wanted, what="Kubernetes version")
    target = root / f"{entry}-{wanted}"
    cached = read_manifest(target, commands)
    if cached is not None:
        return target, cached
    wanted_packages = [
        (packages or {}).get(name, f"k8s.io/kubernetes/cmd/{name}") for name in commands
    ]
    with build_lock(root):
        # Another process may have finished the build while this one waited for the lock.
        cached = read_manifest(target, commands)
        if cached is not None:
            return target, cached
        built = _build_kubernetes(
            root, target=target, version=wanted, packages=wanted_packages, say=say
        )
        return target, built


def _build_kubernetes(
    root: Path, *, target: Path, version: str, packages: list[str], say: Progress
) -> Built:
    go = go_binary()
    workdir = root / "build" / f"kubernetes-{version}"
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "build.log"
    say(f"netiso: building Kubernetes {version} from the Go module proxy (log: {log})")
    started = time.monotonic()
    info = download_module(go, module=f"k8s.io/kubernetes@{version}", log=log, say=say)
    staging = staging_modules(info.gomod)
    _write_kubernetes_wrapper(workdir, version=version, staging=staging)
    run_go(
        go,
        ["get", *(f"{p}@{version}" for p in packages)],
        cwd=workdir,
        log=log,
        say=say,
        what=f"resolving Kubernetes {version} dependencies",
    )
    major, minor, _ = check_semver(version, what="Kubernetes version")
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
            f"-X {stamp}.buildDate={module_time(info)}",
            "-s -w",
        ]
    )
    names = ", ".join(package.rsplit("/", 1)[-1] for package in packages)
    say(f"netiso: compiling {names} (cold Go cache: ~6-8 min on 2 cores)")
    with staging_dir(root, name=target.name) as out:
        # One invocation for all commands shares the compile work between them; -v names each
        # package as it is compiled, which the heartbeat shows.
        run_go(
            go,
            ["build", "-v", "-trimpath", "-ldflags", ldflags, "-o", f"{out}{os.sep}", *packages],
            cwd=workdir,
            log=log,
            say=say,
            what=f"compiling {names} {version}",
        )
        built = _record_build(go, out=out, target=target, version=version, started=started)
    say(f"netiso: built Kubernetes {version} in {built.build_seconds:.0f} s -> {target}")
    return built


def _write_kubernetes_wrapper(workdir: Path, *, version: str, staging: list[str]) -> None:
    # Each staging module is published as its own module at v0.<minor>.<patch>.
    _, minor, patch = check_semver(version, what="Kubernetes version")
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
) -> tuple[Path, Built, EtcdSource]:
    wanted = version or os.environ.get(ETCD_VERSION_ENV) or ETCD_VERSION
    if wanted == "latest":
        wanted = newest_patch(ETCD_MAIN_MODULE, like=ETCD_VERSION)
    check_semver(wanted, what="etcd version")
    target = root / f"etcd-{wanted}"
    cached = read_manifest(target, ("etcd",))
    if cached is None:
        with build_lock(root):
            cached = read_manifest(target, ("etcd",))
            if cached is None:
                try:
                    cached = _build_etcd(root, target=target, version=wanted, say=say)
                except BinariesError as error:
                    say(f"netiso: etcd {wanted} did not build ({error}); trying Debian etcd-server")
                    return _debian_etcd(say)
    return target / "etcd", cached, "go-module-proxy"


def _record_build(go: str, *, out: Path, target: Path, version: str, started: float) -> Built:
    """Write the manifest of a finished build into `out` and publish it as `target`."""
    built = Built(
        version=version,
        go_version=go_version_of(go),
        source="go-module-proxy",
        build_seconds=round(time.monotonic() - started, 1),
    )
    write_manifest(out, built)
    publish(out, target)
    return built


def _build_etcd(root: Path, *, target: Path, version: str, say: Progress) -> Built:
    go = go_binary()
    workdir = root / "build" / f"etcd-{version}"
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "build.log"
    say(f"netiso: building etcd {version} from the Go module proxy (log: {log})")
    started = time.monotonic()
    info = download_module(go, module=f"{ETCD_MAIN_MODULE}@{version}", log=log, say=say)
    # etcd's server module names the Go release it needs; the wrapper must ask for no less.
    go_directive = go_directive_of(info.gomod) or "1.24"
    (workdir / "go.mod").write_text(
        f"module netiso.local/etcd-build\n\ngo {go_directive}\n\n"
        f"require {ETCD_MAIN_MODULE} {version}\n"
    )
    run_go(
        go,
        ["get", f"{ETCD_MAIN_MODULE}@{version}"],
        cwd=workdir,
        log=log,
        say=say,
        what=f"resolving etcd {version} dependencies",
    )
    ldflags = f"-X go.etcd.io/etcd/api/v3/version.GitSHA=go-proxy-{version} -s -w"
    with staging_dir(root, name=target.name) as out:
        binary = str(out / "etcd")
        run_go(
            go,
            ["build", "-v", "-trimpath", "-ldflags", ldflags, "-o", binary, ETCD_MAIN_MODULE],
            cwd=workdir,
            log=log,
            say=say,
            what=f"compiling etcd {version}",
        )
        built = _record_build(go, out=out, target=target, version=version, started=started)
    say(f"netiso: built etcd {version} in {built.build_seconds:.0f} s -> {target}")
    return built


def _debian_etcd(say: Progress) -> tuple[Path, Built, EtcdSource]:
    found = shutil.which("etcd") or (str(DEBIAN_ETCD) if DEBIAN_ETCD.exists() else None)
    if found is None:
        raise BinariesError(
            "etcd could not be built and no etcd is installed; "
            "run `NETISO_ETCD_FALLBACK=1 .ci/install-system-deps.sh` (installs Debian etcd-server)"
        )
    version = etcd_version_of(Path(found))
    say(f"netiso: using etcd {version} from {found} (Debian etcd-server)")
    built = Built(version=version, go_version=None, source="debian-etcd-server", build_seconds=0)
    return Path(found), built, "debian-etcd-server"


def _from_assets(assets: Path, *, cache: Path, etcd_version: str | None, say: Progress) -> Binaries:
    """The binaries in `assets` as they are, plus whatever is missing there, built (or taken
    from the cache) at exactly the assets' kube-apiserver version."""
    version, found = usable_assets(assets, commands=KUBERNETES_COMMANDS, say=say)
    release = release_of(version)
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
        etcd_path, etcd_release = etcd, etcd_version_of(etcd)
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


def main() -> int:
    """Prebuild the cache and print what it holds; exit 1 with the reason if that fails."""
    started = time.monotonic()
    try:
        binaries = ensure_binaries()
    except BinariesError as error:
        say_on_stderr(f"netiso: {error}")
        return 1
    print(binaries.describe())
    for field_name in ("kube_apiserver", "kube_controller_manager", "kubectl", "etcd"):
        print(f"  {field_name}: {getattr(binaries, field_name)}")
    print(f"  cache: {cache_dir()}")
    print(f"ready in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
