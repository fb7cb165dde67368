"""Run etcd, kube-apiserver and kube-controller-manager on 127.0.0.1 as one ControlPlane.

Owns the processes (each in its own process group, stopped on exit, Ctrl-C and SIGTERM), their
log files, the PKI and the kubeconfigs (plumbing in supervising.py, flags in commandlines.py,
files in kubeconfigs.py). No nodes, no scheduler: enough API server for an operator and its
tests. Part of netiso_devkit.localcluster, which knows nothing of the operator.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Final, TypeVar

import yaml

from netiso_devkit.localcluster.binaries import Binaries, ensure_binaries
from netiso_devkit.localcluster.certificates import (
    CertificateAuthority,
    KeyPair,
    make_service_account_keys,
)
from netiso_devkit.localcluster.commandlines import (
    CONTROLLERS,
    Ports,
    apiserver_command,
    controller_manager_command,
    etcd_command,
)
from netiso_devkit.localcluster.kubeconfigs import write_kubeconfig
from netiso_devkit.localcluster.progress import Progress
from netiso_devkit.localcluster.supervising import (
    OWNER_FILE,
    TEMP_PREFIX,
    die_with_parent,
    etcd_healthy,
    free_ports,
    https_ok,
    in_main_thread,
    interrupt_on_sigterm,
    remove_orphaned_state_dirs,
    terminate,
)

ADMIN_USER: Final = "netiso-admin"
ADMIN_GROUP: Final = "system:masters"
CONTROLLER_MANAGER_USER: Final = "system:kube-controller-manager"
# The first address of the service range is the `kubernetes` Service's ClusterIP.
SERVICE_CLUSTER_FIRST_IP: Final = "10.0.0.1"
COMPONENTS: Final = ("etcd", "kube-apiserver", "kube-controller-manager")
# Audit only NetworkPolicy requests, at Metadata level: enough to see what admission policies
# record (audit annotations, Audit-mode validation failures) without logging every request.
# And the admission bindings, the other objects the operator writes: who made them.
AUDIT_POLICY: Final = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {
            "level": "Metadata",
            "resources": [
                {"group": "networking.k8s.io", "resources": ["networkpolicies"]},
                {
                    "group": "admissionregistration.k8s.io",
                    "resources": ["validatingadmissionpolicybindings"],
                },
            ],
        },
        {"level": "None"},
    ],
}

_T = TypeVar("_T")


class ControlPlaneError(RuntimeError):
    """A component failed to start or become ready; the message carries its log's tail."""


