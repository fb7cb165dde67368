"""Guardrails: the profile field, its defaults and errors, and the Python evaluator's verdicts.

The evaluator runs the shared case table (guardrail_cases.py), which the integration tests
also run through the API server's admission.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from netiso import conventions
from netiso.model.guardrails import RULE_TEXTS, Rule, Violation, violations
from netiso.model.limits import (
    MAX_ALLOWED_CIDRS,
    MAX_GROUP_LENGTH,
    MAX_OPT_OUT_GROUPS,
    MAX_PREFIX_IPV4,
    MAX_PREFIX_IPV6,
    MAX_REQUIRED_ANNOTATIONS,
    Action,
    Guardrails,
    OptOut,
)
from netiso.model.parsing import parse_profile
from netiso.model.problems import ProfileError

from .guardrail_cases import CASES, GOOD_RULE, Case, ingress


def profile(guardrails: Any) -> dict[str, Any]:
    return {
        "apiVersion": conventions.API_VERSION,
        "kind": conventions.KIND,
        "metadata": {"name": "p"},
        "spec": {"guardrails": guardrails},
    }


def policy(case: Case) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": case.id, "annotations": dict(case.annotations)},
        "spec": case.spec,
    }


def by_rule(found: list[Violation]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for violation in found:
        grouped.setdefault(str(violation.rule), []).append(violation.path)
    return grouped


def test_defaults_forbid_everything_and_warn() -> None:
    parsed = parse_profile(profile(None)).guardrails
    assert parsed == Guardrails()
    assert parsed.action is Action.WARN
    assert parsed.opt_out is OptOut.RESTRICTED
    assert (parsed.min_prefix_ipv4, parsed.min_prefix_ipv6) == (8, 32)


def test_every_field_parses() -> None:
    parsed = parse_profile(
        profile(
            {
                "action": "Deny",
                "ipBlocks": {
                    "minPrefixLengthIPv4": 16,
                    "minPrefixLengthIPv6": 48,
                    "allowedCIDRs": ["203.0.113.0/24"],
                },
                "allowAllNamespaces": True,
                "allowRulesWithoutPeers": True,
                "allowRulesWithoutPorts": True,
                "allowNamedPorts": True,
                "requiredAnnotations": ["example.com/owner"],
                "optOut": "Allowed",
                "optOutGroups": ["platform"],
            }
        )
    ).guardrails
    assert parsed == Guardrails(
        action=Action.DENY,
        min_prefix_ipv4=16,
        min_prefix_ipv6=48,
        allowed_cidrs=("203.0.113.0/24",),
        allow_all_namespaces=True,
        allow_rules_without_peers=True,
        allow_rules_without_ports=True,
        allow_named_ports=True,
        required_annotations=("example.com/owner",),
        opt_out=OptOut.ALLOWED,
        opt_out_groups=("platform",),
    )
    body = profile(parsed.to_spec())
    assert parse_profile(body).guardrails == parsed


@pytest.mark.parametrize(
    ("guardrails", "expected"),
    [
        (
            {"action": "Block"},
            'spec.guardrails.action: must be one of Deny, Warn, Audit, got "Block"',
        ),
        (
            {"ipBlocks": {"minPrefixLengthIPv4": 33}},
            "spec.guardrails.ipBlocks.minPrefixLengthIPv4: must be 0..32, got 33",
        ),
        (
            {"ipBlocks": {"minPrefixLengthIPv6": "8"}},
            "spec.guardrails.ipBlocks.minPrefixLengthIPv6: must be an integer, got string",
        ),
        (
            {"ipBlocks": {"allowedCIDRs": ["10.0.0.1/8"]}},
            "spec.guardrails.ipBlocks.allowedCIDRs[0]: must be a CIDR without host bits, "
            'such as 203.0.113.0/24, got "10.0.0.1/8"',
        ),
        (
            {"ipBlocks": {"allowedCIDRs": ["10.0.0.0"]}},
            "spec.guardrails.ipBlocks.allowedCIDRs[0]: must be a CIDR such as 203.0.113.0/24, "
            'got "10.0.0.0"',
        ),
        (
            {"requiredAnnotations": ["owner", "owner"]},
            'spec.guardrails.requiredAnnotations[1]: duplicate "owner"',
        ),
        (
            {"optOutGroups": [""]},
            'spec.guardrails.optOutGroups[0]: must be 1..256 characters, got ""',
        ),
        (
            {"optOut": "Never"},
            'spec.guardrails.optOut: must be one of Allowed, Restricted, got "Never"',
        ),
        ({"deny": True}, "spec.guardrails.deny: unknown field"),
        ("strict", "spec.guardrails: must be an object, got string"),
    ],
)
def test_invalid_guardrails_name_the_field(guardrails: Any, expected: str) -> None:
    with pytest.raises(ProfileError) as error:
        parse_profile(profile(guardrails))
    assert [str(problem) for problem in error.value.problems] == [expected]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_evaluator_finds_exactly_the_expected_violations(case: Case) -> None:
    guardrails = parse_profile(profile(case.guardrails)).guardrails
    found = violations(policy(case), guardrails, namespace="team-a")
    assert by_rule(found) == case.expected
    for violation in found:
        assert (violation.namespace, violation.policy) == ("team-a", case.id)
        assert violation.exception == case.annotations.get(conventions.EXCEPTION_ANNOTATION)


def test_messages_name_rule_path_and_the_way_out() -> None:
    (case,) = [case for case in CASES if case.id == "cidr-slash-zero"]
    (violation,) = violations(policy(case), Guardrails(), namespace="team-a")
    assert violation.message.startswith(
        'netiso guardrail "broad-cidr" at spec.egress[0].to[0].ipBlock.cidr: '
    )
    assert RULE_TEXTS[Rule.BROAD_CIDR].fix in violation.message
    assert f"{conventions.EXCEPTION_ANNOTATION}: <ticket or reason>" in violation.message


def test_every_case_rule_is_a_rule_and_every_rule_is_exercised() -> None:
    seen = {rule for case in CASES for rule in case.expected}
    assert seen == {str(rule) for rule in Rule}


def test_policies_netiso_manages_are_exempt() -> None:
    body = {
        "metadata": {
            "name": "netiso-default-deny",
            "labels": {conventions.MANAGED_BY_LABEL: conventions.MANAGED_BY_VALUE},
        },
        "spec": ingress({}),
    }
    assert violations(body, Guardrails(), namespace="team-a") == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"metadata": "x", "spec": []},
        {"spec": {"ingress": "all", "egress": [None, {"to": "x", "ports": [7]}]}},
        {"spec": {"ingress": [{"from": [{"ipBlock": {"cidr": 5}}], "ports": [{"port": 80}]}]}},
    ],
)
def test_odd_shapes_never_raise(body: dict[str, Any]) -> None:
    violations(body, Guardrails(), namespace="team-a")


def test_an_unparseable_cidr_counts_as_broad() -> None:
    rule = {"from": [{"ipBlock": {"cidr": "010.0.0.0/8"}}], **{"ports": GOOD_RULE["ports"]}}
    found = violations({"spec": ingress(rule)}, Guardrails(), namespace="team-a")
    assert by_rule(found) == {"broad-cidr": ["spec.ingress[0].from[0].ipBlock.cidr"]}


def guardrails_schema() -> dict[str, Any]:
    crd_file = Path(__file__).resolve().parents[3] / "crds" / f"{conventions.CRD_NAME}.yaml"
    (version,) = yaml.safe_load(crd_file.read_text())["spec"]["versions"]
    spec: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    schema: dict[str, Any] = spec["properties"]["guardrails"]
    return schema


def test_crd_and_model_agree_on_enums_bounds_and_defaults() -> None:
    schema = guardrails_schema()["properties"]
    blocks = schema["ipBlocks"]["properties"]
    assert schema["action"]["enum"] == [member.value for member in Action]
    assert schema["optOut"]["enum"] == [member.value for member in OptOut]
    assert (blocks["minPrefixLengthIPv4"]["maximum"], blocks["minPrefixLengthIPv6"]["maximum"]) == (
        MAX_PREFIX_IPV4,
        MAX_PREFIX_IPV6,
    )
    assert blocks["allowedCIDRs"]["maxItems"] == MAX_ALLOWED_CIDRS
    assert schema["requiredAnnotations"]["maxItems"] == MAX_REQUIRED_ANNOTATIONS
    assert schema["optOutGroups"]["maxItems"] == MAX_OPT_OUT_GROUPS
    assert schema["optOutGroups"]["items"]["maxLength"] == MAX_GROUP_LENGTH
    defaults = Guardrails()
    assert schema["action"]["default"] == defaults.action
    assert schema["optOut"]["default"] == defaults.opt_out
    assert blocks["minPrefixLengthIPv4"]["default"] == defaults.min_prefix_ipv4
    assert blocks["minPrefixLengthIPv6"]["default"] == defaults.min_prefix_ipv6
