"""A one-node dataplane beside a running ControlPlane: containerd, kubelet, kube-scheduler and
(test-only) kube-router as the NetworkPolicy enforcer.

Dataplane.start() builds what the cache lacks, imports the images, registers the node and waits
until it is Ready and enforcing; stop() removes everything it created (sweeping.py). One
dataplane per machine at a time (a lock under /run): the bridge, pod CIDR and cgroup root are
fixed. Needs root. Part of netiso_devkit.dataplane, which knows nothing of the operator.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from netiso_devkit.dataplane import kuberouter, sweeping
from netiso_devkit.dataplane.apiforwarding import ApiServerRelay
from netiso_devkit.dataplane.images import (
    AGNHOST_IMAGE,
    PAUSE_IMAGE,
    agnhost_image,
    archive_for,
    ctr_binary,
    import_archive,
    pause_image,
)
from netiso_devkit.dataplane.nodebuilds import NodePrograms, ensure_node_programs
from netiso_devkit.dataplane.nodeconfigs import (
    NODE_NAME,
    NodePaths,
    cni_conflist,
    containerd_toml,
    kubelet_command,
    kubelet_yaml,
)
from netiso_devkit.dataplane.probing import Outcome, Target, probe_from
from netiso_devkit.localcluster.binaries import cache_dir
from netiso_devkit.localcluster.commandlines import SERVICE_CLUSTER_IP_RANGE
from netiso_devkit.localcluster.controlplane import ControlPlane
from netiso_devkit.localcluster.progress import Progress
from netiso_devkit.localcluster.supervising import free_ports, terminate

LOCK_FILE: Final = Path("/run/netiso-dataplane.lock")
# Names the state directory of the dataplane that holds the lock, for the next one to sweep
# if its owner was killed.
RECORD_FILE: Final = Path("/run/netiso-dataplane.json")
LOCK_WAIT_SECONDS: Final = 900.0
TEMP_PREFIX: Final = "netiso-dataplane-"
REQUIRED_COMMANDS: Final = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "nsenter",
                            "iptables", "ipset", "ip", "umount")  # fmt: skip
NODE_USER: Final = f"system:node:{NODE_NAME}"
SCHEDULER_USER: Final = "system:kube-scheduler"
_BINDINGS: Final = {
    "netiso-dp-node": ("system:node", NODE_USER),
    "netiso-dp-kube-router": ("netiso-dp-kube-router", kuberouter.USER),
}


class DataplaneError(RuntimeError):
    """The dataplane could not start; the message says why (with a log's tail)."""


@dataclass(frozen=True)
class Timings:
    """Seconds spent in each phase of start(), for benchmarks and reports."""

    builds: float
    images: float
    containerd: float
    kubelet: float
    enforcer: float
    total: float


class Dataplane:
    """One node for `plane`: start() / stop(), or a context manager.

    `enforcer` runs kube-router (test-only) so NetworkPolicies take effect; `scheduler` runs
    kube-scheduler and the Deployment controllers' pods get scheduled (pods with nodeName set
    need neither). Not thread-safe.
    """

    def __init__(
        self,
        plane: ControlPlane,
        *,
        enforcer: bool = True,
        scheduler: bool = True,
        progress: Progress | None = None,
    ) -> None:
        self._plane = plane
        self._with_enforcer = enforcer
        self._with_scheduler = scheduler
        self._say = progress or (lambda message: None)
        self._build_progress = progress
        self._lock: IO[str] | None = None
        self._paths: NodePaths | None = None
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, Path] = {}
        self._handles: list[IO[bytes]] = []
        self._api: client.ApiClient | None = None
        self._programs: NodePrograms | None = None
        self._kube_router: Path | None = None
        self.timings: Timings | None = None
        self._created: list[str] = []
        self._relay: ApiServerRelay | None = None

    # --- public surface ----------------------------------------------------------------------

    @property
    def node_name(self) -> str:
        return NODE_NAME

    @staticmethod
    def agnhost_image_name() -> str:
        """The image of every test pod: agnhost's servers and clients (and busybox's sh)."""
        return AGNHOST_IMAGE

    @property
    def paths(self) -> NodePaths:
        if self._paths is None:
            raise DataplaneError("the dataplane has not been started")
        return self._paths

    @property
    def log_files(self) -> Mapping[str, Path]:
        return dict(self._logs)

    @property
    def pids(self) -> Mapping[str, int]:
        return {name: p.pid for name, p in self._processes.items() if p.poll() is None}

    @property
    def enforcing(self) -> bool:
        process = self._processes.get("kube-router")
        return process is not None and process.poll() is None

    def log_tail(self, name: str, *, lines: int = 40) -> str:
        path = self._logs.get(name)
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def start(self, *, timeout: float = 180.0) -> None:
        """Start every component and return once the node is Ready (and kube-router enforces).

        `timeout` excludes building missing programs (minutes on a cold cache) and waiting
        for another dataplane on this machine to stop (up to LOCK_WAIT_SECONDS).
        """
        _check_host()
        # Another dataplane (a test run beside this one) is waited for, up to LOCK_WAIT_SECONDS.
        self._acquire_lock(timeout=max(timeout, LOCK_WAIT_SECONDS))
        try:
            self._start(timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every component and remove all the dataplane created. Idempotent."""
        for name in ("kube-router", "kube-scheduler", "kubelet"):
            process = self._processes.pop(name, None)
            if process is not None:
                terminate(process)
        self._delete_node()
        if self._relay is not None:
            self._relay.stop()
            self._relay = None
        containerd = self._processes.pop("containerd", None)
        paths = self._paths
        if paths is not None:
            sweeping.sweep(None, containerd_socket=paths.containerd_socket)
        if containerd is not None:
            terminate(containerd)
        for handle in self._handles:
            handle.close()
        self._handles.clear()
        if paths is not None:
            sweeping.sweep(
                paths.root, containerd_socket=paths.containerd_socket, created=self._created
            )
            shutil.rmtree(paths.root, ignore_errors=True)
            self._paths = None
        if self._api is not None:
            self._api.close()
            self._api = None
        RECORD_FILE.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        atexit.unregister(self.stop)

    def __enter__(self) -> Dataplane:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop_enforcer(self) -> None:
        """Stop kube-router and remove its rules: from now on every connection is open."""
        process = self._processes.pop("kube-router", None)
        if process is not None:
            terminate(process)
        kuberouter.sweep_firewall()

    def start_enforcer(self, *, timeout: float = 60.0) -> None:
        """Start kube-router (again) and wait until its chains are in place."""
        if self.enforcing:
            return
        kubeconfig = self._plane.user_kubeconfig(kuberouter.USER)
        binary = (
            self._kube_router or kuberouter.ensure_kube_router(progress=self._build_progress)[0]
        )
        self._kube_router = binary
        self._spawn(
            "kube-router",
            kuberouter.command(
                binary,
                kubeconfig=kubeconfig,
                node_name=NODE_NAME,
                service_range=SERVICE_CLUSTER_IP_RANGE,
            ),
        )
        self._wait("kube-router", timeout=timeout, probe=_firewall_in_place)

    def sandbox_pid(self, namespace: str, name: str) -> int:
        """The pid of the running sandbox (pause) of pod namespace/name, from containerd."""
        ctr = [ctr_binary(), "--address", str(self.paths.containerd_socket), "-n", "k8s.io"]
        labels = (
            'labels."io.cri-containerd.kind"==sandbox,'
            f'labels."io.kubernetes.pod.namespace"=={namespace},'
            f'labels."io.kubernetes.pod.name"=={name}'
        )
        ids = _output([*ctr, "containers", "list", "-q", labels]).split()
        tasks = {}
        for line in _output([*ctr, "tasks", "list"]).splitlines()[1:]:
            task, pid, status = line.split()[:3]
            tasks[task] = (int(pid), status)
        running = [tasks[i][0] for i in ids if tasks.get(i, (0, ""))[1] == "RUNNING"]
        if not running:
            raise DataplaneError(f"no running sandbox for pod {namespace}/{name}")
        return running[-1]

    def probe(
        self, namespace: str, name: str, targets: Sequence[Target], *, timeout: float = 1.5
    ) -> list[Outcome]:
        """Probe `targets` from inside pod namespace/name's network namespace, all at once."""
        return probe_from(self.sandbox_pid(namespace, name), targets, timeout=timeout)

    def probe_all(
        self,
        plan: Mapping[tuple[str, str], Sequence[Target]],
        *,
        timeout: float = 1.5,
    ) -> dict[tuple[str, str], list[Outcome]]:
        """Probe from many pods at once: (namespace, name) of the source -> its targets."""
        pids = {source: self.sandbox_pid(*source) for source in plan}
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(plan)))) as pool:
            futures = {
                source: pool.submit(probe_from, pids[source], targets, timeout=timeout)
                for source, targets in plan.items()
            }
            return {source: future.result() for source, future in futures.items()}

    def run_pods(
        self, pods: Sequence[Mapping[str, Any]], *, timeout: float = 60.0
    ) -> dict[tuple[str, str], str]:
        """Create `pods` and wait until each runs with every container ready; returns
        (namespace, name) -> pod IP."""
        core = client.CoreV1Api(self._client())
        for pod in pods:
            core.create_namespaced_pod(pod["metadata"]["namespace"], dict(pod))
        wanted = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods]
        addresses: dict[tuple[str, str], str] = {}
        deadline = time.monotonic() + timeout
        while len(addresses) < len(wanted):
            for namespace, name in wanted:
                if (namespace, name) in addresses:
                    continue
                status = core.read_namespaced_pod(name, namespace).status
                statuses = status.container_statuses or []
                if (
                    status.phase == "Running"
                    and status.pod_ip
                    and statuses
                    and all(c.ready for c in statuses)
                ):
                    addresses[(namespace, name)] = status.pod_ip
            if len(addresses) < len(wanted):
                if time.monotonic() > deadline:
                    missing = sorted(set(wanted) - set(addresses))
                    raise DataplaneError(
                        f"pods not running after {timeout:.0f} s: {missing}; kubelet log:\n"
                        f"{self.log_tail('kubelet')}"
                    )
                time.sleep(0.2)
        return addresses

    # --- starting ----------------------------------------------------------------------------

    def _start(self, *, timeout: float) -> None:
        started = time.monotonic()
        self._programs = programs = ensure_node_programs(progress=self._build_progress)
        if self._with_enforcer:
            self._kube_router = kuberouter.ensure_kube_router(progress=self._build_progress)[0]
        cache = cache_dir()
        archives = [
            archive_for(pause_image(programs.pause), cache=cache),
            archive_for(agnhost_image(programs.agnhost), cache=cache),
        ]
        built = time.monotonic()
        deadline = built + timeout
        root = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        root.chmod(0o755)
        self._paths = paths = NodePaths(root)
        self._created = sweeping.host_paths_absent()
        record = {"root": str(root), "pid": os.getpid(), "created": self._created}
        RECORD_FILE.write_text(json.dumps(record) + "\n")
        atexit.register(self.stop)
        paths.make()
        paths.containerd_config.write_text(containerd_toml(paths, sandbox_image=PAUSE_IMAGE))
        (paths.cni_config_dir / "10-netiso-dp.conflist").write_text(cni_conflist(paths))
        # No nameserver: pods resolve nothing, and nothing leads off this machine.
        paths.resolv_conf.write_text("options ndots:1\n")
        sweeping.make_cgroups()

        self._say("netiso: starting containerd")
        self._spawn("containerd", ["containerd", "--config", str(paths.containerd_config)])
        self._wait(
            "containerd",
            timeout=deadline - time.monotonic(),
            probe=lambda: _containerd_ready(paths.containerd_socket),
        )
        images_started = time.monotonic()
        for archive in archives:
            import_archive(archive, ctr=ctr_binary(), address=paths.containerd_socket)
        images = time.monotonic() - images_started
        # Pods reach the API server through the `kubernetes` Service, as in a cluster.
        self._relay = ApiServerRelay(port=int(self._plane.server.rsplit(":", 1)[1]))
        self._relay.start()
        containerd_done = time.monotonic()

        self._say(f"netiso: starting kubelet {programs.kubernetes_version} as node {NODE_NAME}")
        self._grant_rbac()
        kubelet_port, healthz_port, scheduler_port = free_ports(3)
        paths.kubelet_config.write_text(
            kubelet_yaml(
                paths,
                client_ca=self._plane.ca_certificate,
                port=kubelet_port,
                healthz_port=healthz_port,
            )
        )
        node_kubeconfig = self._plane.user_kubeconfig(NODE_USER, groups=("system:nodes",))
        self._spawn(
            "kubelet",
            kubelet_command(programs.kubelet, paths=paths, kubeconfig=node_kubeconfig),
        )
        self._wait("kubelet", timeout=deadline - time.monotonic(), probe=self._node_ready)
        if self._with_scheduler:
            scheduler_kubeconfig = self._plane.user_kubeconfig(SCHEDULER_USER)
            self._spawn(
                "kube-scheduler",
                [
                    str(programs.kube_scheduler),
                    f"--kubeconfig={scheduler_kubeconfig}",
                    f"--authentication-kubeconfig={scheduler_kubeconfig}",
                    f"--authorization-kubeconfig={scheduler_kubeconfig}",
                    "--authentication-skip-lookup",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={scheduler_port}",
                    "--leader-elect=false",
                ],
            )
        kubelet_done = time.monotonic()
        if self._with_enforcer:
            self._say(f"netiso: starting kube-router {kuberouter.VERSION} (firewall only)")
            self.start_enforcer(timeout=deadline - time.monotonic())
        done = time.monotonic()
        self.timings = Timings(
            builds=round(built - started, 2),
            images=round(images, 2),
            containerd=round(containerd_done - built, 2),
            kubelet=round(kubelet_done - containerd_done, 2),
            enforcer=round(done - kubelet_done, 2),
            total=round(done - started, 2),
        )

    def _acquire_lock(self, *, timeout: float) -> None:
        handle = LOCK_FILE.open("w")
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    self._say(f"netiso: another dataplane runs here ({LOCK_FILE}); waiting")
                    waited = True
                if time.monotonic() > deadline:
                    handle.close()
                    raise DataplaneError(
                        f"another dataplane runs on this machine (lock {LOCK_FILE})"
                    ) from None
                time.sleep(1)
        self._lock = handle
        # Whoever held the lock before was killed without its teardown: do it now.
        with contextlib.suppress(OSError, ValueError, KeyError):
            record = json.loads(RECORD_FILE.read_text())
            previous = NodePaths(Path(record["root"]))
            sweeping.sweep(
                previous.root,
                containerd_socket=previous.containerd_socket,
                created=record.get("created", []),
            )
            shutil.rmtree(previous.root, ignore_errors=True)
        sweeping.sweep(None, containerd_socket=None)

    def _client(self) -> client.ApiClient:
        if self._api is None:
            self._api = config.new_client_from_config(str(self._plane.admin_kubeconfig))
        return self._api

    def _grant_rbac(self) -> None:
        rbac = client.RbacAuthorizationV1Api(self._client())
        with contextlib.suppress(ApiException):
            rbac.create_cluster_role(kuberouter.CLUSTER_ROLE)
        for name, (role, user) in _BINDINGS.items():
            body = {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                              "name": user}],
            }  # fmt: skip
            with contextlib.suppress(ApiException):
                rbac.create_cluster_role_binding(body)

    def _node_ready(self) -> bool:
        try:
            node = client.CoreV1Api(self._client()).read_node(NODE_NAME)
        except ApiException:
            return False
        conditions = node.status.conditions or []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    def _delete_node(self) -> None:
        if self._api is None:
            return
        with contextlib.suppress(ApiException, OSError):
            client.CoreV1Api(self._api).delete_node(NODE_NAME, _request_timeout=5)

    def _spawn(self, name: str, args: list[str]) -> None:
        log_path = self.paths.logs / f"{name}.log"
        handle = log_path.open("ab")
        self._handles.append(handle)
        self._logs[name] = log_path
        self._processes[name] = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=self.paths.root,
            start_new_session=True,
        )

    def _wait(self, name: str, *, timeout: float, probe: Callable[[], bool]) -> None:
        process = self._processes[name]
        deadline = time.monotonic() + max(timeout, 1.0)
        while not probe():
            if process.poll() is not None:
                raise DataplaneError(
                    f"{name} exited with code {process.returncode} while starting; "
                    f"log {self._logs[name]}:\n{self.log_tail(name)}"
                )
            if time.monotonic() > deadline:
                raise DataplaneError(
                    f"{name} was not ready in time; log {self._logs[name]}:\n{self.log_tail(name)}"
                )
            time.sleep(0.2)


