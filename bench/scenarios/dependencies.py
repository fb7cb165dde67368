"""The dependency tracker's cost with N namespaces in sync: operator CPU and writes while the
DNS namespace a profile names is quiet, while its pods churn, and while its DNS flips.

A DNS namespace of the run's own (a Service, its EndpointSlice written by hand, one DNS pod)
and a profile naming it (no namespace opts in; the N of the main profile stay in sync). Three
windows of `--dependencies-seconds` each: `quiet` (nothing changes), `churn` (a DNS pod's
annotations change `--churn-rate` times a second, and a pod nothing selects is created and
deleted every second: the tracker reads each event, nothing it says changes, so no write),
and `flips` (the DNS endpoint turns not ready and ready again every 10 s: each flip is one
status write and one Event; the condition's lag is measured per flip).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

from bench.percentiles import summarise
from bench.session import PROFILES_PATH, QUIET_SECONDS, Session
from bench.windows import Mark

DNS_LABELS: Final = {"k8s-app": "kube-dns"}
FLIP_SECONDS: Final = 10.0


def _pod(namespace: str, name: str, labels: dict[str, str], beat: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {"bench.netiso.io/beat": str(beat)},
        },
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [{"name": "c", "image": "registry.invalid/dns:1"}],
        },
    }


def _slice(namespace: str, *, ready: bool) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kube-dns-1",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": "kube-dns"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
        "endpoints": [
            {
                "addresses": ["10.244.0.5"],
                "conditions": {"ready": ready},
                "targetRef": {"kind": "Pod", "name": "coredns-0", "namespace": namespace},
            }
        ],
    }


async def _condition(session: Session, profile: str) -> str:
    _, body = await session.admin.request("GET", f"{PROFILES_PATH}/{profile}")
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "DependenciesResolved":
            return str(condition.get("status"))
    return ""


async def _until(session: Session, profile: str, status: str, *, within: float) -> float | None:
    begun = time.monotonic()
    while time.monotonic() - begun < within:
        if await _condition(session, profile) == status:
            return time.monotonic() - begun
        await asyncio.sleep(0.05)
    return None


async def _window(session: Session, name: str, work: Any) -> dict[str, Any]:
    await session.settle(quiet=QUIET_SECONDS)
    before = await Mark.take(session)
    extra = await work
    after = await Mark.take(session)
    window = before.until(after)
    return {
        "seconds": window["seconds"],
        "operator_cpu": window.get("operator_cpu"),
        "netiso_writes": window.get("netiso_writes"),
        "netiso_requests_by_verb": window.get("netiso_requests_by_verb"),
        "apiserver_writes_on_netiso_resources": window.get("apiserver_writes"),
        **extra,
        "window": name,
    }


async def run(session: Session) -> dict[str, Any]:
    seconds = session.options.dependencies_seconds
    rate = session.options.churn_rate
    dns = f"{session.prefix}dns"
    await session.create_namespace(dns, kind="dns", profile=None, started=None)
    pods = f"/api/v1/namespaces/{dns}/pods"
    slices = f"/apis/discovery.k8s.io/v1/namespaces/{dns}/endpointslices"
    await session.admin.request("POST", pods, body=_pod(dns, "coredns-0", DNS_LABELS))
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": dns},
        "spec": {"ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]},
    }
    await session.admin.request("POST", f"/api/v1/namespaces/{dns}/services", body=service)
    await session.admin.request("POST", slices, body=_slice(dns, ready=True))
    profile = f"{session.prefix}deps"
    # DNS only: the sample's gateway and monitoring namespaces hold no pods on this cluster.
    await session.create_profile(
        profile, dns={"namespace": dns}, gateway={"enabled": False}, monitoring={"enabled": False}
    )
    first = await _until(session, profile, "True", within=30)
    if first is None:
        raise RuntimeError(f"profile {profile}: DependenciesResolved never became True")

    async def quiet() -> dict[str, Any]:
        await asyncio.sleep(seconds)
        return {}

    async def churn() -> dict[str, Any]:
        sent = 0
        begun = time.monotonic()
        tick = 0
        while time.monotonic() - begun < seconds:
            tick += 1
            for _ in range(max(int(rate), 1)):
                patch = {"metadata": {"annotations": {"bench.netiso.io/beat": str(sent)}}}
                await session.admin.request(
                    "PATCH",
                    f"{pods}/coredns-0",
                    body=patch,
                    content_type="application/merge-patch+json",
                )
                sent += 1
            other = _pod(dns, f"job-{tick}", {"app": "job"})
            await session.admin.request("POST", pods, body=other)
            await session.admin.request("DELETE", f"{pods}/job-{tick}")
            sent += 2
            await asyncio.sleep(max(0.0, tick - (time.monotonic() - begun)))
        return {"pod_writes_sent": sent}

    async def flips() -> dict[str, Any]:
        lags: list[float] = []
        missed = 0
        begun = time.monotonic()
        ready = True
        while time.monotonic() - begun < seconds:
            ready = not ready
            _, live = await session.admin.request("GET", f"{slices}/kube-dns-1")
            body = _slice(dns, ready=ready)
            body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            flipped = time.monotonic()
            await session.admin.request("PUT", f"{slices}/kube-dns-1", body=body)
            lag = await _until(session, profile, "True" if ready else "False", within=FLIP_SECONDS)
            if lag is None:
                missed += 1
            else:
                lags.append(lag)
            await asyncio.sleep(max(0.0, FLIP_SECONDS - (time.monotonic() - flipped)))
        if not ready:  # leave DNS ready
            _, live = await session.admin.request("GET", f"{slices}/kube-dns-1")
            body = _slice(dns, ready=True)
            body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            await session.admin.request("PUT", f"{slices}/kube-dns-1", body=body)
        return {"flips": len(lags) + missed, "missed": missed, "lag_seconds": summarise(lags)}

    return {
        "first_verdict_seconds": round(first, 3),
        "quiet": await _window(session, "quiet", quiet()),
        "churn": await _window(session, "churn", churn()),
        "flips": await _window(session, "flips", flips()),
    }
