"""The dev kit's API server relay (netiso_devkit.dataplane.apiforwarding), on loopback: its
address is free again as soon as it stops, for the next dataplane on this machine."""

from __future__ import annotations

import socket

import pytest

from netiso_devkit.dataplane import apiforwarding


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_stopped_relay_frees_its_address_while_its_accept_loop_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upstream = socket.create_server(("127.0.0.1", 0))
    relay_port = _free_port()
    monkeypatch.setattr(apiforwarding, "GATEWAY", "127.0.0.1")
    monkeypatch.setattr(apiforwarding, "ENDPOINT_PORT", relay_port)
    monkeypatch.setattr(apiforwarding, "_ensure_bridge", lambda: None)
    monkeypatch.setattr(apiforwarding, "_iptables", lambda *args, check=True: 0)
    relay = apiforwarding.ApiServerRelay(port=upstream.getsockname()[1])
    relay.start()
    try:
        # One connection through the relay: its accept loop has run and waits for the next.
        with socket.create_connection(("127.0.0.1", relay_port), timeout=5) as client:
            upstream.settimeout(5)
            served, _ = upstream.accept()
            with served:
                client.sendall(b"ping")
                assert served.recv(4) == b"ping"
        relay.stop()
        with socket.create_server(("127.0.0.1", relay_port)):
            pass
    finally:
        relay.stop()
        upstream.close()
