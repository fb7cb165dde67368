"""The dataplane's configuration files: containerd, kubelet, the CNI network. Pure.

Values checked on a 2-core VM with kernel 6.18 and cgroup v1 (why each setting is there is said
next to it). Pods get a bridge in the kit's own CIDR with no gateway, no masquerade and no
default route, so they reach nothing off this machine. Part of netiso_devkit.dataplane.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml

from netiso_devkit.localcluster.commandlines import SERVICE_CLUSTER_IP_RANGE

NODE_NAME: Final = "netiso-dp"
BRIDGE: Final = "netiso-dp0"
POD_CIDR: Final = "10.244.0.0/24"
# The bridge's host address: where pods find the API server relay (apiforwarding.py).
GATEWAY: Final = "10.244.0.1"
# The kit's own cgroup below every v1 hierarchy; kubelet puts its pods there.
CGROUP_ROOT: Final = "/netiso-dp"
CNI_BIN_DIR: Final = Path("/usr/lib/cni")
RUNC: Final = Path("/usr/sbin/runc")


@dataclass(frozen=True)
class NodePaths:
    """Where one dataplane keeps its files: all below `root`, removed by its teardown."""

    root: Path

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def cni_config_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet" / "config.yaml"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet" / "root"

    @property
    def kubelet_certs(self) -> Path:
        return self.root / "kubelet" / "pki"

    @property
    def resolv_conf(self) -> Path:
        return self.root / "kubelet" / "resolv.conf"

    @property
    def pod_logs(self) -> Path:
        return self.root / "kubelet" / "pod-logs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def make(self) -> None:
        for directory in (
            self.containerd_root,
            self.containerd_state,
            self.cni_config_dir,
            self.cni_ipam_dir,
            self.kubelet_root,
            self.kubelet_certs,
            self.pod_logs,
            self.logs,
        ):
            directory.mkdir(parents=True, exist_ok=True)


def containerd_toml(paths: NodePaths, *, sandbox_image: str) -> str:
    """containerd 1.6 with only the CRI plugin's needs, every file under `paths.root`."""
    disabled = [
        "io.containerd.snapshotter.v1.aufs",
        "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.zfs",
        "io.containerd.snapshotter.v1.devmapper",
        "io.containerd.internal.v1.tracing",
        "io.containerd.tracing.processor.v1.otlp",
    ]
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return "\n".join(
        [
            "version = 2",
            f"root = {json.dumps(str(paths.containerd_root))}",
            f"state = {json.dumps(str(paths.containerd_state))}",
            f"disabled_plugins = {json.dumps(disabled)}",
            "",
            "[grpc]",
            f"  address = {json.dumps(str(paths.containerd_socket))}",
            "",
            '[plugins."io.containerd.internal.v1.opt"]',
            f"  path = {json.dumps(str(paths.root / 'containerd' / 'opt'))}",
            "",
            f"[{cri}]",
            f"  sandbox_image = {json.dumps(sandbox_image)}",
            "  enable_selinux = false",
            # Network namespaces are bind-mounted below the state dir, which teardown sweeps.
            "  netns_mounts_under_state_dir = true",
            # The VM withholds CAP_SYS_RESOURCE: without this runc cannot set a sandbox's
            # oom_score_adj of -998 and every sandbox fails ("can't get final child's PID").
            "  restrict_oom_score_adj = true",
            f"  [{cri}.containerd]",
            '    snapshotter = "overlayfs"',
            '    default_runtime_name = "runc"',
            f"    [{cri}.containerd.runtimes.runc]",
            '      runtime_type = "io.containerd.runc.v2"',
            f"      [{cri}.containerd.runtimes.runc.options]",
            "        SystemdCgroup = false",
            f"        BinaryName = {json.dumps(str(RUNC))}",
            f"  [{cri}.cni]",
            f"    bin_dir = {json.dumps(str(CNI_BIN_DIR))}",
            f"    conf_dir = {json.dumps(str(paths.cni_config_dir))}",
            "    max_conf_num = 1",
            "",
        ]
    )


def cni_conflist(paths: NodePaths) -> str:
    """bridge + host-local in POD_CIDR: no gateway and no masquerade, so no default route."""
    first = POD_CIDR.rsplit(".", 1)[0]
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": "netiso-dp-pods",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": False,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR, "gateway": f"{first}.1"}]],
                        # Only the Service range, never a default route: the ClusterIP of
                        # the `kubernetes` Service works, nothing off the machine does.
                        "routes": [{"dst": SERVICE_CLUSTER_IP_RANGE, "gw": GATEWAY}],
                        "dataDir": str(paths.cni_ipam_dir),
                    },
                }
            ],
        },
        indent=2,
    )


def kubelet_yaml(paths: NodePaths, *, client_ca: Path, port: int, healthz_port: int) -> str:
    """kubelet on 127.0.0.1, cgroup v1 through cgroupfs below CGROUP_ROOT, no image GC."""
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # kubelet 1.35 refuses cgroup v1 without this; a pure cgroup2 mount is not possible here.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": CGROUP_ROOT,
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        "address": "127.0.0.1",
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "port": port,
        "readOnlyPort": 0,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "failSwapOn": False,
        # kubelet's own KUBE-FIREWALL/KUBE-KUBELET-CANARY chains would change the host's INPUT
        # and OUTPUT; nothing here needs them (no kube-proxy, no hostPort).
        "makeIPTablesUtilChains": False,
        "resolvConf": str(paths.resolv_conf),
        "podLogsDir": str(paths.pod_logs),
        "maxPods": 40,
        # Images are imported, never pulled: garbage-collecting them would lose them for good.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "serializeImagePulls": False,
        "registerNode": True,
        "nodeStatusReportFrequency": "1m",
        "syncFrequency": "10s",
        "fileCheckFrequency": "20s",
    }
    return yaml.safe_dump(config, sort_keys=False)


def kubelet_command(kubelet: Path, *, paths: NodePaths, kubeconfig: Path) -> list[str]:
    return [
        str(kubelet),
        f"--config={paths.kubelet_config}",
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={NODE_NAME}",
        f"--root-dir={paths.kubelet_root}",
        f"--cert-dir={paths.kubelet_certs}",
        "--v=1",
    ]
