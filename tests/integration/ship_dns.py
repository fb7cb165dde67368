"""Pods, a DNS Service and its EndpointSlice as the API server stores them, for the tests of
what a profile depends on (`netiso doctor`, the DependenciesResolved condition).

No kubelet is needed: the API server stores pods as given, and a Service without a selector
keeps the EndpointSlice written by hand (the controller leaves it alone).
"""

from __future__ import annotations

from typing import Any


def pod(namespace: str, name: str, labels: dict[str, str], **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [{"name": "c", "image": "registry.invalid/app:1", **container}],
        },
    }


def dns_objects(namespace: str, *, pod_labels: dict[str, str]) -> list[dict[str, Any]]:
    """A DNS Service without selector, its EndpointSlice (one ready pod) and that pod."""
    return [
        pod(namespace, "coredns-0", pod_labels),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": namespace},
            "spec": {
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                ]
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kube-dns-1",
                "namespace": namespace,
                "labels": {"kubernetes.io/service-name": "kube-dns"},
            },
            "addressType": "IPv4",
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            ],
            "endpoints": [
                {
                    "addresses": ["10.244.0.5"],
                    "conditions": {"ready": True},
                    "targetRef": {"kind": "Pod", "name": "coredns-0", "namespace": namespace},
                }
            ],
        },
    ]
