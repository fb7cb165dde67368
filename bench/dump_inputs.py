"""Generator of cluster dumps for the reachability benchmark: one `kubectl get -o yaml` List.

N NetworkPolicies over 1,000 namespaces with P pods, written as text (not through a YAML
dumper: a 100,000-policy dump is 60 MB), plus the 49 KB alias bomb `netiso matrix -f` refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

NAMESPACES: Final = 1000

_NAMESPACE = """\
- apiVersion: v1
  kind: Namespace
  metadata:
    labels:
      kubernetes.io/metadata.name: ns-{i}
    name: ns-{i}
"""
_POD = """\
- apiVersion: v1
  kind: Pod
  metadata:
    creationTimestamp: "2026-01-01T00:00:00Z"
    labels:
      app: app-{app}
      pod-template-hash: 5d4f{i}
    name: pod-{i}
    namespace: ns-{ns}
    uid: 3f1c{i}
  spec:
    containers:
    - image: nginx
      name: c
      ports:
      - containerPort: 8080
        name: http
        protocol: TCP
  status:
    phase: Running
    podIP: 10.{a}.{b}.{c}
"""
_POLICY = """\
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata:
    creationTimestamp: "2026-01-01T00:00:00Z"
    name: np-{i}
    namespace: ns-{ns}
    resourceVersion: "{i}"
    uid: 9a7e{i}
  spec:
    egress:
    - ports:
      - port: 443
        protocol: TCP
      to:
      - ipBlock:
          cidr: 10.{octet}.0.0/16
    ingress:
    - from:
      - podSelector:
          matchLabels:
            app: app-{peer}
      ports:
      - port: {port}
        protocol: TCP
    podSelector:
      matchLabels:
        app: app-{app}
    policyTypes:
    - Ingress
    - Egress
"""


def write_dump(path: Path, *, policies: int, pods: int) -> int:
    """Write the dump; the number of objects in it."""
    with path.open("w") as out:
        out.write("apiVersion: v1\nkind: List\nitems:\n")
        for i in range(NAMESPACES):
            out.write(_NAMESPACE.format(i=i))
        for i in range(pods):
            a, b, c = i // 65536, i // 256 % 256, i % 256
            out.write(_POD.format(i=i, app=i % 7, ns=i % NAMESPACES, a=a, b=b, c=c))
        for i in range(policies):
            out.write(
                _POLICY.format(
                    i=i,
                    ns=i % NAMESPACES,
                    octet=i % 256,
                    peer=(i + 1) % 7,
                    port=8000 + i % 100,
                    app=i % 7,
                )
            )
        out.write('metadata:\n  resourceVersion: ""\n')
    return NAMESPACES + pods + policies


def write_alias_bomb(path: Path) -> None:
    """Lists of Lists of one aliased NetworkPolicy: 9**9 policies from 49 KB of YAML."""
    lines = [
        "# " + "padding to the size of the reported bomb " * 1100,
        "apiVersion: v1",
        "kind: List",
        "items:",
        "- &p0 {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, "
        "metadata: {name: p, namespace: x}, spec: {podSelector: {}}}",
    ]
    for level in range(1, 10):
        aliases = ", ".join([f"*p{level - 1}"] * 9)
        lines.append(f"- &p{level} {{kind: List, items: [{aliases}]}}")
    path.write_text("\n".join(lines) + "\n")
