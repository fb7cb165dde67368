"""`netiso demo`: netiso end to end on one machine, in one command.

Top layer beside the CLI. With no cluster configured it starts the local control plane (and
stops it on exit); then it installs the CRD and its own profile (`netiso-demo`, the baseline
sample renamed), opts a demo namespace in, runs the operator in the foreground exactly as
production does (`kopf run -A -m netiso.main`), and prints what happened and how to look.
Any other cluster is shown and must be confirmed (or `--yes`), and is refused outright when
a netiso operator or a `baseline` profile already lives there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

import netiso
from netiso import conventions
from netiso_devkit.localcluster.controlplane import ControlPlane
from netiso_devkit.processes import OperatorProcess, WaitTimeout, http_get, wait_for

T = TypeVar("T")

DEMO_NAMESPACE = "netiso-demo"
# The defaults of NETISO_OPERATOR_NAMESPACE and NETISO_LEASE_NAME, which the demo leaves unset.
OPERATOR_NAMESPACE = "netiso-system"
LEASE_NAME = "netiso-operator"
# Names of the demo's own: a user's `baseline` profile (and every namespace using it) is never
# rewritten by a demo.
DEMO_PROFILE = "netiso-demo"
SAMPLE_PROFILE = "baseline"
# What the install labels the operator's Deployment and pods with (manifests/).
OPERATOR_SELECTOR = "app.kubernetes.io/name=netiso"
# Exit code for "refused": nothing was changed.
REFUSED = 2


class Refused(Exception):
    """The demo will not touch this cluster; the message says why and what to do."""


def _package_or_repo(name: str, repo_dir: str) -> Path:
    """A data directory shipped in the wheel as netiso/<name>, or the checkout's copy."""
    package = Path(netiso.__file__).resolve().parent
    packaged = package / name
    return packaged if packaged.is_dir() else package.parents[1] / repo_dir


def crd_file() -> Path:
    """The IsolationProfile CRD netiso ships."""
    return _package_or_repo("crds", "crds") / f"{conventions.CRD_NAME}.yaml"


def sample_file(name: str) -> Path:
    """A sample profile netiso ships (manifests/samples in a checkout)."""
    return _package_or_repo("samples", "manifests/samples") / f"{name}.yaml"


def demo_profile() -> str:
    """The demo's own IsolationProfile, as JSON: the baseline sample under the demo's name."""
    profile: dict[str, Any] = yaml.safe_load(sample_file(SAMPLE_PROFILE).read_text())
    profile["metadata"] = {"name": DEMO_PROFILE}
    profile["spec"]["owner"] = "netiso demo"
    profile["spec"]["reason"] = f"netiso demo: the {SAMPLE_PROFILE} sample for {DEMO_NAMESPACE}"
    return json.dumps(profile)


def _configured_kubeconfig() -> str | None:
    explicit = os.environ.get("KUBECONFIG")
    if explicit:
        return explicit
    default = Path.home() / ".kube" / "config"
    return str(default) if default.is_file() else None


@dataclass(frozen=True)
class Target:
    """The cluster the demo works on; `local` when the demo started it itself."""

    kubeconfig: str
    kubectl: str
    local: bool


@contextlib.contextmanager
def _cluster(say: Any) -> Iterator[Target]:
    """The configured cluster, or a local one for the duration."""
    configured = _configured_kubeconfig()
    if configured:
        say(f"using the cluster configured in {configured}")
        yield Target(kubeconfig=configured, kubectl="kubectl", local=False)
        return
    say("no cluster configured: starting the local control plane (first run builds it, ~10 min)")
    plane = ControlPlane(progress=lambda message: say(f"  {message}"))
    plane.start(timeout=1800)
    try:
        yield Target(
            kubeconfig=str(plane.admin_kubeconfig),
            kubectl=str(plane.binaries.kubectl),
            local=True,
        )
    finally:
        say("stopping the local control plane")
        plane.stop()


