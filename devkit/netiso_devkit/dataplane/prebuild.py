"""`python -m netiso_devkit.dataplane.prebuild`: build and cache everything the dataplane runs.

kubelet, kube-scheduler, agnhost and pause (nodebuilds), the test-only kube-router (kuberouter)
and the OCI archives of the images; prints what it holds and the time taken. CI runs it before
pytest so a cold build shows as its own step. Part of netiso_devkit.dataplane.
"""

from __future__ import annotations

import sys
import time

from netiso_devkit.dataplane.images import agnhost_image, archive_for, pause_image
from netiso_devkit.dataplane.kuberouter import ensure_kube_router
from netiso_devkit.dataplane.nodebuilds import ensure_node_programs
from netiso_devkit.localcluster.binaries import cache_dir
from netiso_devkit.localcluster.gotoolchain import BinariesError, say_on_stderr


def main() -> int:
    """Build what the cache lacks; exit 1 with the reason if a build fails."""
    started = time.monotonic()
    try:
        programs = ensure_node_programs(progress=say_on_stderr)
        kube_router, _ = ensure_kube_router(progress=say_on_stderr)
    except BinariesError as error:
        say_on_stderr(f"netiso: {error}")
        return 1
    archives = [
        archive_for(pause_image(programs.pause), cache=cache_dir()),
        archive_for(agnhost_image(programs.agnhost), cache=cache_dir()),
    ]
    print(f"dataplane programs (Kubernetes {programs.kubernetes_version}):")
    for path in (programs.kubelet, programs.kube_scheduler, programs.agnhost, programs.pause):
        print(f"  {path}")
    print(f"  {kube_router} (test-only enforcer)")
    for archive in archives:
        print(f"  {archive}")
    print(f"ready in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
