"""The API server for pods, as a cluster gives it: the `kubernetes` Service's ClusterIP works.

The kit's API server listens on 127.0.0.1 and no service proxy runs, so nothing in a pod could
reach it. Like kube-proxy, the kit translates the ClusterIP: pods get a route to the Service
range through the bridge's host address (GATEWAY), a DNAT in the nat table sends
10.0.0.1:443 to GATEWAY:ENDPOINT_PORT, and a relay there forwards each connection to the API
server on loopback. A NetworkPolicy therefore sees what it sees on a real cluster, an endpoint
in a private range on 6443. ip_forward stays 0 and nothing masquerades: pods still reach
nothing off this machine. Part of netiso_devkit.dataplane.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from typing import Final

from netiso_devkit.dataplane.nodeconfigs import BRIDGE, GATEWAY
from netiso_devkit.localcluster.controlplane import SERVICE_CLUSTER_FIRST_IP

ENDPOINT_PORT: Final = 6443
CHAIN: Final = "NETISO-DP-APISERVER"
SERVICE_IP: Final = SERVICE_CLUSTER_FIRST_IP  # the `kubernetes` Service's ClusterIP
SERVICE_PORT: Final = 443


class ApiServerRelay:
    """GATEWAY:ENDPOINT_PORT forwarding to 127.0.0.1:`port`, plus the bridge address, route
    and DNAT that lead there; start() and stop(), both idempotent."""

    def __init__(self, *, port: int) -> None:
        self._port = port
        self._listener: socket.socket | None = None

    def start(self) -> None:
        _ensure_bridge()
        self._listener = socket.create_server((GATEWAY, ENDPOINT_PORT), reuse_port=False)
        threading.Thread(target=self._accept, name="apiserver-relay", daemon=True).start()
        _iptables("-N", CHAIN, check=False)
        _iptables("-F", CHAIN)
        _iptables(
            "-A", CHAIN, "-d", f"{SERVICE_IP}/32", "-p", "tcp", "--dport", str(SERVICE_PORT),
            "-j", "DNAT", "--to-destination", f"{GATEWAY}:{ENDPOINT_PORT}",
        )  # fmt: skip
        if _iptables("-C", "PREROUTING", "-i", BRIDGE, "-j", CHAIN, check=False) != 0:
            _iptables("-I", "PREROUTING", "-i", BRIDGE, "-j", CHAIN)

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # close() alone keeps the socket listening while _accept is blocked in accept(),
            # until this process exits: the next dataplane (here, or in the process that took
            # the lock next) then fails to bind the address. shutdown() wakes that accept().
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        # The chain and its jump go with the dataplane's sweep (sweeping.KIT_CHAINS).

    def _accept(self) -> None:
        listener = self._listener
        while listener is not None:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self._port), timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy until either side closes, then close both (the other pump then ends too)."""
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for end in (source, sink):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
        end.close()


def _ensure_bridge() -> None:
    """The pod bridge with GATEWAY on it: created here when no pod has made it yet (the CNI
    bridge plugin takes an existing bridge as it is)."""
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0:
        subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
    added = subprocess.run(
        ["ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE], capture_output=True, text=True
    )
    exists = ("already assigned", "File exists")  # iproute2's wording varies by version
    if added.returncode != 0 and not any(message in added.stderr for message in exists):
        raise OSError(f"ip addr add {GATEWAY} dev {BRIDGE}: {added.stderr.strip()}")
    subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)


def _iptables(*args: str, check: bool = True) -> int:
    result = subprocess.run(
        ["iptables", "-w", "-t", "nat", *args], capture_output=True, text=True, timeout=30
    )
    if check and result.returncode != 0:
        raise OSError(f"iptables -t nat {' '.join(args)}: {result.stderr.strip()}")
    return result.returncode