def _describe(target: Target) -> str:
    """`context NAME (server URL)` of the kubeconfig's current context."""
    raw = _kubectl(target.kubectl, target.kubeconfig, "config", "view", "--minify", "-o", "json")
    view: dict[str, Any] = json.loads(raw)
    context = view.get("current-context") or "(none)"
    clusters = view.get("clusters") or [{}]
    server = (clusters[0].get("cluster") or {}).get("server") or "(no server)"
    return f"context {context!r} (server {server})"


def _existing_netiso(target: Target) -> list[str]:
    """What of netiso already lives on the cluster that a demo could harm: an operator
    (Deployment or pod labelled as the install labels them) or a `baseline` profile."""
    found: list[str] = []
    for kind in ("deployments", "pods"):
        selector = ["-A", "-l", OPERATOR_SELECTOR, "-o", "name"]
        out = _kubectl(target.kubectl, target.kubeconfig, "get", kind, *selector)
        found.extend(f"a netiso operator ({name})" for name in out.split())
    profile = subprocess.run(
        [
            target.kubectl,
            f"--kubeconfig={target.kubeconfig}",
            "get",
            f"{conventions.PLURAL}.{conventions.GROUP}",
            SAMPLE_PROFILE,
            "--ignore-not-found",
            "-o",
            "name",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # Without the CRD there is no profile; any other failure means we cannot be sure.
    if profile.returncode != 0 and "the server doesn't have a resource type" not in profile.stderr:
        raise RuntimeError(
            f"cannot check for a {SAMPLE_PROFILE!r} profile: {profile.stderr.strip()}"
        )
    if profile.stdout.strip():
        found.append(f"an IsolationProfile {SAMPLE_PROFILE!r} (namespaces may be using it)")
    return found


def consent(*, yes: bool, interactive: bool, ask: Callable[[str], str], where: str) -> None:
    """Raise Refused unless the user agreed to change `where`: --yes, or `y` at the prompt
    (only asked on a terminal: without one there is nobody to answer)."""
    if yes:
        return
    if not interactive:
        raise Refused(
            f"not changing {where} without confirmation: stdin is not a terminal; "
            "run with --yes to proceed, or unset KUBECONFIG for a local control plane"
        )
    answer = ask(
        f"Install the netiso CRD, the IsolationProfile {DEMO_PROFILE!r} and the namespace "
        f"{DEMO_NAMESPACE!r} into {where}, and run an operator against it? [y/N] "
    )
    if answer.strip().lower() not in ("y", "yes"):
        raise Refused(f"not confirmed; {where} was not changed")


def _guard(target: Target, *, yes: bool, say: Any) -> None:
    """Refuse (nothing changed) unless the demo may work on `target`."""
    if target.local:
        return
    where = _describe(target)
    say(f"this is not a local control plane started by the demo: {where}")
    existing = _existing_netiso(target)
    if existing:
        raise Refused(
            f"refusing to run the demo on {where}: it already has "
            + "; ".join(existing)
            + ". Run the demo without KUBECONFIG (it starts its own local control plane)"
        )
    consent(yes=yes, interactive=sys.stdin.isatty(), ask=input, where=where)


def _kubectl(kubectl: str, kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [kubectl, f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def run_demo(args: argparse.Namespace) -> int:
    """The `netiso demo` handler."""

    def say(message: str) -> None:
        print(f"netiso demo: {message}", flush=True)

    try:
        with _cluster(say) as target:
            _guard(target, yes=args.yes, say=say)
            return _demo(
                kubeconfig=target.kubeconfig, kubectl=target.kubectl, once=args.once, say=say
            )
    except Refused as exc:
        print(f"netiso demo: {exc}", file=sys.stderr)
        return REFUSED
    except (RuntimeError, OSError) as exc:
        print(f"netiso demo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _demo(*, kubeconfig: str, kubectl: str, once: bool, say: Any) -> int:
    say(f"installing the CRD {conventions.CRD_NAME}")
    _kubectl(kubectl, kubeconfig, "apply", "--server-side", "-f", str(crd_file()))
    _kubectl(
        kubectl,
        kubeconfig,
        "wait",
        "--for=condition=Established",
        f"crd/{conventions.CRD_NAME}",
        "--timeout=60s",
    )
    say(f"applying the IsolationProfile {DEMO_PROFILE!r} (the {SAMPLE_PROFILE!r} sample, renamed)")
    _kubectl(kubectl, kubeconfig, "apply", "--server-side", "-f", "-", stdin=demo_profile())
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": DEMO_NAMESPACE,
            "labels": {conventions.PROFILE_LABEL: DEMO_PROFILE},
        },
    }
    # The operator's own namespace holds its leader election Lease.
    home = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}}
    _kubectl(kubectl, kubeconfig, "apply", "--server-side", "-f", "-", stdin=json.dumps(home))
    say(f"opting namespace {DEMO_NAMESPACE!r} in ({conventions.PROFILE_LABEL}={DEMO_PROFILE})")
    _kubectl(kubectl, kubeconfig, "apply", "--server-side", "-f", "-", stdin=json.dumps(namespace))

    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / "netiso-demo-operator.log"
    operator = OperatorProcess(kubeconfig=Path(kubeconfig), log_path=log_path, metrics_port=8080)
    say(f"running the operator: {' '.join(operator.command[:5])} (log: {log_path})")
    operator.start(wait_ready=False)
    try:
        _until("readiness", lambda: http_get(f"{operator.url}/readyz")[0] == 200, operator)
        _until("leadership", lambda: operator.metric("netiso_leader") == 1.0, operator)
        say(
            f"the operator holds the Lease {OPERATOR_NAMESPACE}/{LEASE_NAME}: it is the leader "
            "(replicas started next to it would stand by)"
        )

        def isolated() -> list[dict[str, Any]] | None:
            out = _kubectl(
                kubectl, kubeconfig, "get", "networkpolicies", "-n", DEMO_NAMESPACE, "-o", "json"
            )
            items: list[dict[str, Any]] = json.loads(out).get("items") or []
            managed = [
                p
                for p in items
                if (p["metadata"].get("labels") or {}).get(conventions.MANAGED_BY_LABEL)
                == conventions.MANAGED_BY_VALUE
            ]
            return (
                managed
                if any(p["metadata"]["name"].endswith("default-deny") for p in managed)
                else None
            )

        policies = _until("isolation", isolated, operator)
        _report(
            policies=policies,
            metrics=http_get(f"{operator.url}/metrics")[1],
            kubeconfig=kubeconfig,
            kubectl=kubectl,
            metrics_url=operator.url,
            log_path=log_path,
        )
        _triage(kubeconfig=kubeconfig, kubectl=kubectl, say=say)
        if once:
            return 0
        say("the operator keeps running; press Ctrl-C to stop")
        while operator.running():
            time.sleep(0.5)
        return operator.stop()
    finally:
        operator.stop(timeout=20)


def _triage(*, kubeconfig: str, kubectl: str, say: Callable[[str], None]) -> None:
    """A blocked and an allowed connection explained, and the matrix: live on two workloads
    when the cluster has a node to run them, else on the dev kit's own sample dump."""
    from netiso_devkit import triage

    if not triage.has_dataplane(triage.nodes_json(kubectl, kubeconfig)):
        with tempfile.TemporaryDirectory(prefix="netiso-demo-") as scratch:
            profile = Path(scratch) / f"{DEMO_PROFILE}.json"
            profile.write_text(demo_profile(), encoding="utf-8")
            triage.offline_triage(namespace=DEMO_NAMESPACE, profile_file=profile, say=say)
        return

    def apply(bodies: list[dict[str, Any]]) -> None:
        listing = {"apiVersion": "v1", "kind": "List", "items": bodies}
        _kubectl(
            kubectl, kubeconfig, "apply", "--server-side", "-f", "-", stdin=json.dumps(listing)
        )

    def running() -> bool:
        out = _kubectl(
            kubectl, kubeconfig, "get", "pods", "-n", DEMO_NAMESPACE, "-l", "app in (web,client)",
            "-o", "json",
        )  # fmt: skip
        items = json.loads(out).get("items") or []
        return len(items) == 2 and all(
            (item.get("status") or {}).get("phase") == "Running" for item in items
        )

    triage.live_triage(
        namespace=DEMO_NAMESPACE, kubeconfig=kubeconfig, apply=apply, pods_running=running, say=say
    )


def _until(what: str, probe: Callable[[], T | None], operator: OperatorProcess) -> T:
    """wait_for(probe), failing at once with a clear message when the operator exits."""

    def probe_while_running() -> T | None:
        if not operator.running():
            raise RuntimeError(f"the operator exited before {what}; log: {operator.log_path}")
        return probe()

    try:
        return wait_for(what, probe_while_running, timeout=60, interval=0.2)
    except WaitTimeout as exc:
        raise RuntimeError(str(exc)) from None


def _report(
    *,
    policies: list[dict[str, Any]],
    metrics: str,
    kubeconfig: str,
    kubectl: str,
    metrics_url: str,
    log_path: Path,
) -> None:
    print()
    print(f"netiso isolated namespace {DEMO_NAMESPACE!r} with profile {DEMO_PROFILE!r}:")
    for policy in sorted(policies, key=lambda p: str(p["metadata"]["name"])):
        spec = policy["spec"]
        print(f"  - {policy['metadata']['name']}: policyTypes {spec.get('policyTypes')}")
    print()
    print("Metrics now (netiso_namespaces, netiso_reconcile_total):")
    for line in metrics.splitlines():
        if line.startswith(("netiso_namespaces{", "netiso_reconcile_total{")):
            print(f"  {line}")
    bin_dir = Path(kubectl).parent if os.sep in kubectl else None
    print()
    print("Look for yourself, in another terminal:")
    print(f"  export KUBECONFIG={kubeconfig}")
    if bin_dir is not None:
        print(f"  export PATH={bin_dir}:$PATH")
    print(f"  kubectl get networkpolicies -n {DEMO_NAMESPACE}")
    print(f"  kubectl get events -n {DEMO_NAMESPACE} --field-selector source=netiso")
    print(f"  kubectl get isolationprofiles {DEMO_PROFILE}")
    print(f"  curl -s {metrics_url}/metrics | grep ^netiso_")
    print(f"  netiso status; netiso diff --namespace {DEMO_NAMESPACE}")
    print(f"  kubectl delete networkpolicy netiso-default-deny -n {DEMO_NAMESPACE}  # repaired")
    print(f"Operator log: {log_path}")
    print()


def add_demo_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `netiso demo`."""
    demo = subparsers.add_parser(
        "demo",
        help="start a local cluster if none is configured, isolate a demo namespace, run",
        description=(
            "Install the CRD and the baseline sample profile, opt a demo namespace in and run "
            "the operator in the foreground. With no KUBECONFIG and no ~/.kube/config, a local "
            "control plane is started for the duration. Any other cluster is shown and must be "
            "confirmed (or --yes); one that already runs netiso or has a 'baseline' profile "
            "is refused. The demo's objects are named netiso-demo."
        ),
    )
    demo.add_argument(
        "--once", action="store_true", help="exit after the demo namespace is isolated"
    )
    demo.add_argument(
        "--yes",
        action="store_true",
        help="work on the configured (non-local) cluster without asking; a cluster with a "
        "netiso operator or a 'baseline' profile is still refused",
    )
    demo.set_defaults(handler=run_demo)


__all__ = [
    "Refused",
    "add_demo_command",
    "consent",
    "crd_file",
    "demo_profile",
    "run_demo",
    "sample_file",
]
