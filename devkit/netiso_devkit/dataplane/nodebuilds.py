"""Build and cache the dataplane's programs: kubelet, kube-scheduler, agnhost and pause.

kubelet, kube-scheduler and agnhost come from k8s.io/kubernetes at the control plane's pinned
version through localcluster.binaries; pause is a tiny static Go program written here. Any Go
main package from the module proxy builds with build_go_module() (kuberouter.py uses it). Part
of netiso_devkit.dataplane; entries are cached like the control plane's (cacheentries.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from netiso_devkit.localcluster.binaries import cache_dir, ensure_kubernetes_programs
from netiso_devkit.localcluster.cacheentries import (
    Built,
    build_lock,
    publish,
    read_manifest,
    staging_dir,
    write_manifest,
)
from netiso_devkit.localcluster.gotoolchain import (
    go_binary,
    go_version_of,
    run_go,
    say_on_stderr,
)
from netiso_devkit.localcluster.progress import Progress

NODE_PROGRAMS: Final = {
    "kubelet": "k8s.io/kubernetes/cmd/kubelet",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "agnhost": "k8s.io/kubernetes/test/images/agnhost",
}
NODE_ENTRY: Final = "kubernetes-node"
PAUSE_VERSION: Final = "v1"
# The sandbox's init: holds the pod's namespaces, reaps zombies, exits on SIGINT/SIGTERM.
PAUSE_SOURCE: Final = """package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
"""


@dataclass(frozen=True)
class NodePrograms:
    """Paths of the dataplane's own programs and the Kubernetes version they were built at."""

    kubelet: Path
    kube_scheduler: Path
    agnhost: Path
    pause: Path
    kubernetes_version: str
    build_seconds: float


def ensure_node_programs(
    *, cache: Path | None = None, progress: Progress | None = None
) -> NodePrograms:
    """kubelet, kube-scheduler and agnhost (one Kubernetes build) and pause; built if missing."""
    root = cache or cache_dir()
    say = progress or say_on_stderr
    directory, built = ensure_kubernetes_programs(
        programs=NODE_PROGRAMS, entry=NODE_ENTRY, cache=root, progress=say
    )
    pause_dir, pause_built = build_go_module(
        root,
        entry=f"pause-{PAUSE_VERSION}",
        module=None,
        package=".",
        files={"main.go": PAUSE_SOURCE},
        program="pause",
        say=say,
    )
    return NodePrograms(
        kubelet=directory / "kubelet",
        kube_scheduler=directory / "kube-scheduler",
        agnhost=directory / "agnhost",
        pause=pause_dir / "pause",
        kubernetes_version=built.version,
        build_seconds=built.build_seconds + pause_built.build_seconds,
    )


def build_go_module(
    root: Path,
    *,
    entry: str,
    module: tuple[str, str] | None,
    package: str,
    program: str,
    files: Mapping[str, str] | None = None,
    go_directive: str = "1.22",
    say: Progress,
) -> tuple[Path, Built]:
    """The cache entry `entry` holding `program`, built from `package` if missing.

    `module` is (path, version) of a module from the proxy that holds `package`, or None when
    `files` are the program's whole source (written into the wrapper module, package ".").
    """
    target = root / entry
    cached = read_manifest(target, (program,))
    if cached is not None:
        return target, cached
    with build_lock(root):
        cached = read_manifest(target, (program,))
        if cached is not None:
            return target, cached
        go = go_binary()
        workdir = root / "build" / entry
        workdir.mkdir(parents=True, exist_ok=True)
        log = workdir / "build.log"
        started = time.monotonic()
        name = "netiso.local/pause" if module is None else f"netiso.local/{program}-build"
        requires = f"\nrequire {module[0]} {module[1]}\n" if module else ""
        (workdir / "go.mod").write_text(f"module {name}\n\ngo {go_directive}\n{requires}")
        for filename, text in (files or {}).items():
            (workdir / filename).write_text(text)
        say(f"netiso: building {program} ({entry}) from the Go module proxy (log: {log})")
        if module is not None:
            run_go(
                go,
                ["get", f"{package}@{module[1]}"],
                cwd=workdir,
                log=log,
                say=say,
                what=f"resolving {program} dependencies",
            )
        with staging_dir(root, name=entry) as out:
            run_go(
                go,
                [
                    "build",
                    "-v",
                    "-trimpath",
                    "-ldflags",
                    "-s -w",
                    "-o",
                    str(out / program),
                    package,
                ],
                cwd=workdir,
                log=log,
                say=say,
                what=f"compiling {program}",
            )
            built = Built(
                version=module[1] if module else entry,
                go_version=go_version_of(go),
                source="go-module-proxy",
                build_seconds=round(time.monotonic() - started, 1),
            )
            write_manifest(out, built)
            publish(out, target)
        say(f"netiso: built {program} in {built.build_seconds:.0f} s -> {target}")
        return target, built
