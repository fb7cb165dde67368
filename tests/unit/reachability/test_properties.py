"""Properties every correct engine has, on random clusters (hypothesis).

- the matrix and the one-pair evaluation agree on every pair, port and external address;
- adding a policy that selects no pod never changes an answer;
- adding a rule to a policy (an allow) never removes anything that was allowed.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netiso.cli.gathering import Objects, add_object
from netiso.reachability.evaluation import evaluate
from netiso.reachability.indexing import Matrix, compute_matrix
from netiso.reachability.portsets import PROTOCOLS
from netiso.reachability.snapshots import HostNetwork, Options, Snapshot, make_snapshot

NAMESPACES = ("a", "b", "c")
KEYS = ("app", "tier")
VALUES = ("x", "y")
PORT_NAMES = ("http", "dns")
PROBE_PORTS = (53, 80, 81, 443, 8080)
PROBE_ADDRESSES = ("10.0.0.1", "10.1.0.1", "10.2.0.5", "192.168.0.1", "8.8.8.8")

labels = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2)


@st.composite
def selectors(draw: st.DrawFn) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    if draw(st.booleans()):
        selector["matchLabels"] = draw(labels)
    if draw(st.booleans()):
        operator = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
        expression: dict[str, Any] = {"key": draw(st.sampled_from(KEYS)), "operator": operator}
        if operator in ("In", "NotIn"):
            expression["values"] = draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=2))
        selector["matchExpressions"] = [expression]
    return selector


@st.composite
def peers(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["pod", "namespace", "both", "ip"]))
    if kind == "ip":
        block: dict[str, Any] = {
            "cidr": draw(st.sampled_from(["10.0.0.0/8", "10.2.0.0/16", "0.0.0.0/0"]))
        }
        if draw(st.booleans()) and block["cidr"] != "10.2.0.0/16":
            block["except"] = ["10.1.0.0/16"]
        return {"ipBlock": block}
    peer: dict[str, Any] = {}
    if kind in ("pod", "both"):
        peer["podSelector"] = draw(selectors())
    if kind in ("namespace", "both"):
        peer["namespaceSelector"] = draw(selectors())
    return peer


@st.composite
def port_entries(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if draw(st.booleans()):
        entry["protocol"] = draw(st.sampled_from(PROTOCOLS))
    kind = draw(st.sampled_from(["number", "range", "name", "none"]))
    if kind == "number":
        entry["port"] = draw(st.sampled_from(PROBE_PORTS))
    elif kind == "range":
        entry["port"] = 80
        entry["endPort"] = draw(st.sampled_from([80, 81, 443]))
    elif kind == "name":
        entry["port"] = draw(st.sampled_from(PORT_NAMES))
    return entry


@st.composite
def rules(draw: st.DrawFn, peers_key: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if draw(st.booleans()):
        rule[peers_key] = draw(st.lists(peers(), max_size=2))
    if draw(st.booleans()):
        rule["ports"] = draw(st.lists(port_entries(), max_size=2))
    return rule


@st.composite
def policies(draw: st.DrawFn, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": draw(selectors())}
    if draw(st.booleans()):
        spec["ingress"] = draw(st.lists(rules("from"), max_size=2))
    if draw(st.booleans()):
        spec["egress"] = draw(st.lists(rules("to"), max_size=2))
    if draw(st.booleans()):
        spec["policyTypes"] = draw(
            st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]])
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": draw(st.sampled_from(NAMESPACES))},
        "spec": spec,
    }


@st.composite
def pods(draw: st.DrawFn, name: str) -> dict[str, Any]:
    ports = [
        {
            "name": port_name,
            "containerPort": draw(st.sampled_from(PROBE_PORTS)),
            "protocol": draw(st.sampled_from(PROTOCOLS)),
        }
        for port_name in draw(st.lists(st.sampled_from(PORT_NAMES), unique=True, max_size=2))
    ]
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": draw(st.sampled_from(NAMESPACES)),
            "labels": draw(labels),
        },
        "spec": {
            "containers": [{"name": "c", "ports": ports}],
            "hostNetwork": draw(st.sampled_from([False, False, True])),
        },
    }
    if draw(st.booleans()):
        body["status"] = {"podIP": draw(st.sampled_from(["10.2.0.5", "10.1.0.1", "10.3.3.3"]))}
    return body


@st.composite
def clusters(draw: st.DrawFn) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": draw(labels)},
        }
        for name in NAMESPACES[:2]  # "c" stays undeclared
    ]
    objects.extend(draw(pods(f"p{index}")) for index in range(draw(st.integers(2, 5))))
    objects.extend(draw(policies(f"np{index}")) for index in range(draw(st.integers(0, 4))))
    return objects


options = st.builds(
    Options,
    host_network=st.sampled_from(list(HostNetwork)),
    ip_blocks_match_pods=st.booleans(),
)


def snapshot_of(bodies: list[dict[str, Any]], option: Options) -> Snapshot:
    objects = Objects()
    for index, body in enumerate(bodies):
        add_object(objects, body, label=str(index))
    return make_snapshot(
        namespaces=objects.namespaces, pods=objects.pods, policies=objects.policies, options=option
    )


def answers(matrix: Matrix) -> dict[tuple[object, ...], object]:
    found: dict[tuple[object, ...], object] = {}
    for i in range(len(matrix.pods)):
        for j in range(len(matrix.pods)):
            if i != j:
                found[("pair", i, j)] = matrix.allowed(i, j)
        found[("out", i)] = matrix.egress_external[i]
        found[("in", i)] = matrix.ingress_external[i]
    return found


def external_admits(entries: Any, *, address: int, protocol: str, port: int) -> bool:
    return any(
        first <= address <= last and ports.admits(protocol, port)
        for ranges, ports in entries
        for first, last in ranges
    )


# How many examples: the hypothesis profile decides (tests/conftest.py: a few dozen for a plain
# pytest, 150 with --all, as CI runs).
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(clusters(), options)
def test_matrix_and_explain_agree_on_every_pair(
    bodies: list[dict[str, Any]], option: Options
) -> None:
    snapshot = snapshot_of(bodies, option)
    matrix = compute_matrix(snapshot)
    pod_ips = {address for pod in snapshot.pods for address in pod.ips}
    for i, source in enumerate(matrix.pods):
        for protocol in PROTOCOLS:
            for port in PROBE_PORTS:
                for j, destination in enumerate(matrix.pods):
                    if i == j:
                        continue
                    verdict = evaluate(
                        snapshot,
                        source=source,
                        destination=destination,
                        protocol=protocol,
                        port=port,
                    )
                    assert matrix.allowed(i, j).admits(protocol, port) is verdict.allowed, (
                        source.key,
                        destination.key,
                        protocol,
                        port,
                    )
                for text in PROBE_ADDRESSES:
                    address = ipaddress.ip_address(text)
                    if address in pod_ips:
                        continue  # the matrix's external part covers addresses that are not pods
                    out = evaluate(
                        snapshot, source=source, destination=address, protocol=protocol, port=port
                    )
                    assert (
                        external_admits(
                            matrix.egress_external[i],
                            address=int(address),
                            protocol=protocol,
                            port=port,
                        )
                        is out.allowed
                    )
                    into = evaluate(
                        snapshot, source=address, destination=source, protocol=protocol, port=port
                    )
                    assert (
                        external_admits(
                            matrix.ingress_external[i],
                            address=int(address),
                            protocol=protocol,
                            port=port,
                        )
                        is into.allowed
                    )


@FAST
@given(clusters(), options, policies("selects-nothing"))
def test_a_policy_selecting_nothing_changes_nothing(
    bodies: list[dict[str, Any]], option: Options, extra: dict[str, Any]
) -> None:
    extra["spec"]["podSelector"] = {"matchLabels": {"nobody": "here"}}
    before = answers(compute_matrix(snapshot_of(bodies, option)))
    after = answers(compute_matrix(snapshot_of([*bodies, extra], option)))
    assert before == after


@FAST
@given(clusters(), options, st.data())
def test_adding_an_allow_never_removes_a_connection(
    bodies: list[dict[str, Any]], option: Options, data: st.DataObject
) -> None:
    targets = [index for index, body in enumerate(bodies) if body["kind"] == "NetworkPolicy"]
    if not targets:
        return
    index = data.draw(st.sampled_from(targets))
    direction = data.draw(st.sampled_from(["ingress", "egress"]))
    changed = copy.deepcopy(bodies)
    spec = changed[index]["spec"]
    if "policyTypes" not in spec and direction == "egress" and not spec.get("egress"):
        return  # a first egress rule would make the policy govern egress: not just an allow
    spec.setdefault(direction, []).append(
        data.draw(rules("from" if direction == "ingress" else "to"))
    )
    before = compute_matrix(snapshot_of(bodies, option))
    after = compute_matrix(snapshot_of(changed, option))
    for key, was in answers(before).items():
        now = answers(after)[key]
        if key[0] == "pair":
            assert was.intersection(now) == was, key  # type: ignore[attr-defined]
        else:
            for ranges, ports in was:  # type: ignore[attr-defined]
                for first, last in ranges:
                    for address in {first, last}:
                        for protocol in PROTOCOLS:
                            for port in PROBE_PORTS:
                                if ports.admits(protocol, port):
                                    assert external_admits(
                                        now, address=address, protocol=protocol, port=port
                                    )
