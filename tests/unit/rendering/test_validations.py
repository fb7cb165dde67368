"""The admission policies and bindings: the shipped file, a profile's binding, the baseline.

manifests/admission/policies.yaml must equal admission_manifest_text(); regenerate it after an
intended change with NETISO_UPDATE_GOLDEN=1 (then review the diff). What the CEL decides is
proven against a real API server in tests/integration/test_admission.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from netiso import conventions
from netiso.model.guardrails import Rule
from netiso.model.limits import Action
from netiso.model.parsing import parse_profile
from netiso.rendering.cel import RULE_VARIABLES, cel_string, rule_expressions
from netiso.rendering.validations import (
    GUARDRAILS_POLICY,
    admission_manifest_text,
    admission_policies,
    baseline_binding,
    profile_binding,
)

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "manifests" / "admission" / "policies.yaml"
UPDATE = os.environ.get("NETISO_UPDATE_GOLDEN") == "1"


def profile(name: str, **guardrails: Any) -> Any:
    return parse_profile(
        {
            "apiVersion": conventions.API_VERSION,
            "kind": conventions.KIND,
            "metadata": {"name": name},
            "spec": {"guardrails": guardrails},
        }
    )


def test_shipped_policies_are_the_rendered_ones() -> None:
    text = admission_manifest_text()
    if UPDATE:
        SHIPPED.write_text(text)
    assert SHIPPED.read_text() == text, "stale: run with NETISO_UPDATE_GOLDEN=1"


@pytest.mark.parametrize(
    ("action", "expected"),
    [("Deny", ["Deny"]), ("Warn", ["Warn", "Audit"]), ("Audit", ["Audit"])],
)
def test_profile_binding_follows_the_profile(action: str, expected: list[str]) -> None:
    binding = profile_binding(profile("web", action=action))
    assert binding["metadata"]["name"] == "netiso-guardrails-web"
    spec = binding["spec"]
    assert spec["policyName"] == GUARDRAILS_POLICY
    assert spec["paramRef"] == {"name": "web", "parameterNotFoundAction": "Deny"}
    assert spec["validationActions"] == expected
    (opted_in, not_protected) = spec["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert opted_in == {"key": conventions.PROFILE_LABEL, "operator": "In", "values": ["web"]}
    assert not_protected["operator"] == "NotIn"
    assert set(not_protected["values"]) == conventions.ALWAYS_PROTECTED_NAMESPACES


def test_default_action_is_warn_and_audit() -> None:
    assert profile("web").guardrails.action is Action.WARN
    assert profile_binding(profile("web"))["spec"]["validationActions"] == ["Warn", "Audit"]


def test_baseline_binds_labelled_namespaces_without_a_known_profile() -> None:
    spec = baseline_binding(["web", "batch", "web"])["spec"]
    assert "paramRef" not in spec
    expressions = spec["matchResources"]["namespaceSelector"]["matchExpressions"]
    assert expressions[:2] == [
        {"key": conventions.PROFILE_LABEL, "operator": "Exists"},
        {"key": conventions.PROFILE_LABEL, "operator": "NotIn", "values": ["batch", "web"]},
    ]
    before_any_profile = baseline_binding()["spec"]["matchResources"]["namespaceSelector"]
    assert before_any_profile["matchExpressions"][0]["operator"] == "Exists"
    assert len(before_any_profile["matchExpressions"]) == 2


def test_every_rule_has_one_validation_naming_it() -> None:
    for policy in admission_policies()[:2]:
        variables = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}
        validations = policy["spec"]["validations"]
        assert len(validations) == len(Rule)
        for rule, validation in zip(Rule, validations, strict=True):
            name = RULE_VARIABLES[rule]
            assert variables[name] == rule_expressions()[rule]
            assert validation["expression"] == (
                f"variables.exception || variables.{name} == '' || "
                f"variables.listedExceptions.exists(e, '{rule}' in e.rules)"
            )
            assert f'netiso guardrail "{rule}" at ' in validation["messageExpression"]


def test_baseline_uses_the_default_settings_and_no_parameter() -> None:
    guarded, baseline = admission_policies()[:2]
    assert guarded["spec"]["paramKind"] == {
        "apiVersion": conventions.API_VERSION,
        "kind": "IsolationProfile",
    }
    assert "paramKind" not in baseline["spec"]
    settings = {v["name"]: v["expression"] for v in baseline["spec"]["variables"]}
    assert settings["minPrefixIPv4"] == "8"
    assert settings["requiredAnnotations"] == "[]"
    assert all("params" not in expression for expression in settings.values())


@pytest.mark.parametrize(
    ("text", "literal"),
    [("plain", "'plain'"), ("it's", "'it\\'s'"), ("a\\b", "'a\\\\b'")],
)
def test_cel_strings_are_escaped(text: str, literal: str) -> None:
    assert cel_string(text) == literal
