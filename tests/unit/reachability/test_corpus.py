"""The NetworkPolicy semantics of the API reference and the concept page, case by case.

Written from the documentation, not from the engine: every case is one rule of
https://kubernetes.io/docs/reference/kubernetes-api/networking-resources/network-policy-v1/ or
https://kubernetes.io/docs/concepts/services-networking/network-policies/ where getting the
rule wrong changes an answer. Each check runs through both engines: the one-pair evaluation
`netiso explain` prints and the all-pairs matrix `netiso matrix` prints.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pytest

from netiso.reachability.evaluation import Endpoint, evaluate
from netiso.reachability.indexing import compute_matrix
from netiso.reachability.snapshots import HostNetwork, Options, Snapshot
from netiso.reachability.workloads import Pod

from .corpus import BASE, load, policy

Check = tuple[str, str, str, bool]  # source, destination, "port/PROTOCOL", allowed


@dataclass(frozen=True)
class Case:
    name: str
    documents: str
    checks: tuple[Check, ...]
    options: Options = field(default_factory=Options)


DENY_ALL_INGRESS_APP = policy("app/deny-in", "{podSelector: {}}")

CASES = (
    Case(
        "no policy: every pod is non-isolated and everything is allowed",
        "",
        (
            ("app/web", "other/client", "80/TCP", True),
            ("other/client", "app/web", "9999/UDP", True),
            ("undeclared/probe", "app/db", "1/SCTP", True),
        ),
    ),
    Case(
        "a policy without policyTypes and without rules isolates ingress only",
        DENY_ALL_INGRESS_APP,
        (
            ("other/client", "app/web", "8080/TCP", False),
            ("app/api", "app/web", "8080/TCP", False),
            ("app/web", "other/client", "80/TCP", True),
        ),
    ),
    Case(
        "policyTypes [Egress] does not isolate ingress, and its ingress rules are ignored",
        policy("app/egress-only", "{podSelector: {}, policyTypes: [Egress], ingress: [{}]}"),
        (
            ("other/client", "app/web", "8080/TCP", True),
            ("app/web", "other/client", "80/TCP", False),
        ),
    ),
    Case(
        "without policyTypes an empty egress list does not make the policy govern egress",
        policy("app/p", "{podSelector: {}, egress: []}"),
        (
            ("app/web", "other/client", "80/TCP", True),
            ("other/client", "app/web", "8080/TCP", False),
        ),
    ),
    Case(
        "without policyTypes egress rules add Egress, and Ingress is always included",
        policy(
            "app/p",
            "{podSelector: {}, egress: [{to: [{podSelector: {matchLabels: {app: db}}}]}]}",
        ),
        (
            ("app/web", "app/db", "5432/TCP", False),  # db's ingress is isolated too
            ("app/web", "other/client", "80/TCP", False),
            ("other/client", "app/web", "8080/TCP", False),
        ),
    ),
    Case(
        "policyTypes [Ingress] ignores egress rules: egress stays open",
        policy(
            "app/p",
            "{podSelector: {}, policyTypes: [Ingress], egress: [{to: [{podSelector: {}}]}]}",
        ),
        (("app/web", "other/client", "80/TCP", True),),
    ),
    Case(
        "ingress: [{}] allows all sources on every port and protocol",
        policy("app/allow-all", "{podSelector: {}, ingress: [{}]}"),
        (
            ("other/client", "app/web", "8080/TCP", True),
            ("undeclared/probe", "app/db", "53/UDP", True),
            ("10.0.0.1", "app/db", "1/SCTP", True),
        ),
    ),
    Case(
        "ingress: [] allows nothing",
        policy("app/p", "{podSelector: {}, ingress: []}"),
        (("other/client", "app/web", "8080/TCP", False),),
    ),
    Case(
        "from: [] matches all sources; the rule's ports still apply",
        policy("app/p", "{podSelector: {}, ingress: [{from: [], ports: [{port: 80}]}]}"),
        (
            ("other/client", "app/web", "80/TCP", True),
            ("10.1.2.3", "app/web", "80/TCP", True),
            ("other/client", "app/web", "81/TCP", False),
        ),
    ),
    Case(
        "egress to: [] and no ports matches every destination, pods and addresses",
        policy("app/p", "{podSelector: {}, policyTypes: [Egress], egress: [{to: []}]}"),
        (
            ("app/web", "other/client", "80/TCP", True),
            ("app/web", "8.8.8.8", "53/UDP", True),
        ),
    ),
    Case(
        "a podSelector peer alone selects pods in the policy's own namespace only",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]}",
        ),
        (
            ("app/web", "app/db", "5432/TCP", True),
            ("other/web", "app/db", "5432/TCP", False),
        ),
    ),
    Case(
        "a namespaceSelector peer alone selects every pod of the matching namespaces",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: b}}}]}]}",
        ),
        (
            ("other/client", "app/db", "5432/TCP", True),
            ("other/web", "app/db", "5432/TCP", True),
            ("app/web", "app/db", "5432/TCP", False),
        ),
    ),
    Case(
        "namespaceSelector and podSelector in one peer must both match (AND)",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: b}}, podSelector: {matchLabels: {app: client}}}]}]}",
        ),
        (
            ("other/client", "app/db", "5432/TCP", True),
            ("other/web", "app/db", "5432/TCP", False),
            ("app/web", "app/db", "5432/TCP", False),
        ),
    ),
    Case(
        "namespaceSelector and podSelector in two peers: either matches (OR)",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: b}}}, {podSelector: {matchLabels: {app: web}}}]}]}",
        ),
        (
            ("other/client", "app/db", "5432/TCP", True),
            ("other/web", "app/db", "5432/TCP", True),
            ("app/web", "app/db", "5432/TCP", True),
            ("app/api", "app/db", "5432/TCP", False),
        ),
    ),
    Case(
        "an empty namespaceSelector selects all namespaces, declared or not",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{namespaceSelector: {}}]}]}",
        ),
        (
            ("undeclared/probe", "app/db", "1/TCP", True),
            ("other/web", "app/db", "1/TCP", True),
            ("10.0.0.1", "app/db", "1/TCP", False),
        ),
    ),
    Case(
        "an empty podSelector as a peer selects every pod of the policy's namespace",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {}}]}]}",
        ),
        (
            ("app/web", "app/db", "1/TCP", True),
            ("other/web", "app/db", "1/TCP", False),
        ),
    ),
    Case(
        "an undeclared namespace has only its kubernetes.io/metadata.name label",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: undeclared}}}, {namespaceSelector: {matchExpressions: [{key: team, operator: Exists}]}}]}]}",
        ),
        (
            ("undeclared/probe", "app/db", "1/TCP", True),
            ("other/web", "app/db", "1/TCP", True),
        ),
    ),
    Case(
        "a declared namespace also carries kubernetes.io/metadata.name",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: other}}}]}]}",
        ),
        (
            ("other/client", "app/db", "1/TCP", True),
            ("undeclared/probe", "app/db", "1/TCP", False),
        ),
    ),
    Case(
        "matchLabels and matchExpressions are ANDed (subject selector)",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: api}, matchExpressions: [{key: tier, operator: In, values: [frontend]}]}}",
        ),
        (("other/client", "app/api", "8081/TCP", True),),  # selects nothing: not isolated
    ),
    Case(
        "matchLabels and matchExpressions are ANDed (peer selector)",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchLabels: {app: api}, matchExpressions: [{key: tier, operator: In, values: [backend]}]}}]}]}",
        ),
        (
            ("app/api", "app/db", "1/TCP", True),
            ("app/web", "app/db", "1/TCP", False),
        ),
    ),
    Case(
        "NotIn matches pods without the key",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [backend]}]}}]}]}",
        ),
        (
            ("app/web", "app/db", "1/TCP", True),
            ("app/api", "app/db", "1/TCP", False),
        ),
    ),
    Case(
        "Exists needs the key",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchExpressions: [{key: tier, operator: Exists}]}}]}]}",
        ),
        (
            ("app/api", "app/db", "1/TCP", True),
            ("app/web", "app/db", "1/TCP", False),
        ),
    ),
    Case(
        "DoesNotExist needs the key absent",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}}]}]}",
        ),
        (
            ("app/web", "app/db", "1/TCP", True),
            ("app/api", "app/db", "1/TCP", False),
        ),
    ),
    Case(
        "ipBlock with except: the CIDR minus the exceptions",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: web}}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]}]}",
        ),
        (
            ("app/web", "10.2.3.4", "443/TCP", True),
            ("app/web", "10.1.2.3", "443/TCP", False),
            ("app/web", "192.168.1.1", "443/TCP", False),
            ("app/web", "other/client", "443/TCP", False),
        ),
    ),
    Case(
        "ipBlock on ingress from external addresses",
        policy(
            "app/p",
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 192.168.0.0/16}}], ports: [{port: 443}]}]}",
        ),
        (
            ("192.168.7.7", "app/web", "443/TCP", True),
            ("192.168.7.7", "app/web", "80/TCP", False),
            ("172.16.0.1", "app/web", "443/TCP", False),
        ),
    ),
    Case(
        "protocol defaults to TCP",
        policy("app/p", "{podSelector: {}, ingress: [{ports: [{port: 53}]}]}"),
        (
            ("other/client", "app/web", "53/TCP", True),
            ("other/client", "app/web", "53/UDP", False),
        ),
    ),
    Case(
        "endPort makes an inclusive range",
        policy("app/p", "{podSelector: {}, ingress: [{ports: [{port: 8000, endPort: 8080}]}]}"),
        (
            ("other/client", "app/web", "8000/TCP", True),
            ("other/client", "app/web", "8080/TCP", True),
            ("other/client", "app/web", "8081/TCP", False),
            ("other/client", "app/web", "7999/TCP", False),
        ),
    ),
    Case(
        "a port entry without a port allows every port of its protocol",
        policy("app/p", "{podSelector: {}, ingress: [{ports: [{protocol: UDP}]}]}"),
        (
            ("other/client", "app/web", "5353/UDP", True),
            ("other/client", "app/web", "5353/TCP", False),
        ),
    ),
    Case(
        "SCTP is its own protocol",
        policy("app/p", "{podSelector: {}, ingress: [{ports: [{port: 3868, protocol: SCTP}]}]}"),
        (
            ("other/client", "app/web", "3868/SCTP", True),
            ("other/client", "app/web", "3868/TCP", False),
        ),
    ),
    Case(
        "a named port resolves on the destination pod's containers",
        policy("app/p", "{podSelector: {}, ingress: [{ports: [{port: http}]}]}"),
        (
            ("other/client", "app/api", "8081/TCP", True),
            ("other/client", "app/api", "8080/TCP", False),
            ("other/client", "app/web", "8080/TCP", True),
            ("other/client", "app/db", "8080/TCP", False),  # db has no port named http
        ),
    ),
    Case(
        "a named port matches by name and protocol",
        policy(
            "app/p",
            "{podSelector: {}, ingress: [{ports: [{port: dns}]}, {ports: [{port: dns, protocol: UDP}], from: [{namespaceSelector: {}}]}]}",
        ),
        (
            ("other/client", "app/api", "5353/UDP", True),
            ("10.0.0.1", "app/api", "5353/UDP", False),  # only the TCP entry admits addresses
            ("10.0.0.1", "app/api", "5353/TCP", False),  # api has no TCP port named dns
        ),
    ),
    Case(
        "an egress named port resolves on the destination, not on the source",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: web}}, policyTypes: [Egress], egress: [{ports: [{port: http}]}]}",
        ),
        (
            ("app/web", "app/api", "8081/TCP", True),
            ("app/web", "app/api", "8080/TCP", False),
            ("app/web", "8.8.8.8", "8080/TCP", False),
        ),
    ),
    Case(
        "an egress rule without `to` resolves a named port on each destination, in any "
        "namespace, whatever the policy's own namespace declares",
        policy(
            "other/p",
            "{podSelector: {matchLabels: {app: client}}, policyTypes: [Egress], egress: [{ports: [{port: http}]}]}",
        )
        + policy(
            "app/q",
            "{podSelector: {matchLabels: {app: web}}, policyTypes: [Egress], egress: [{ports: [{port: http}]}]}",
        ),
        (
            # No pod of `other` declares http; the destinations in `app` do.
            ("other/client", "app/api", "8081/TCP", True),
            ("other/client", "app/web", "8080/TCP", True),
            ("other/client", "app/api", "8080/TCP", False),
            ("other/client", "app/db", "8080/TCP", False),  # db has no port named http
            # Pods of `app` declare http as 8080 and 8081; other/web declares nothing.
            ("app/web", "other/web", "8080/TCP", False),
            ("app/web", "other/client", "8081/TCP", False),
        ),
    ),
    Case(
        "policies are additive: the union of their rules",
        policy(
            "app/a",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 80}]}]}",
        )
        + policy(
            "app/b",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: 443}]}]}",
        ),
        (
            ("app/web", "app/db", "80/TCP", True),
            ("app/web", "app/db", "443/TCP", False),
            ("app/api", "app/db", "443/TCP", True),
            ("app/api", "app/db", "80/TCP", False),
        ),
    ),
    Case(
        "a connection needs the source's egress and the destination's ingress",
        policy(
            "app/out",
            "{podSelector: {}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {matchLabels: {team: b}}}], ports: [{port: 80, endPort: 90}]}]}",
        )
        + policy(
            "other/in",
            "{podSelector: {matchLabels: {app: client}}, ingress: [{from: [{namespaceSelector: {}}], ports: [{port: 85, endPort: 100}]}]}",
        ),
        (
            ("app/web", "other/client", "85/TCP", True),
            ("app/web", "other/client", "90/TCP", True),
            ("app/web", "other/client", "80/TCP", False),  # egress yes, ingress no
            ("app/web", "other/client", "95/TCP", False),  # ingress yes, egress no
            ("app/web", "other/web", "80/TCP", True),
        ),
    ),
    Case(
        "isolation is per direction: an ingress policy leaves egress open",
        DENY_ALL_INGRESS_APP,
        (("app/db", "undeclared/probe", "22/TCP", True),),
    ),
    Case(
        "a pod cannot block access to itself",
        policy("app/p", "{podSelector: {}, policyTypes: [Ingress, Egress]}"),
        (("app/web", "app/web", "8080/TCP", True), ("app/web", "app/api", "8081/TCP", False)),
    ),
    Case(
        "a policy selecting nothing changes nothing",
        policy(
            "app/p",
            "{podSelector: {matchLabels: {app: nobody}}, policyTypes: [Ingress, Egress]}",
        ),
        (("other/client", "app/db", "1/TCP", True), ("app/db", "other/client", "1/TCP", True)),
    ),
)

IP_CASES = (
    Case(
        "ipBlock peers match pods with a known IP (default)",
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: known, namespace: other}\n"
        "spec: {containers: [{name: c}]}\nstatus: {podIP: 10.2.0.7, podIPs: [{ip: 10.2.0.7}]}\n"
        + policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{ipBlock: {cidr: 10.2.0.0/16}}]}]}",
        ),
        (
            ("other/known", "app/db", "1/TCP", True),
            ("other/client", "app/db", "1/TCP", False),  # no known IP: selectors only
            ("10.2.9.9", "app/db", "1/TCP", True),
        ),
    ),
    Case(
        "ipBlock peers match only external addresses when told so",
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: known, namespace: other}\n"
        "spec: {containers: [{name: c}]}\nstatus: {podIP: 10.2.0.7}\n"
        + policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{ipBlock: {cidr: 10.2.0.0/16}}]}]}",
        ),
        (("other/known", "app/db", "1/TCP", False), ("10.2.9.9", "app/db", "1/TCP", True)),
        Options(ip_blocks_match_pods=False),
    ),
    Case(
        "pods sharing an IP are both matched by an ipBlock of that IP",
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: other}\n"
        "spec: {containers: [{name: c}]}\nstatus: {podIP: 10.9.9.9}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: app}\n"
        "spec: {containers: [{name: c}]}\nstatus: {podIP: 10.9.9.9}\n"
        + policy(
            "app/p",
            "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{ipBlock: {cidr: 10.9.9.9/32}}]}]}",
        ),
        (("other/a", "app/db", "1/TCP", True), ("app/b", "app/db", "1/TCP", True)),
    ),
)

HOST = (
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: agent, namespace: other, labels: {app: agent}}\n"
    "spec: {hostNetwork: true, containers: [{name: c}]}\nstatus: {podIP: 192.168.0.10}\n"
    + policy(
        "app/from-all-namespaces",
        "{podSelector: {matchLabels: {app: db}}, ingress: [{from: [{namespaceSelector: {}}]}]}",
    )
    + policy(
        "app/from-nodes",
        "{podSelector: {matchLabels: {app: api}}, ingress: [{from: [{ipBlock: {cidr: 192.168.0.0/24}}]}]}",
    )
    + policy("other/deny", "{podSelector: {}, policyTypes: [Ingress, Egress]}")
)
HOST_CASES = (
    Case(
        "hostNetwork pods (default node): selectors ignore them, ipBlock matches the node IP",
        HOST,
        (
            ("other/agent", "app/db", "1/TCP", False),
            ("other/agent", "app/api", "1/TCP", True),
            ("app/web", "other/agent", "1/TCP", True),  # never isolated
            ("other/agent", "undeclared/probe", "1/TCP", True),
            ("app/web", "other/client", "1/TCP", False),
        ),
    ),
    Case(
        "hostNetwork pods treated as pods when told so",
        HOST,
        (
            ("other/agent", "app/db", "1/TCP", False),  # its own egress is now denied
            ("app/web", "other/agent", "1/TCP", False),
            ("app/db", "app/db", "1/TCP", True),
        ),
        Options(host_network=HostNetwork.POD),
    ),
)

ALL_CASES = CASES + IP_CASES + HOST_CASES


def endpoint(snapshot: Snapshot, text: str) -> Endpoint:
    pod = snapshot.pod(text)
    if pod is not None:
        return pod
    return ipaddress.ip_address(text)


def matrix_answer(
    snapshot: Snapshot, *, source: Endpoint, destination: Endpoint, protocol: str, port: int
) -> bool:
    """The same question answered from the matrix (pairs, or external ranges)."""
    matrix = compute_matrix(snapshot)
    index = {pod.key: number for number, pod in enumerate(matrix.pods)}
    if isinstance(source, Pod) and isinstance(destination, Pod):
        return matrix.allowed(index[source.key], index[destination.key]).admits(protocol, port)
    if isinstance(source, Pod):
        entries = matrix.egress_external[index[source.key]]
        address = int(destination)  # type: ignore[arg-type]
    else:
        assert isinstance(destination, Pod)
        entries = matrix.ingress_external[index[destination.key]]
        address = int(source)
    return any(
        first <= address <= last and ports.admits(protocol, port)
        for ranges, ports in entries
        for first, last in ranges
    )


@pytest.mark.parametrize(
    ("case", "check"),
    [(case, check) for case in ALL_CASES for check in case.checks],
    ids=[
        f"{case.name} | {check[0]}->{check[1]} {check[2]}"
        for case in ALL_CASES
        for check in case.checks
    ],
)
def test_corpus(case: Case, check: Check) -> None:
    snapshot = load(BASE, case.documents, options=case.options)
    source_text, destination_text, port_text, expected = check
    number, protocol = port_text.split("/")
    source = endpoint(snapshot, source_text)
    destination = endpoint(snapshot, destination_text)
    verdict = evaluate(
        snapshot, source=source, destination=destination, protocol=protocol, port=int(number)
    )
    assert verdict.allowed is expected, verdict
    if source_text != destination_text:
        assert (
            matrix_answer(
                snapshot,
                source=source,
                destination=destination,
                protocol=protocol,
                port=int(number),
            )
            is expected
        )