class ControlPlane:
    """A real, local Kubernetes control plane; use as a context manager or start()/stop().

    `state_dir` None means a fresh temporary directory that stop() removes; a given directory
    is created if needed and left in place (its owner removes it). Binaries default to
    ensure_binaries(), which builds them on first use. `controllers` are the
    kube-controller-manager controllers to run (commandlines.CONTROLLERS by default).
    Not thread-safe; start() once per object.
    """

    def __init__(
        self,
        *,
        binaries: Binaries | None = None,
        state_dir: Path | None = None,
        progress: Progress | None = None,
        controllers: Sequence[str] = CONTROLLERS,
    ) -> None:
        self._binaries = binaries
        self._controllers = tuple(controllers)
        self._given_state_dir = state_dir
        self._state_dir: Path | None = None
        self._build_progress = progress
        self._progress = progress or (lambda message: None)
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._log_handles: list[IO[bytes]] = []
        self._log_files: dict[str, Path] = {}
        self._ports: Ports | None = None
        self._ca: CertificateAuthority | None = None
        self._admin: KeyPair | None = None
        self._admin_kubeconfig: Path | None = None
        self._sigterm_installed = False
        self.startup_seconds: float | None = None

    # --- public surface ----------------------------------------------------------------------

    @property
    def binaries(self) -> Binaries:
        """The binaries this control plane runs (resolved by start() when not given)."""
        if self._binaries is None:
            raise ControlPlaneError("binaries are resolved by start(); call it first")
        return self._binaries

    @property
    def state_dir(self) -> Path:
        """Where certificates, kubeconfigs, logs and etcd data live."""
        return self._require(self._state_dir, "state_dir")

    @property
    def server(self) -> str:
        """The API server URL, e.g. https://127.0.0.1:40123."""
        ports = self._require(self._ports, "server")
        return f"https://127.0.0.1:{ports.apiserver}"

    @property
    def admin_kubeconfig(self) -> Path:
        """Kubeconfig of a system:masters user: every right, RBAC bypassed."""
        return self._require(self._admin_kubeconfig, "admin_kubeconfig")

    @property
    def admin_client(self) -> KeyPair:
        """The admin's client certificate and key, for HTTP clients that take PEM files."""
        return self._require(self._admin, "admin_client")

    @property
    def ca_certificate(self) -> Path:
        """The CA that signed the serving and client certificates."""
        return self._require(self._ca, "ca_certificate").ca.certificate

    @property
    def audit_log(self) -> Path:
        """The API server's audit log: one JSON event per line, requests on NetworkPolicies and
        ValidatingAdmissionPolicyBindings only."""
        return self.state_dir / "logs" / "audit.log"

    @property
    def log_files(self) -> Mapping[str, Path]:
        """Component name -> its combined stdout/stderr log file (kept until state removal)."""
        return dict(self._log_files)

    @property
    def pids(self) -> Mapping[str, int]:
        """Component name -> process id, for the components that are running."""
        return {name: p.pid for name, p in self._processes.items() if p.poll() is None}

    @property
    def running(self) -> bool:
        """True while every started component is alive; False before start() and after stop()."""
        return bool(self._processes) and all(p.poll() is None for p in self._processes.values())

    def user_kubeconfig(self, name: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig for user `name` in `groups`, with no rights beyond what RBAC grants.

        Each call issues a fresh client certificate; the same name and groups give the same
        path, overwritten. Names may hold letters, digits and ':._@+-'.
        """
        ca = self._require(self._ca, "user_kubeconfig")
        pair = ca.issue_client(name, groups=groups)
        path = self.state_dir / "kubeconfigs" / f"{pair.certificate.stem}.kubeconfig"
        self._write_kubeconfig(path, user=name, pair=pair)
        return path

    def start(self, *, timeout: float = 120.0) -> None:
        """Start all components and return once each is ready; on failure stop what started.

        `timeout` covers starting the processes, not building missing binaries first (which
        reports to `progress`, or stderr, and may take minutes on a cold cache).
        """
        if self._processes:
            raise ControlPlaneError("this control plane was already started")
        self._binaries = self._binaries or ensure_binaries(progress=self._build_progress)
        started = time.monotonic()
        self._state_dir = self._make_state_dir()
        self._guard_exit()
        try:
            self._start_components(deadline=started + timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        """Stop every started process (newest first) and remove a temporary state dir.

        Idempotent; safe to call from atexit, signal handlers and after a failed start().
        """
        for name in reversed(list(self._processes)):
            terminate(self._processes[name])
        self._processes.clear()
        for handle in self._log_handles:
            handle.close()
        self._log_handles.clear()
        if self._given_state_dir is None and self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._log_files.clear()
        atexit.unregister(self.stop)
        self._restore_sigterm()

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, component: str, *, lines: int = 40) -> str:
        """The last `lines` lines of a component's log, or '' when there is none."""
        path = self._log_files.get(component)
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # --- starting ----------------------------------------------------------------------------

    def _make_state_dir(self) -> Path:
        if self._given_state_dir is None:
            remove_orphaned_state_dirs()
            state = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
            (state / OWNER_FILE).write_text(f"{os.getpid()}\n")
            return state
        self._given_state_dir.mkdir(parents=True, exist_ok=True)
        return self._given_state_dir

    def _start_components(self, *, deadline: float) -> None:
        state = self.state_dir
        for sub in ("pki", "logs", "kubeconfigs", "etcd", "apiserver"):
            (state / sub).mkdir(exist_ok=True)
        # etcd warns about (and newer releases may refuse) a data dir others can read.
        (state / "etcd").chmod(0o700)
        self._progress("netiso: generating certificates")
        ca = self._ca = CertificateAuthority(state / "pki")
        serving = ca.issue_server(
            "kube-apiserver",
            hosts=(
                "127.0.0.1", "localhost", SERVICE_CLUSTER_FIRST_IP, "kubernetes",
                "kubernetes.default", "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
        )  # fmt: skip
        self._admin = ca.issue_client(ADMIN_USER, groups=(ADMIN_GROUP,))
        controller_manager = ca.issue_client(CONTROLLER_MANAGER_USER)
        service_accounts = make_service_account_keys(state / "pki")
        self._ports = ports = Ports(*free_ports(4))

        self._progress(f"netiso: starting etcd {self.binaries.etcd_version}")
        self._spawn("etcd", etcd_command(binaries=self.binaries, state_dir=state, ports=ports))
        self._wait("etcd", deadline=deadline, probe=lambda: etcd_healthy(ports.etcd_client))

        self._progress(f"netiso: starting kube-apiserver {self.binaries.kubernetes_version}")
        (state / "apiserver" / "audit-policy.yaml").write_text(yaml.safe_dump(AUDIT_POLICY))
        self._spawn(
            "kube-apiserver",
            apiserver_command(
                binaries=self.binaries,
                state_dir=state,
                ports=ports,
                serving=serving,
                service_accounts=service_accounts,
                client_ca=ca.ca.certificate,
                audit_log=self.audit_log,
            ),
        )
        context = self._admin_ssl_context()
        self._wait(
            "kube-apiserver",
            deadline=deadline,
            probe=lambda: https_ok(f"{self.server}/readyz", context=context),
        )
        self._admin_kubeconfig = state / "kubeconfigs" / "admin.kubeconfig"
        self._write_kubeconfig(self._admin_kubeconfig, user=ADMIN_USER, pair=self._admin)

        self._progress("netiso: starting kube-controller-manager")
        kcm_kubeconfig = state / "kubeconfigs" / "kube-controller-manager.kubeconfig"
        self._write_kubeconfig(
            kcm_kubeconfig, user=CONTROLLER_MANAGER_USER, pair=controller_manager
        )
        self._spawn(
            "kube-controller-manager",
            controller_manager_command(
                binaries=self.binaries,
                ports=ports,
                kubeconfig=kcm_kubeconfig,
                controllers=self._controllers,
            ),
        )
        # It serves a self-signed certificate of its own; /healthz carries no secrets.
        insecure = ssl._create_unverified_context()
        self._wait(
            "kube-controller-manager",
            deadline=deadline,
            probe=lambda: https_ok(
                f"https://127.0.0.1:{ports.controller_manager}/healthz", context=insecure
            ),
        )

    def _spawn(self, name: str, args: list[str]) -> None:
        log_path = self.state_dir / "logs" / f"{name}.log"
        handle = log_path.open("ab")
        self._log_handles.append(handle)
        self._log_files[name] = log_path
        self._processes[name] = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=self.state_dir,
            # Own process group: a terminal's Ctrl-C reaches us, not them, and stop() can
            # signal each component with everything it forked.
            start_new_session=True,
            preexec_fn=die_with_parent() if in_main_thread() else None,
        )

    def _wait(self, name: str, *, deadline: float, probe: Callable[[], bool]) -> None:
        process = self._processes[name]
        while True:
            if process.poll() is not None:
                raise ControlPlaneError(
                    f"{name} exited with code {process.returncode} while starting; "
                    f"log {self._log_files[name]}:\n{self.log_tail(name)}"
                )
            if probe():
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"{name} was not ready in time; log {self._log_files[name]}:\n"
                    f"{self.log_tail(name)}"
                )
            time.sleep(0.2)

    def _admin_ssl_context(self) -> ssl.SSLContext:
        admin = self._require(self._admin, "admin")
        context = ssl.create_default_context(cafile=str(self.ca_certificate))
        context.load_cert_chain(str(admin.certificate), str(admin.key))
        return context

    def _write_kubeconfig(self, path: Path, *, user: str, pair: KeyPair) -> None:
        write_kubeconfig(
            path, server=self.server, ca_certificate=self.ca_certificate, user=user, pair=pair
        )

    # --- stopping ----------------------------------------------------------------------------

    def _guard_exit(self) -> None:
        atexit.register(self.stop)
        # SIGTERM's default action ends Python without running atexit or `finally`. Treat it
        # like Ctrl-C instead: pytest then tears fixtures down (a SystemExit raised inside a
        # test would merely fail that test) and scripts unwind through their `finally`. Only
        # the main thread may install handlers, and one someone else installed is left alone.
        if in_main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, interrupt_on_sigterm)
            self._sigterm_installed = True

    def _restore_sigterm(self) -> None:
        if self._sigterm_installed and in_main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            self._sigterm_installed = False

    @staticmethod
    def _require(value: _T | None, what: str) -> _T:
        if value is None:
            raise ControlPlaneError(f"{what} is available once start() has run")
        return value
