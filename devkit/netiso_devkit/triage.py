"""The triage part of `netiso demo`: a blocked and an allowed connection explained, and the
matrix, in the demo namespace once netiso has isolated it.

Dev kit, beside demo.py. With a dataplane (a Ready node: `netiso cluster up --dataplane`) the
demo runs two small workloads there (an agnhost web server and an idle client) and asks the
live cluster; without one it reads the sample dump shipped here (samples/triage.yaml, the same
two workloads) with the demo profile applied, so a newcomer sees the same answers either way.
The commands run in-process through netiso's own CLI entry point, exactly as typed.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from netiso.cli.app import main as netiso

TRIAGE_SAMPLE: Final = Path(__file__).resolve().parent / "samples" / "triage.yaml"
_RUNNING_TIMEOUT_SECONDS: Final = 90


def allow_policies() -> list[dict[str, Any]]:
    """The demo's own NetworkPolicies, from the sample: the web server admits the client on
    http, and the client may send there (netiso's default-deny covers both directions)."""
    documents = yaml.safe_load_all(TRIAGE_SAMPLE.read_text(encoding="utf-8"))
    return [doc for doc in documents if doc and doc.get("kind") == "NetworkPolicy"]


def questions(source: Sequence[str]) -> list[tuple[str, list[str]]]:
    """What the demo asks, after `source` (the live cluster's or the files' options)."""
    return [
        (
            "a blocked connection: the client on a port the web server's policy does not admit",
            ["explain", *source, "--from", "client", "--to", "web", "--port", "9090"],
        ),
        (
            "an allowed connection: the client on the web server's http port",
            ["explain", *source, "--from", "client", "--to", "web", "--port", "http"],
        ),
        ("who can reach whom in the namespace", ["matrix", *source]),
    ]


def has_dataplane(nodes_json: str) -> bool:
    """Whether `kubectl get nodes -o json` shows a Ready node: pods can run."""
    for node in json.loads(nodes_json).get("items") or []:
        for condition in (node.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "Ready" and condition.get("status") == "True":
                return True
    return False


def offline_triage(*, namespace: str, profile_file: Path, say: Callable[[str], None]) -> None:
    """Explain and matrix on the shipped sample dump, the demo profile applied."""
    say(f"no node to run pods on: reading the sample dump {TRIAGE_SAMPLE} instead")
    source = ["-f", str(TRIAGE_SAMPLE), "--profile", str(profile_file), "-n", namespace]
    _ask(questions(source), say=say)


def live_triage(
    *,
    namespace: str,
    kubeconfig: str,
    apply: Callable[[list[dict[str, Any]]], None],
    pods_running: Callable[[], bool],
    say: Callable[[str], None],
) -> None:
    """Run the two workloads on the dataplane, wait for them, then ask the live cluster."""
    # Imported here: the dataplane's helpers are needed only when there is one.
    from netiso_devkit.dataplane.nodes import agnhost_pod

    say("running two workloads on the dataplane: web (agnhost on 8080 'http' and 9090), client")
    web = agnhost_pod(
        name="web",
        namespace=namespace,
        labels={"app": "web"},
        # It listens on 9090 too: the blocked connection is blocked by policy, not by a closed
        # port.
        tcp_ports=(8080, 9090),
        named_ports={"http": (8080, "TCP")},
    )
    client = agnhost_pod(name="client", namespace=namespace, labels={"app": "client"})
    policies = [
        {**policy, "metadata": {**policy["metadata"], "namespace": namespace}}
        for policy in allow_policies()
    ]
    apply([web, client, *policies])
    deadline = time.monotonic() + _RUNNING_TIMEOUT_SECONDS
    while not pods_running():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the demo's pods did not start within {_RUNNING_TIMEOUT_SECONDS} s")
        time.sleep(0.5)
    _ask(questions(["--kubeconfig", kubeconfig, "-n", namespace]), say=say)


def _ask(asked: list[tuple[str, list[str]]], *, say: Callable[[str], None]) -> None:
    for what, argv in asked:
        print()
        say(what)
        print(f"$ netiso {' '.join(_quoted(argv))}", flush=True)
        code = netiso(argv)
        print(f"(exit status {code})", flush=True)


def _quoted(argv: Sequence[str]) -> list[str]:
    return [
        arg if arg and all(c.isalnum() or c in "-_./:=" for c in arg) else repr(arg) for arg in argv
    ]


def nodes_json(kubectl: str, kubeconfig: str) -> str:
    """`kubectl get nodes -o json` (an empty list when it fails: no dataplane then)."""
    result = subprocess.run(
        [kubectl, "--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout if result.returncode == 0 else '{"items": []}'
