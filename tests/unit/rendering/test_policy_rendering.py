"""render_policies(): identity in code, spec from templates, a clean RenderError for bad ones.

Unit tests of the rendering layer (netiso.rendering.bodies); broken templates use tmp dirs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netiso.model.namespaces import NamespaceFacts
from netiso.model.parsing import parse_profile
from netiso.model.profiles import Profile
from netiso.rendering.bodies import RenderedPolicy, RenderError, policy_hash, render_policies
from netiso.rendering.environment import make_environment, shipped_templates_dir

TEAM_A = NamespaceFacts("team-a")
GATEWAY = {
    "enabled": True,
    "namespaces": ["ingress-nginx"],
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
    "ports": [{"port": 8080}, {"port": 8443}],
}
MONITORING = {"enabled": True, "namespaces": ["monitoring"], "ports": [{"port": 9090}]}


def profile(name: str = "baseline", **spec: Any) -> Profile:
    return parse_profile(
        {
            "apiVersion": "netiso.io/v1alpha1",
            "kind": "IsolationProfile",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


FULL = profile(
    owner="platform-team",
    reason="INC-42",
    gateway=GATEWAY,
    monitoring=MONITORING,
    dns={"nodeLocalCache": {"enabled": True}},
)


def render(spec_profile: Profile = FULL) -> tuple[RenderedPolicy, ...]:
    return render_policies(make_environment(), spec_profile, TEAM_A)


def test_full_profile_renders_four_policies_allows_first() -> None:
    assert [policy.name for policy in render()] == [
        "netiso-allow-dns-egress",
        "netiso-allow-gateway-ingress",
        "netiso-allow-monitoring-scrape",
        "netiso-default-deny",
    ]


def test_code_owns_identity_metadata() -> None:
    for policy in render():
        assert policy.body["apiVersion"] == "networking.k8s.io/v1"
        assert policy.body["kind"] == "NetworkPolicy"
        assert policy.namespace == "team-a"
        assert policy.body["metadata"] == {
            "name": policy.name,
            "namespace": "team-a",
            "labels": {
                "app.kubernetes.io/managed-by": "netiso",
                "netiso.io/profile": "baseline",
                "netiso.io/policy": policy.role,
            },
            "annotations": {
                "netiso.io/owner": "platform-team",
                "netiso.io/reason": "INC-42",
                "netiso.io/spec-hash": policy.spec_hash,
            },
        }


def test_spec_hash_annotation_is_the_policy_hash_of_the_body() -> None:
    for policy in render():
        assert policy.spec_hash == policy_hash(policy.body)
        assert len(policy.spec_hash) == 16
    assert len({policy.spec_hash for policy in render()}) == 4


def test_rendering_is_deterministic() -> None:
    assert render() == render()


def walk(value: Any, path: str = "spec") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


def test_every_rule_names_peers_ports_and_explicit_protocols() -> None:
    for policy in render():
        spec = policy.body["spec"]
        assert spec["policyTypes"], policy.name
        for direction, peers in (("ingress", "from"), ("egress", "to")):
            for rule in spec.get(direction, []):
                assert rule[peers], policy.name
                assert rule["ports"], policy.name
                for port in rule["ports"]:
                    assert port["protocol"] in {"TCP", "UDP", "SCTP"}
                    assert "port" in port


def test_specs_are_in_stored_form_with_no_empty_lists_and_no_open_cidr() -> None:
    for policy in render():
        for path, value in walk(policy.body["spec"]):
            assert value != [], path
            assert value is not None, path
            assert value not in ("0.0.0.0/0", "::/0"), path


def test_namespace_and_pod_selectors_share_one_peer() -> None:
    dns, gateway, monitoring, _ = render()
    assert dns.body["spec"]["egress"][0]["to"][0] == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    assert gateway.body["spec"]["ingress"][0]["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
        }
    ]
    assert len(monitoring.body["spec"]["ingress"][0]["from"]) == 1


def test_node_local_cache_is_a_second_peer_on_the_same_ports() -> None:
    dns = render()[0]
    (rule,) = dns.body["spec"]["egress"]
    assert rule["to"][1] == {"ipBlock": {"cidr": "169.254.20.10/32"}}
    assert rule["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def test_ingress_only_deny_lists_only_ingress() -> None:
    policies = render(profile(defaultDeny={"egress": False}, gateway=GATEWAY))
    assert [policy.role for policy in policies] == ["allow-gateway-ingress", "default-deny"]
    assert policies[-1].body["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_nothing_denied_renders_nothing() -> None:
    assert render(profile(defaultDeny={"ingress": False, "egress": False})) == ()


def test_owner_and_reason_are_stamped_even_when_empty() -> None:
    annotations = render(profile())[0].body["metadata"]["annotations"]
    assert annotations["netiso.io/owner"] == ""
    assert annotations["netiso.io/reason"] == ""


def test_different_profiles_give_different_hashes_for_the_same_spec() -> None:
    one = render(profile("one"))[-1]
    two = render(profile("two"))[-1]
    assert one.body["spec"] == two.body["spec"]
    assert one.spec_hash != two.spec_hash


def test_rendered_policy_is_frozen() -> None:
    policy = render()[0]
    with pytest.raises(AttributeError):
        policy.name = "x"  # type: ignore[misc]


# --- broken templates -----------------------------------------------------------------------


def templates_with(tmp_path: Path, name: str, text: str) -> Path:
    """A copy of the shipped templates with `name` replaced by `text`."""
    for template in shipped_templates_dir().glob("*.yaml.j2"):
        (tmp_path / template.name).write_text(template.read_text())
    (tmp_path / name).write_text(text)
    return tmp_path


DENY = "default-deny.yaml.j2"
BROKEN_TEMPLATES: list[tuple[str, str, str]] = [
    (
        "undefined variable",
        "podSelector: {{ pod_selectr | tojson }}\npolicyTypes: [Ingress]\n",
        "default-deny.yaml.j2: undefined variable: 'pod_selectr' is undefined",
    ),
    (
        "yaml syntax error",
        "podSelector: {}\npolicyTypes: [Ingress\n",
        "default-deny.yaml.j2: rendered invalid YAML: expected ',' or ']', but got '<stream end>' "
        "at line 3, column 1",
    ),
    (
        "two documents",
        "podSelector: {}\npolicyTypes: [Ingress]\n---\npodSelector: {}\n",
        "default-deny.yaml.j2: must render exactly one YAML document, got 2",
    ),
    (
        "no document",
        "{# nothing #}\n",
        "default-deny.yaml.j2: must render exactly one YAML document, got 0",
    ),
    (
        "spec not a mapping",
        "- podSelector: {}\n",
        "default-deny.yaml.j2: must render a mapping (the NetworkPolicy spec), got array",
    ),
    (
        "jinja syntax error",
        "podSelector: {}\n{% if deny_ingress %}\npolicyTypes: [Ingress]\n",
        "default-deny.yaml.j2: template syntax error at line 3: Unexpected end of template. "
        "Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The innermost "
        "block that needs to be closed is 'if'.",
    ),
    (
        "expression raises",
        "podSelector: {}\npolicyTypes: [{{ 1 // 0 }}]\n",
        "default-deny.yaml.j2: cannot render: ZeroDivisionError: integer division or modulo "
        "by zero",
    ),
    (
        "unknown spec field",
        "podSelector: {}\npolicyTypes: [Ingress]\nnodeSelector: {}\n",
        "default-deny.yaml.j2: not a valid NetworkPolicy spec: spec.nodeSelector: unknown field",
    ),
    (
        "policyTypes left implicit",
        "podSelector: {}\n",
        "default-deny.yaml.j2: not a valid NetworkPolicy spec: spec.policyTypes: required "
        "(list Ingress and/or Egress explicitly)",
    ),
    (
        "protocol left implicit and an open cidr",
        "podSelector: {}\npolicyTypes: [Egress]\negress:\n- to: [{ipBlock: {cidr: 0.0.0.0/0}}]\n"
        "  ports: [{port: 443}]\n",
        "default-deny.yaml.j2: not a valid NetworkPolicy spec: spec.egress[0].to[0].ipBlock.cidr: "
        'must not open every address, got "0.0.0.0/0"; spec.egress[0].ports[0].protocol: '
        "required (TCP, UDP or SCTP)",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"),
    [(text, message) for _, text, message in BROKEN_TEMPLATES],
    ids=[name for name, _, _ in BROKEN_TEMPLATES],
)
def test_broken_template_raises_render_error_naming_file_and_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    env = make_environment(templates_with(tmp_path, DENY, text))
    with pytest.raises(RenderError) as caught:
        render_policies(env, profile(), TEAM_A)
    assert str(caught.value) == message
    assert caught.value.template == DENY
    assert isinstance(caught.value, ValueError)


def test_missing_template_names_the_directory(tmp_path: Path) -> None:
    with pytest.raises(RenderError) as caught:
        render_policies(make_environment(tmp_path), profile(), TEAM_A)
    assert str(caught.value) == f"allow-dns-egress.yaml.j2: template not found in {tmp_path}"


def test_custom_templates_replace_the_spec_but_not_the_identity(tmp_path: Path) -> None:
    text = (
        "podSelector: {{ {'matchLabels': {'isolated': 'yes'} } | tojson }}\n"
        "policyTypes: [Ingress]\n"
    )
    env = make_environment(templates_with(tmp_path, DENY, text))
    deny = render_policies(env, profile(dns={"enabled": False}), TEAM_A)[-1]
    assert deny.body["spec"] == {
        "podSelector": {"matchLabels": {"isolated": "yes"}},
        "policyTypes": ["Ingress"],
    }
    assert deny.body["metadata"]["labels"]["netiso.io/policy"] == "default-deny"


def test_namespaces_of_a_profile_share_one_rendering_per_template() -> None:
    env = make_environment()
    base = profile()
    first = render_policies(env, base, NamespaceFacts(name="team-a"))
    second = render_policies(env, base, NamespaceFacts(name="team-b"))
    for a, b in zip(first, second, strict=True):
        assert a.body["spec"] is b.body["spec"]
        assert a.spec_hash == b.spec_hash
        assert (a.body["metadata"]["namespace"], b.body["metadata"]["namespace"]) == (
            "team-a",
            "team-b",
        )
    # A new generation of the profile is a new object: rendered afresh, never served stale.
    edited = profile(defaultDeny={"egress": False})
    third = render_policies(env, edited, NamespaceFacts(name="team-a"))
    assert {p.name for p in third} != {p.name for p in first}


def test_a_template_that_reads_the_namespace_renders_for_each_namespace(tmp_path: Path) -> None:
    for template in shipped_templates_dir().glob("*.yaml.j2"):
        (tmp_path / template.name).write_text(template.read_text())
    (tmp_path / "default-deny.yaml.j2").write_text(
        "podSelector:\n  matchLabels:\n    team: {{ namespace | tojson }}\npolicyTypes: [Ingress]\n"
    )
    env = make_environment(tmp_path)
    base = profile()

    def deny(namespace: str) -> RenderedPolicy:
        rendered = render_policies(env, base, NamespaceFacts(name=namespace))
        return next(p for p in rendered if p.name == "netiso-default-deny")

    a, b = deny("team-a"), deny("team-b")
    assert a.body["spec"]["podSelector"] == {"matchLabels": {"team": "team-a"}}
    assert b.body["spec"]["podSelector"] == {"matchLabels": {"team": "team-b"}}
    assert a.spec_hash != b.spec_hash
    assert a.spec_hash == policy_hash(a.body)
