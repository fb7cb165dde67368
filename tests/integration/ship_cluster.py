"""What a user sees in the cluster, for the ship proofs (test_rbac, test_prometheus_alerts, ...).

Profiles, managed policies, Events and status read and written through an admin client, plus
`holds_within`, the bounded poll behind every "this happens" and "this does not happen" check.
No operator here: harness.py runs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from netiso import conventions
from netiso.model.namespaces import NamespaceFacts
from netiso.model.parsing import parse_profile
from netiso.rendering.bodies import render_policies
from netiso.rendering.environment import make_environment

GROUP, VERSION, PLURAL = conventions.GROUP, conventions.VERSION, conventions.PLURAL
DEFAULT_DENY = "netiso-default-deny"
DNS_EGRESS = "netiso-allow-dns-egress"
GATEWAY: Final[dict[str, Any]] = {
    "enabled": True,
    "namespaces": ["ingress-nginx"],
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
    "ports": [{"protocol": "TCP", "port": 8080}],
}


def holds_within(seconds: float, probe: Callable[[], object], *, interval: float = 0.2) -> bool:
    """Whether probe() turns truthy within `seconds`; returns as soon as it does.

    The caller decides what a False means: a failure for a positive check, the expected result
    when proving that something does not happen.
    """
    deadline = time.monotonic() + seconds
    while True:
        if probe():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def as_dict(api: client.ApiClient, obj: object) -> dict[str, Any]:
    """A client model object in its JSON form (camelCase keys, no None values)."""
    body: dict[str, Any] = api.sanitize_for_serialization(obj)
    return body


# --- profiles --------------------------------------------------------------------------------


def profile_body(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": conventions.KIND,
        "metadata": {"name": name},
        "spec": {"owner": "platform-team", "reason": "ship proof", **spec},
    }


def create_profile(api: client.ApiClient, name: str, **spec: Any) -> None:
    client.CustomObjectsApi(api).create_cluster_custom_object(
        GROUP, VERSION, PLURAL, profile_body(name, **spec)
    )


def patch_profile_spec(api: client.ApiClient, name: str, *, spec: dict[str, Any]) -> None:
    client.CustomObjectsApi(api).patch_cluster_custom_object(
        GROUP, VERSION, PLURAL, name, {"spec": spec}
    )


def read_profile(api: client.ApiClient, name: str) -> dict[str, Any] | None:
    """The profile, or None when it does not exist (deleted and its finalizer released)."""
    try:
        body = cast(
            dict[str, Any],
            client.CustomObjectsApi(api).get_cluster_custom_object(GROUP, VERSION, PLURAL, name),
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return body


def remove_profile(api: client.ApiClient, name: str) -> None:
    """Delete a profile without any operator: its finalizer is stripped first. Idempotent."""
    custom = client.CustomObjectsApi(api)
    with contextlib.suppress(ApiException):
        custom.patch_cluster_custom_object(
            GROUP, VERSION, PLURAL, name, {"metadata": {"finalizers": None}}
        )
    try:
        custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    except ApiException as exc:
        if exc.status != 404:
            raise


# --- namespaces, policies, events ------------------------------------------------------------


def label_namespace(api: client.ApiClient, name: str, *, profile: str | None) -> None:
    """Opt a namespace in to `profile`, or out with None."""
    client.CoreV1Api(api).patch_namespace(
        name, {"metadata": {"labels": {conventions.PROFILE_LABEL: profile}}}
    )


def policies_in(api: client.ApiClient, namespace: str) -> dict[str, dict[str, Any]]:
    items: list[Any] = client.NetworkingV1Api(api).list_namespaced_network_policy(namespace).items
    return {str(p.metadata.name): as_dict(api, p) for p in items}


def managed_in(api: client.ApiClient, namespace: str) -> dict[str, dict[str, Any]]:
    """The NetworkPolicies in `namespace` that carry netiso's managed-by label."""
    return {
        name: body
        for name, body in policies_in(api, namespace).items()
        if (body["metadata"].get("labels") or {}).get(conventions.MANAGED_BY_LABEL)
        == conventions.MANAGED_BY_VALUE
    }


def rendered_for(
    api: client.ApiClient, *, profile: str, namespace: str
) -> dict[str, dict[str, Any]]:
    """What netiso's own renderer makes of the live profile for `namespace`, by policy name."""
    body = read_profile(api, profile)
    assert body is not None, f"profile {profile} does not exist"
    policies = render_policies(
        make_environment(), parse_profile(body), NamespaceFacts(name=namespace)
    )
    return {p.name: p.body for p in policies}


def matches_rendered(api: client.ApiClient, *, profile: str, namespace: str) -> bool:
    """Whether the managed policies in `namespace` are exactly the rendered ones (spec, labels
    and annotations netiso sets)."""
    want = rendered_for(api, profile=profile, namespace=namespace)
    have = managed_in(api, namespace)
    if set(want) != set(have):
        return False
    for name, body in want.items():
        live = have[name]
        if live["spec"] != body["spec"]:
            return False
        for key in ("labels", "annotations"):
            for k, v in body["metadata"][key].items():
                if (live["metadata"].get(key) or {}).get(k) != v:
                    return False
    return True


def events_for(api: client.ApiClient, namespace: str, *, reason: str) -> list[Any]:
    """netiso's Events with `reason` in `namespace`."""
    items: list[Any] = client.CoreV1Api(api).list_namespaced_event(namespace).items
    return [
        e
        for e in items
        if e.reason == reason and e.source is not None and e.source.component == "netiso"
    ]


def apiserver_writes(kube_api: client.ApiClient, resource: str) -> float:
    """Write requests the API server has served for `resource`, from its own metrics."""
    # The admin client's connection pool already carries the client certificate.
    response = kube_api.rest_client.pool_manager.request(
        "GET", f"{kube_api.configuration.host}/metrics"
    )
    assert response.status == 200, response.status
    text = response.data.decode()
    total = 0.0
    for line in str(text).splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = line[line.index("{") + 1 : line.rindex("}")]
        if f'resource="{resource}"' in labels and any(
            f'verb="{verb}"' in labels for verb in ("POST", "PUT", "PATCH", "APPLY", "DELETE")
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def netiso_cli(admin_kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `netiso` command against the cluster, as a user runs it."""
    env = {**os.environ, "KUBECONFIG": str(admin_kubeconfig)}
    netiso = str(Path(sys.executable).with_name("netiso"))
    return subprocess.run(
        [netiso, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def status_rows(admin_kubeconfig: Path) -> dict[str, dict[str, Any]]:
    """`netiso status -o json`, by namespace."""
    done = netiso_cli(admin_kubeconfig, "status", "--output", "json")
    assert done.returncode == 0, done.stderr
    return {row["namespace"]: row for row in json.loads(done.stdout)["items"]}
