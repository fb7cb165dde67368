"""One round of connection probes, run inside a pod's network namespace (`nsenter -n`).

Reads a JSON list of [address, port, protocol] on stdin and prints one outcome per probe
(connected, refused, timeout, unreachable or error: ...), all probed at once. Standard library
only and started with `python -I`, so it starts in milliseconds. Part of netiso_devkit.dataplane.
"""

from __future__ import annotations

import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor


def probe(address: str, port: int, protocol: str, timeout: float) -> str:
    """TCP: a completed handshake. UDP: an answer from agnhost netexec's `echo` command."""
    kind = socket.SOCK_STREAM if protocol == "TCP" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            if protocol == "UDP":
                sock.send(b"echo netiso")
                if not sock.recv(64):
                    return "error: empty answer"
            return "connected"
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "timeout"
        except OSError as error:
            if error.errno in (101, 113):  # ENETUNREACH, EHOSTUNREACH
                return "unreachable"
            return f"error: {error}"


def main() -> int:
    timeout = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    probes = json.load(sys.stdin)
    with ThreadPoolExecutor(max_workers=max(1, min(64, len(probes)))) as pool:
        futures = [pool.submit(probe, a, int(p), str(proto), timeout) for a, p, proto in probes]
        print(json.dumps([future.result() for future in futures]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