def sweep_abandoned() -> list[str]:
    """Tear down a dataplane whose owner died (SIGKILL); nothing while one is alive.

    Returns what was removed; `netiso cluster down` calls it after stopping its runner.
    """
    with LOCK_FILE.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []
        try:
            record = json.loads(RECORD_FILE.read_text())
        except (OSError, ValueError):
            return []
        previous = NodePaths(Path(record["root"]))
        removed = sweeping.sweep(
            previous.root,
            containerd_socket=previous.containerd_socket,
            created=record.get("created", []),
        )
        shutil.rmtree(previous.root, ignore_errors=True)
        RECORD_FILE.unlink(missing_ok=True)
        return removed


def agnhost_pod(
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    tcp_ports: Sequence[int] = (),
    udp_port: int | None = None,
    named_ports: Mapping[str, tuple[int, str]] | None = None,
) -> dict[str, Any]:
    """A pod on the kit's node serving `tcp_ports` (agnhost porter) and `udp_port` (agnhost
    netexec's UDP echo, whose HTTP side listens on 65000). Named ports are declared on the
    first container: name -> (port, protocol)."""
    containers: list[dict[str, Any]] = []
    declared = [
        {"name": port_name, "containerPort": port, "protocol": protocol}
        for port_name, (port, protocol) in (named_ports or {}).items()
    ]
    base = {"image": AGNHOST_IMAGE, "imagePullPolicy": "Never"}
    if tcp_ports:
        containers.append(
            {
                **base,
                "name": "tcp",
                "args": ["porter"],
                "env": [{"name": f"SERVE_PORT_{port}", "value": "netiso"} for port in tcp_ports],
            }
        )
    if udp_port is not None:
        containers.append(
            {
                **base,
                "name": "udp",
                "args": ["netexec", "--http-port=65000", f"--udp-port={udp_port}"],
            }
        )
    if not containers:
        containers.append({**base, "name": "idle", "args": ["pause"]})
    if declared:
        containers[0]["ports"] = declared
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "nodeName": NODE_NAME,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 0,
            "containers": containers,
        },
    }


def _check_host() -> None:
    if os.geteuid() != 0:
        raise DataplaneError("the dataplane needs root (containerd, kubelet, iptables)")
    missing = [name for name in REQUIRED_COMMANDS if shutil.which(name) is None]
    if missing:
        raise DataplaneError(
            f"missing {', '.join(missing)}: run .ci/install-system-deps.sh (Debian containerd, "
            "runc, containernetworking-plugins, iptables, ipset)"
        )


def _containerd_ready(socket: Path) -> bool:
    if not socket.exists():
        return False
    result = subprocess.run(
        [ctr_binary(), "--address", str(socket), "version"],
        capture_output=True,
        check=False,
        timeout=10,
    )
    return result.returncode == 0


def _firewall_in_place() -> bool:
    result = subprocess.run(
        ["iptables", "-t", "filter", "-S", "KUBE-ROUTER-FORWARD"],
        capture_output=True,
        check=False,
        timeout=10,
    )
    return result.returncode == 0


def _output(args: list[str]) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)
    if result.returncode != 0:
        raise DataplaneError(f"{' '.join(args[:1])} failed: {result.stderr.strip()}")
    return result.stdout
