"""parse_profile(): defaults, accepted shapes, and the exact problem for every kind of bad input.

Unit tests of the model layer (netiso.model.profiles); table-driven, exact messages.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from netiso.model.parsing import parse_profile
from netiso.model.problems import Problem, ProfileError
from netiso.model.profiles import (
    DEFAULT_DNS_POD_SELECTOR,
    DEFAULT_MONITORING_POD_SELECTOR,
    DefaultDeny,
    DriftAction,
    Gateway,
    Mode,
    Monitoring,
    OnDelete,
    PortRule,
    Profile,
    Protocol,
)
from netiso.model.selection import LabelSelector, SelectorOperator, SelectorRequirement

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"


def body(spec: Any = None, **metadata: Any) -> dict[str, Any]:
    """An IsolationProfile object named `p` (unless metadata says otherwise) with `spec`."""
    document: dict[str, Any] = {
        "apiVersion": "netiso.io/v1alpha1",
        "kind": "IsolationProfile",
        "metadata": {"name": "p", **metadata},
    }
    if spec is not None:
        document["spec"] = spec
    return document


def problems_of(document: Any) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        parse_profile(document)
    return [str(problem) for problem in caught.value.problems]


GATEWAY_OK = {"enabled": True, "namespaces": ["ingress-nginx"], "ports": [{"port": 8080}]}


def test_empty_spec_takes_every_crd_default() -> None:
    assert parse_profile(body({})) == Profile(name="p")


def test_missing_and_null_spec_read_as_empty() -> None:
    assert parse_profile(body()) == Profile(name="p")
    assert parse_profile(body(None) | {"spec": None}) == Profile(name="p")


def test_defaults_deny_both_directions_and_allow_dns_to_kube_dns() -> None:
    profile = parse_profile(body({}))
    assert profile.default_deny == DefaultDeny(ingress=True, egress=True)
    assert profile.dns.enabled
    assert profile.dns.namespace == "kube-system"
    assert profile.dns.pod_selector == LabelSelector.of({"k8s-app": "kube-dns"})
    assert profile.dns.ports == (PortRule(Protocol.UDP, 53), PortRule(Protocol.TCP, 53))
    assert not profile.dns.node_local_cache.enabled
    assert profile.dns.node_local_cache.address == "169.254.20.10"
    assert not profile.gateway.enabled
    assert profile.gateway.pod_selector is None
    assert profile.gateway.target_pod_selector.selects_all
    assert not profile.monitoring.enabled
    assert profile.monitoring.pod_selector == LabelSelector.of(
        {"app.kubernetes.io/name": "prometheus"}
    )


def test_modes_compare_equal_to_their_strings() -> None:
    profile = parse_profile(body({"mode": "DryRun", "driftAction": "Report", "onDelete": "Orphan"}))
    assert profile.mode == "DryRun"
    assert profile.mode is Mode.DRY_RUN
    assert profile.drift_action == "Report"
    assert profile.drift_action is DriftAction.REPORT
    assert profile.on_delete == "Orphan"
    assert profile.on_delete is OnDelete.ORPHAN


def test_identity_comes_from_metadata() -> None:
    profile = parse_profile(body({}, uid="1234-abcd", generation=7, resourceVersion="99"))
    assert (profile.name, profile.uid, profile.generation) == ("p", "1234-abcd", 7)


def test_status_and_server_metadata_are_ignored() -> None:
    document = body({}, managedFields=[{"manager": "kubectl"}], labels={"a": "b"})
    document["status"] = {"inSync": 3, "anything": True}
    assert parse_profile(document) == Profile(name="p")


def test_baseline_sample_parses_to_the_documented_values() -> None:
    document = yaml.safe_load((SAMPLES / "baseline.yaml").read_text())
    profile = parse_profile(document)
    assert profile.name == "baseline"
    assert profile.owner == "platform-team"
    assert profile.gateway == Gateway(
        enabled=True,
        namespaces=("ingress-nginx",),
        pod_selector=LabelSelector.of(
            {
                "app.kubernetes.io/name": "ingress-nginx",
                "app.kubernetes.io/component": "controller",
            }
        ),
        target_pod_selector=LabelSelector(),
        ports=(PortRule(Protocol.TCP, 8080), PortRule(Protocol.TCP, 8443)),
    )
    assert profile.monitoring == Monitoring(
        enabled=True,
        namespaces=("monitoring",),
        pod_selector=DEFAULT_MONITORING_POD_SELECTOR,
        target_pod_selector=LabelSelector(),
        ports=(PortRule(Protocol.TCP, 9090, end_port=9100),),
    )


PROFILE_SAMPLES = sorted(
    path
    for path in SAMPLES.glob("*.yaml")
    if yaml.safe_load(path.read_text()).get("kind") == "IsolationProfile"
)


def test_samples_include_the_baseline_and_the_staged_profile() -> None:
    assert {path.name for path in PROFILE_SAMPLES} >= {"baseline.yaml", "ingress-only.yaml"}


@pytest.mark.parametrize("sample", PROFILE_SAMPLES, ids=lambda path: path.name)
def test_every_profile_sample_survives_a_round_trip_through_to_spec(sample: Path) -> None:
    profile = parse_profile(yaml.safe_load(sample.read_text()))
    assert parse_profile(body(profile.to_spec(), name=profile.name)) == profile


def test_port_protocol_defaults_to_tcp_and_named_ports_are_kept() -> None:
    profile = parse_profile(
        body(
            {
                "gateway": GATEWAY_OK | {"ports": [{"port": 8080}, {"port": "http"}]},
            }
        )
    )
    assert profile.gateway.ports == (PortRule(Protocol.TCP, 8080), PortRule(Protocol.TCP, "http"))


def test_several_gateway_namespaces_and_expressions_are_kept_in_order() -> None:
    selector = {
        "matchExpressions": [
            {"key": "app", "operator": "In", "values": ["a", "b"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ]
    }
    profile = parse_profile(
        body({"gateway": GATEWAY_OK | {"namespaces": ["b", "a"], "podSelector": selector}})
    )
    assert profile.gateway.namespaces == ("b", "a")
    assert profile.gateway.pod_selector == LabelSelector(
        match_expressions=(
            SelectorRequirement("app", SelectorOperator.IN, ("a", "b")),
            SelectorRequirement("canary", SelectorOperator.DOES_NOT_EXIST),
        )
    )


def test_an_explicit_empty_dns_pod_selector_is_refused_unless_all_pods() -> None:
    """`dns.podSelector: {matchLabel: ...}` reaches netiso as `{}`: it must not open DNS egress
    to every pod of the DNS namespace; `allPods: true` asks for that on purpose."""
    with pytest.raises(ProfileError) as caught:
        parse_profile(body({"dns": {"podSelector": {}}}))
    assert [p.path for p in caught.value.problems] == ["spec.dns.podSelector"]
    assert "dns.allPods: true" in str(caught.value)
    profile = parse_profile(body({"dns": {"allPods": True}}))
    assert profile.dns.pod_selector.selects_all
    assert profile.dns.pod_selector != DEFAULT_DNS_POD_SELECTOR
    assert parse_profile({**body({}), "spec": profile.to_spec()}).dns == profile.dns
    with pytest.raises(ProfileError, match="contradicts"):
        parse_profile(body({"dns": {"allPods": True, "podSelector": {"matchLabels": {"a": "b"}}}}))
    # Disabled DNS plans nothing, so its selector widens nothing.
    assert not parse_profile(body({"dns": {"enabled": False, "podSelector": {}}})).dns.enabled


@pytest.mark.parametrize("part", ["gateway", "monitoring"])
def test_an_explicit_empty_target_selector_is_refused(part: str) -> None:
    """A misspelt `targetPodSelector` is pruned to `{}` by the API server: refused, naming the
    field; leaving the field out keeps "every pod of the namespace"."""
    peer = {"enabled": True, "namespaces": ["edge"], "ports": [{"port": 8080}], "allPods": True}
    with pytest.raises(ProfileError) as caught:
        parse_profile(body({part: peer | {"targetPodSelector": {}}}))
    assert [str(p) for p in caught.value.problems] == [
        f"spec.{part}.targetPodSelector: is empty and selects every pod of the namespace (a "
        "misspelt field such as matchLabel is dropped by the API server and leaves {}): name "
        f"the pods, or leave {part}.targetPodSelector out to open {part} ingress to them all "
        "on purpose"
    ]
    parsed = parse_profile(body({part: peer}))
    assert getattr(parsed, part).target_pod_selector.selects_all
    assert parse_profile({**body({}), "spec": parsed.to_spec()}) == parsed


@pytest.mark.parametrize(
    ("address", "cidr"),
    [
        ("169.254.20.10", "169.254.20.10/32"),
        ("fd00::10", "fd00::10/128"),
        ("10.96.0.0/12", "10.96.0.0/12"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("fd00:1234::/32", "fd00:1234::/32"),
    ],
)
def test_node_local_cache_address_becomes_an_ipblock_cidr(address: str, cidr: str) -> None:
    profile = parse_profile(
        body({"dns": {"nodeLocalCache": {"enabled": True, "address": address}}})
    )
    assert profile.dns.node_local_cache.cidr == cidr


BAD_INPUTS: list[tuple[str, Any, list[str]]] = [
    # Unknown fields, at every level.
    ("unknown spec field", {"colour": "red"}, ["spec.colour: unknown field"]),
    ("unknown dns field", {"dns": {"foo": 1}}, ["spec.dns.foo: unknown field"]),
    (
        "unknown port field",
        {"dns": {"ports": [{"port": 53, "proto": "UDP"}]}},
        ["spec.dns.ports[0].proto: unknown field"],
    ),
    (
        "unknown selector field",
        {"dns": {"podSelector": {"matchLabel": {"a": "b"}}}},
        [
            "spec.dns.podSelector.matchLabel: unknown field",
            "spec.dns.podSelector: is empty and selects every pod of the dns namespaces (a "
            "misspelt field such as matchLabel is dropped by the API server and leaves {}): "
            "name the pods, or set dns.allPods: true to admit them all on purpose",
        ],
    ),
    # Wrong types.
    ("spec not an object", ["a"], ["spec: must be an object, got array"]),
    ("dns not an object", {"dns": True}, ["spec.dns: must be an object, got boolean"]),
    (
        "string for boolean",
        {"dns": {"enabled": "true"}},
        ["spec.dns.enabled: must be a boolean, got string"],
    ),
    (
        "number for string",
        {"owner": 42},
        ["spec.owner: must be a string, got integer"],
    ),
    (
        "object for list",
        {"gateway": GATEWAY_OK | {"namespaces": {"a": 1}}},
        ["spec.gateway.namespaces: must be an array, got object"],
    ),
    (
        "boolean for port",
        {"dns": {"ports": [{"port": True}]}},
        ["spec.dns.ports[0].port: must be a port number or name, got boolean"],
    ),
    # Enums.
    (
        "bad mode",
        {"mode": "Audit"},
        ['spec.mode: must be one of Enforce, DryRun, got "Audit"'],
    ),
    (
        "bad drift action",
        {"driftAction": "repair"},
        ['spec.driftAction: must be one of Repair, Report, got "repair"'],
    ),
    (
        "bad onDelete",
        {"onDelete": 1},
        ["spec.onDelete: must be one of Delete, Orphan, got 1"],
    ),
    # Ports.
    (
        "port zero",
        {"dns": {"ports": [{"protocol": "UDP", "port": 53}, {"port": 0}]}},
        ["spec.dns.ports[1].port: must be 1..65535, got 0"],
    ),
    (
        "port too high",
        {"gateway": GATEWAY_OK | {"ports": [{"port": 65536}]}},
        ["spec.gateway.ports[0].port: must be 1..65535, got 65536"],
    ),
    (
        "port missing",
        {"gateway": GATEWAY_OK | {"ports": [{"protocol": "TCP"}]}},
        ["spec.gateway.ports[0].port: required"],
    ),
    (
        "port number as string",
        {"gateway": GATEWAY_OK | {"ports": [{"port": "8080"}]}},
        [
            "spec.gateway.ports[0].port: must be a port name (at most 15 lowercase "
            "alphanumerics or '-', with at least one letter, no '--', starting and ending "
            'with an alphanumeric), got "8080"'
        ],
    ),
    (
        "bad protocol",
        {"gateway": GATEWAY_OK | {"ports": [{"protocol": "HTTP", "port": 80}]}},
        ['spec.gateway.ports[0].protocol: must be one of TCP, UDP, SCTP, got "HTTP"'],
    ),
    (
        "lowercase protocol",
        {"dns": {"ports": [{"protocol": "udp", "port": 53}]}},
        ['spec.dns.ports[0].protocol: must be one of TCP, UDP, SCTP, got "udp"'],
    ),
    (
        "endPort below port",
        {"monitoring": GATEWAY_OK | {"ports": [{"port": 9100, "endPort": 9090}]}},
        ["spec.monitoring.ports[0].endPort: must be >= port 9100, got 9090"],
    ),
    (
        "endPort with a named port",
        {"monitoring": GATEWAY_OK | {"ports": [{"port": "metrics", "endPort": 9090}]}},
        ['spec.monitoring.ports[0].endPort: needs a numeric port, got port "metrics"'],
    ),
    (
        "endPort out of range",
        {"monitoring": GATEWAY_OK | {"ports": [{"port": 9100, "endPort": 70000}]}},
        ["spec.monitoring.ports[0].endPort: must be 1..65535, got 70000"],
    ),
    (
        "too many ports",
        {"gateway": GATEWAY_OK | {"ports": [{"port": n} for n in range(1, 34)]}},
        ["spec.gateway.ports: must have at most 32 items, got 33"],
    ),
    # Empty lists when enabled.
    (
        "gateway enabled without namespaces",
        {"gateway": {"enabled": True, "ports": [{"port": 80}]}},
        ["spec.gateway.namespaces: must not be empty when gateway is enabled"],
    ),
    (
        "gateway enabled with empty namespaces and ports",
        {"gateway": {"enabled": True, "namespaces": [], "ports": []}},
        [
            "spec.gateway.namespaces: must not be empty when gateway is enabled",
            "spec.gateway.ports: must not be empty when gateway is enabled",
        ],
    ),
    (
        "monitoring enabled without ports",
        {"monitoring": {"enabled": True, "namespaces": ["monitoring"]}},
        ["spec.monitoring.ports: must not be empty when monitoring is enabled"],
    ),
    (
        "dns enabled with an empty port list",
        {"dns": {"ports": []}},
        ["spec.dns.ports: must not be empty when dns is enabled"],
    ),
    # Namespace names.
    (
        "namespace name with uppercase and underscore",
        {"gateway": GATEWAY_OK | {"namespaces": ["Ingress_Nginx"]}},
        [
            "spec.gateway.namespaces[0]: must be a DNS-1123 label (at most 63 lowercase "
            "alphanumerics or '-', starting and ending with an alphanumeric), "
            'got "Ingress_Nginx"'
        ],
    ),
    (
        "namespace name too long",
        {"dns": {"namespace": "a" * 64}},
        [
            "spec.dns.namespace: must be a DNS-1123 label (at most 63 lowercase "
            "alphanumerics or '-', starting and ending with an alphanumeric), "
            f'got "{"a" * 64}"'
        ],
    ),
    (
        "duplicate namespace",
        {"gateway": GATEWAY_OK | {"namespaces": ["a", "b", "a"]}},
        ['spec.gateway.namespaces[2]: duplicate namespace "a"'],
    ),
    # Labels and selectors.
    (
        "label key with two slashes",
        {"dns": {"podSelector": {"matchLabels": {"a/b/c": "x"}}}},
        [
            'spec.dns.podSelector.matchLabels["a/b/c"]: invalid label key: prefix must be a '
            "DNS-1123 subdomain (lowercase alphanumerics, '-' and '.', at most 253 characters)"
        ],
    ),
    (
        "label key with a space",
        {"monitoring": {"podSelector": {"matchLabels": {"my app": "x"}}}},
        [
            'spec.monitoring.podSelector.matchLabels["my app"]: invalid label key: name part '
            "must consist of alphanumerics, '-', '_' or '.', starting and ending with an "
            "alphanumeric"
        ],
    ),
    (
        "label key name too long",
        {"dns": {"podSelector": {"matchLabels": {"k" * 64: "x"}}}},
        [
            f'spec.dns.podSelector.matchLabels["{"k" * 64}"]: invalid label key: name part '
            "must be at most 63 characters"
        ],
    ),
    (
        "label value with a slash",
        {"gateway": GATEWAY_OK | {"targetPodSelector": {"matchLabels": {"app": "a/b"}}}},
        [
            'spec.gateway.targetPodSelector.matchLabels["app"]: invalid label value "a/b": '
            "must be empty or consist of alphanumerics, '-', '_' or '.', starting and ending "
            "with an alphanumeric"
        ],
    ),
    (
        "label value not a string",
        {"dns": {"podSelector": {"matchLabels": {"tier": 1}}}},
        ['spec.dns.podSelector.matchLabels["tier"]: must be a string, got integer'],
    ),
    (
        "expression without values",
        {"dns": {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}},
        ["spec.dns.podSelector.matchExpressions[0].values: must not be empty for operator In"],
    ),
    (
        "exists with values",
        {
            "dns": {
                "podSelector": {
                    "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
                }
            }
        },
        ["spec.dns.podSelector.matchExpressions[0].values: must be empty for operator Exists"],
    ),
    (
        "bad operator",
        {"dns": {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Equals"}]}}},
        [
            "spec.dns.podSelector.matchExpressions[0].operator: must be one of In, NotIn, "
            'Exists, DoesNotExist, got "Equals"'
        ],
    ),
    (
        "expression without key or operator",
        {"dns": {"podSelector": {"matchExpressions": [{}]}}},
        [
            "spec.dns.podSelector.matchExpressions[0].key: required",
            "spec.dns.podSelector.matchExpressions[0].operator: required",
        ],
    ),
    # CIDRs.
    (
        "not an address",
        {"dns": {"nodeLocalCache": {"address": "dns.local"}}},
        ['spec.dns.nodeLocalCache.address: must be an IP address or a CIDR, got "dns.local"'],
    ),
    (
        "everything",
        {"dns": {"nodeLocalCache": {"enabled": True, "address": "0.0.0.0/0"}}},
        ['spec.dns.nodeLocalCache.address: must not be broader than /8, got "0.0.0.0/0"'],
    ),
    (
        "broader than /8",
        {"dns": {"nodeLocalCache": {"address": "10.0.0.0/7"}}},
        ['spec.dns.nodeLocalCache.address: must not be broader than /8, got "10.0.0.0/7"'],
    ),
    (
        "all of IPv6",
        {"dns": {"nodeLocalCache": {"address": "::/0"}}},
        ['spec.dns.nodeLocalCache.address: must not be broader than /32, got "::/0"'],
    ),
    (
        "host bits set",
        {"dns": {"nodeLocalCache": {"address": "10.1.2.3/8"}}},
        [
            'spec.dns.nodeLocalCache.address: has host bits set, got "10.1.2.3/8" '
            "(did you mean 10.0.0.0/8?)"
        ],
    ),
    (
        "netmask instead of prefix length",
        {"dns": {"nodeLocalCache": {"address": "10.0.0.0/255.0.0.0"}}},
        [
            "spec.dns.nodeLocalCache.address: must be an IP address or a CIDR, "
            'got "10.0.0.0/255.0.0.0"'
        ],
    ),
    (
        "prefix length out of range",
        {"dns": {"nodeLocalCache": {"address": "10.0.0.0/33"}}},
        ['spec.dns.nodeLocalCache.address: must be an IP address or a CIDR, got "10.0.0.0/33"'],
    ),
    # As the CRD's CEL isIP()/isCIDR() read addresses (tests/golden/profile-edges/).
    (
        "address with a zone",
        {"dns": {"nodeLocalCache": {"address": "fe80::1%eth0"}}},
        ['spec.dns.nodeLocalCache.address: must not have a zone, got "fe80::1%eth0"'],
    ),
    (
        "IPv4-mapped address",
        {"dns": {"nodeLocalCache": {"address": "::ffff:1.2.3.4"}}},
        [
            "spec.dns.nodeLocalCache.address: must be IPv4 itself, not IPv4-mapped IPv6, "
            'got "::ffff:1.2.3.4"'
        ],
    ),
    (
        "IPv4-mapped CIDR",
        {"dns": {"nodeLocalCache": {"address": "::ffff:a9fe:0/112"}}},
        [
            "spec.dns.nodeLocalCache.address: must be IPv4 itself, not IPv4-mapped IPv6, "
            'got "::ffff:a9fe:0/112"'
        ],
    ),
    (
        "prefix length with a leading zero",
        {"dns": {"nodeLocalCache": {"address": "10.0.0.0/08"}}},
        ['spec.dns.nodeLocalCache.address: must be an IP address or a CIDR, got "10.0.0.0/08"'],
    ),
    # Owner and reason bounds.
    (
        "owner too long",
        {"owner": "x" * 257},
        ["spec.owner: must be at most 256 characters, got 257"],
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [(spec, expected) for _, spec, expected in BAD_INPUTS],
    ids=[name for name, _, _ in BAD_INPUTS],
)
def test_bad_spec_is_rejected_with_the_exact_problems(spec: Any, expected: list[str]) -> None:
    assert problems_of(body(spec)) == expected


def test_every_problem_is_reported_not_just_the_first() -> None:
    spec = {
        "mode": "Sometimes",
        "dns": {"ports": [{"port": 0}], "bogus": True},
        "gateway": {"enabled": True},
    }
    assert problems_of(body(spec)) == [
        'spec.mode: must be one of Enforce, DryRun, got "Sometimes"',
        "spec.dns.bogus: unknown field",
        "spec.dns.ports[0].port: must be 1..65535, got 0",
        "spec.gateway.namespaces: must not be empty when gateway is enabled",
        "spec.gateway.ports: must not be empty when gateway is enabled",
    ]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (["not", "an", "object"], ["must be an object, got array"]),
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}},
            [
                'apiVersion: must be netiso.io/v1alpha1, got "v1"',
                'kind: must be IsolationProfile, got "ConfigMap"',
            ],
        ),
        (
            {"spec": {}},
            [
                "apiVersion: required, must be netiso.io/v1alpha1",
                "kind: required, must be IsolationProfile",
            ],
        ),
        (body({}) | {"metadata": None}, ["metadata.name: required"]),
        (body({}) | {"metadata": {}}, ["metadata.name: required"]),
        (body({}) | {"metadata": "p"}, ["metadata: must be an object, got string"]),
        (body({}) | {"extra": 1}, ["extra: unknown field"]),
        (
            body({}, name="Not_Valid"),
            [
                "metadata.name: must be a DNS-1123 subdomain (lowercase alphanumerics, "
                "'-' and '.', at most 253 characters), got \"Not_Valid\""
            ],
        ),
        (
            body({}, name="p" * 64),
            ["metadata.name: must be at most 63 characters (it is used as a label value), got 64"],
        ),
    ],
    ids=[
        "not an object",
        "another kind",
        "no apiVersion or kind",
        "null metadata",
        "no name",
        "metadata not an object",
        "unknown top-level field",
        "name not a DNS subdomain",
        "name longer than a label value",
    ],
)
def test_bad_object_is_rejected_with_the_exact_problems(document: Any, expected: list[str]) -> None:
    assert problems_of(document) == expected


def test_profile_error_message_joins_every_problem() -> None:
    error = ProfileError([Problem("spec.a", "bad"), Problem("", "whole object bad")])
    assert str(error) == "spec.a: bad; whole object bad"
    assert error.problems == (Problem("spec.a", "bad"), Problem("", "whole object bad"))
    assert isinstance(error, ValueError)


def test_parsing_does_not_modify_its_input() -> None:
    document = body({"gateway": GATEWAY_OK, "dns": {"podSelector": {"matchLabels": {"a": "b"}}}})
    before = copy.deepcopy(document)
    parse_profile(document)
    assert document == before


@pytest.mark.parametrize("part", ["gateway", "monitoring"])
def test_an_empty_peer_selector_needs_all_pods(part: str) -> None:
    """`podSelector: {matchLabel: ...}` reaches netiso as `{}` when created without strict
    field validation: it must not silently admit every pod of the peer namespaces."""
    peer = {
        "enabled": True,
        "namespaces": ["edge"],
        "ports": [{"port": 8080}],
        "podSelector": {},
    }
    with pytest.raises(ProfileError) as caught:
        parse_profile(body({part: peer}))
    assert [str(p) for p in caught.value.problems] == [
        f"spec.{part}.podSelector: is empty and selects every pod of the {part} namespaces (a "
        "misspelt field such as matchLabel is dropped by the API server and leaves {}): name "
        f"the pods, or set {part}.allPods: true to admit them all on purpose"
    ]
    explicit = {key: value for key, value in peer.items() if key != "podSelector"}
    parsed = parse_profile(body({part: {**explicit, "allPods": True}}))
    assert getattr(parsed, part).all_pods
    with pytest.raises(ProfileError, match="contradicts"):
        parse_profile(body({part: {**peer, "allPods": True}}))


def test_a_deleted_profile_orphans_its_policies_by_default() -> None:
    assert parse_profile(body({})).on_delete == OnDelete.ORPHAN


@pytest.mark.parametrize(
    ("api_server", "expected"),
    [
        (
            {"enabled": True},
            "spec.apiServer.podSelector: is required while apiServer is enabled: name the pods "
            "that may reach the API server, or set apiServer.allPods: true to let every pod of "
            "the namespace reach it",
        ),
        (
            {"enabled": True, "podSelector": {}},
            "spec.apiServer.podSelector: is empty and selects every pod of the namespace (a "
            "misspelt field such as matchLabel is dropped by the API server and leaves {}): "
            "name the pods, or set apiServer.allPods: true to admit them all on purpose",
        ),
        (
            {"enabled": True, "allPods": True, "podSelector": {"matchLabels": {"a": "b"}}},
            "spec.apiServer.allPods: contradicts apiServer.podSelector; set one or the other",
        ),
    ],
    ids=["absent selector", "empty selector", "both"],
)
def test_api_server_access_fails_closed_without_named_pods(
    api_server: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(body({"apiServer": api_server}))
    assert [str(p) for p in caught.value.problems] == [expected]


def test_api_server_access_names_its_pods_or_all_of_them() -> None:
    named = parse_profile(
        body({"apiServer": {"enabled": True, "podSelector": {"matchLabels": {"app": "ctl"}}}})
    )
    assert named.api_server.pod_selector == LabelSelector.of({"app": "ctl"})
    assert not named.api_server.all_pods
    every = parse_profile(body({"apiServer": {"enabled": True, "allPods": True}}))
    assert (every.api_server.pod_selector, every.api_server.all_pods) == (None, True)
    assert parse_profile(body({"apiServer": every.to_spec()["apiServer"]})) == every
    # Disabled, a missing selector is no problem.
    assert not parse_profile(body({"apiServer": {"enabled": False}})).api_server.enabled
