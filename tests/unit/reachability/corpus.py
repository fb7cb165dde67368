"""Shared fixtures of the reachability tests: a small cluster and a way to load YAML into it.

Objects go through the same parsing as `netiso matrix -f` (gathering.add_object).
"""

from __future__ import annotations

from typing import Final

import yaml

from netiso.cli.gathering import Objects, add_object
from netiso.reachability.snapshots import Options, Snapshot, make_snapshot

# Namespaces app (team=a) and other (team=b); pods in a namespace nobody declares.
BASE: Final = """
apiVersion: v1
kind: Namespace
metadata: {name: app, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: other, labels: {team: b}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: app, labels: {app: web}}
spec:
  containers:
  - name: web
    ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: app, labels: {app: api, tier: backend}}
spec:
  containers:
  - name: api
    ports:
    - {name: http, containerPort: 8081}
    - {name: dns, containerPort: 5353, protocol: UDP}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: app, labels: {app: db}}
spec: {containers: [{name: db}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: other, labels: {app: client}}
spec: {containers: [{name: client}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: other, labels: {app: web}}
spec: {containers: [{name: web}]}
---
apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: undeclared, labels: {app: probe}}
spec: {containers: [{name: probe}]}
"""


def load(*texts: str, options: Options | None = None) -> Snapshot:
    """A snapshot of the objects in the YAML texts."""
    objects = Objects()
    for text in texts:
        for index, body in enumerate(yaml.safe_load_all(text)):
            if body is not None:
                add_object(objects, body, label=f"doc{index}")
    return make_snapshot(
        namespaces=objects.namespaces,
        pods=objects.pods,
        policies=objects.policies,
        options=options,
    )


def policy(key: str, spec: str) -> str:
    """A NetworkPolicy document `namespace/name` with a spec given as (flow or block) YAML."""
    namespace, _, name = key.partition("/")
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": yaml.safe_load(spec),
    }
    return "---\n" + yaml.safe_dump(body)
