"""The CRD and the Python model agree: same fields, same defaults, same enums and bounds.

The API server validates with the CRD schema, the operator and CLI with parse_profile(); a
field or default present in only one of them would make the two disagree about a profile.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from netiso import conventions
from netiso.model.fields import FieldTree
from netiso.model.grants import EXPIRES_PATTERN, MAX_EXCEPTION_REASON, MAX_EXCEPTIONS
from netiso.model.parsing import SPEC_FIELDS, parse_profile
from netiso.model.profiles import (
    MAX_NAMESPACES,
    MAX_OWNER_LENGTH,
    MAX_PORTS,
    MAX_REASON_LENGTH,
    DriftAction,
    Mode,
    OnDelete,
    Profile,
    Protocol,
    unsafe_text_class,
)
from netiso.model.reasons import BLANK_REASON, VISIBLE_CHARACTER_RE2
from netiso.model.rules import Rule
from netiso.model.selection import (
    MAX_EXPRESSION_VALUES,
    MAX_MATCH_EXPRESSIONS,
    MAX_MATCH_LABELS,
    SelectorOperator,
)

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / f"{conventions.CRD_NAME}.yaml"
COUNTERS = (
    "namespaces",
    "inSync",
    "drifted",
    "errors",
    "pendingChanges",
    "weakened",
    "guardrailViolations",
    "guardrailExceptions",
)
STATUS_FIELDS = {"observedGeneration", "conditions", "weakenedNamespaces", *COUNTERS}


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CRD_FILE.read_text())
    return document


@pytest.fixture(scope="module")
def version(crd: dict[str, Any]) -> dict[str, Any]:
    (only,) = crd["spec"]["versions"]
    result: dict[str, Any] = only
    return result


@pytest.fixture(scope="module")
def schema(version: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return result


@pytest.fixture(scope="module")
def spec_schema(schema: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = schema["properties"]["spec"]
    return result


def field_tree(node: Mapping[str, Any]) -> dict[str, Any]:
    """The CRD's fields in the model's FieldTree shape: objects nest, lists of objects too."""
    if node.get("type") == "array":
        return field_tree(node.get("items", {}))
    if node.get("type") == "object" and "properties" in node:
        return {name: field_tree(child) for name, child in node["properties"].items()}
    return {}


def paths(tree: FieldTree, prefix: str = "spec") -> set[str]:
    result: set[str] = set()
    for name, child in tree.items():
        result.add(f"{prefix}.{name}")
        result |= paths(child, f"{prefix}.{name}")
    return result


def apply_defaults(node: Mapping[str, Any], value: Any) -> Any:
    """Structural-schema defaulting as the API server does it, defaults of defaults included."""
    if isinstance(value, dict) and "properties" in node:
        for name, child in node["properties"].items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                value[name] = apply_defaults(child, value[name])
    elif isinstance(value, list) and "items" in node:
        return [apply_defaults(node["items"], item) for item in value]
    return value


def walk(node: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), Mapping):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def test_crd_identity_matches_conventions(crd: dict[str, Any], version: dict[str, Any]) -> None:
    assert crd["metadata"]["name"] == conventions.CRD_NAME
    assert crd["spec"]["group"] == conventions.GROUP
    assert crd["spec"]["scope"] == "Cluster"
    assert crd["spec"]["names"]["kind"] == conventions.KIND
    assert crd["spec"]["names"]["plural"] == conventions.PLURAL
    assert version["name"] == conventions.VERSION
    assert version["served"] is True
    assert version["storage"] is True
    assert version["subresources"] == {"status": {}}


def test_printer_columns_show_mode_readiness_and_namespace_counts(
    version: dict[str, Any],
) -> None:
    columns = [(c["name"], c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert columns == [
        ("Mode", ".spec.mode"),
        ("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        ("Namespaces", ".status.namespaces"),
        ("In-Sync", ".status.inSync"),
        ("Drifted", ".status.drifted"),
        ("Weakened", ".status.weakened"),
        ("Age", ".metadata.creationTimestamp"),
    ]


def test_every_crd_spec_field_is_accepted_by_the_model_and_vice_versa(
    spec_schema: dict[str, Any],
) -> None:
    crd_paths = paths(field_tree(spec_schema))
    model_paths = paths(SPEC_FIELDS)
    assert sorted(crd_paths - model_paths) == [], "in the CRD only"
    assert sorted(model_paths - crd_paths) == [], "in the model only"


def test_crd_defaults_of_an_empty_spec_are_the_model_defaults(spec_schema: dict[str, Any]) -> None:
    defaulted = apply_defaults(spec_schema, {})
    assert defaulted == Profile(name="p").to_spec()
    body = {
        "apiVersion": conventions.API_VERSION,
        "kind": conventions.KIND,
        "metadata": {"name": "p"},
    }
    assert parse_profile(body | {"spec": defaulted}) == parse_profile(body | {"spec": {}})


def test_an_absent_spec_defaults_to_empty(schema: dict[str, Any]) -> None:
    assert schema["properties"]["spec"]["default"] == {}
    assert "spec" not in schema.get("required", [])


def test_port_items_default_their_protocol_to_tcp(spec_schema: dict[str, Any]) -> None:
    defaulted = apply_defaults(spec_schema, {"gateway": {"enabled": True, "ports": [{"port": 80}]}})
    assert defaulted["gateway"]["ports"] == [{"protocol": "TCP", "port": 80}]


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("mode", [member.value for member in Mode]),
        ("driftAction", [member.value for member in DriftAction]),
        ("onDelete", [member.value for member in OnDelete]),
    ],
)
def test_enums_agree(spec_schema: dict[str, Any], path: str, values: list[str]) -> None:
    assert spec_schema["properties"][path]["enum"] == values


def test_every_port_and_selector_enum_agrees(spec_schema: dict[str, Any]) -> None:
    protocols = [member.value for member in Protocol]
    operators = [member.value for member in SelectorOperator]
    seen_ports = seen_selectors = 0
    for path, node in walk(spec_schema, "spec"):
        if path.endswith(".ports[].protocol"):
            assert node["enum"] == protocols, path
            seen_ports += 1
        if path.endswith(".matchExpressions[].operator"):
            assert node["enum"] == operators, path
            seen_selectors += 1
    assert seen_ports == 3
    assert seen_selectors == 6


def test_bounds_agree(spec_schema: dict[str, Any]) -> None:
    assert spec_schema["properties"]["owner"]["maxLength"] == MAX_OWNER_LENGTH
    assert spec_schema["properties"]["reason"]["maxLength"] == MAX_REASON_LENGTH
    expected = {
        ".ports": ("maxItems", MAX_PORTS),
        ".namespaces": ("maxItems", MAX_NAMESPACES),
        ".matchExpressions": ("maxItems", MAX_MATCH_EXPRESSIONS),
        ".matchExpressions[].values": ("maxItems", MAX_EXPRESSION_VALUES),
        ".matchLabels": ("maxProperties", MAX_MATCH_LABELS),
    }
    checked = set()
    for path, node in walk(spec_schema, "spec"):
        for suffix, (keyword, bound) in expected.items():
            if path.endswith(suffix) and not path.endswith(f"[]{suffix}"):
                assert node[keyword] == bound, path
                checked.add(suffix)
        if path.endswith(".endPort"):
            assert (node["minimum"], node["maximum"]) == (1, 65535)
    assert checked == set(expected)


def test_every_field_has_a_description(schema: dict[str, Any]) -> None:
    missing = [
        path
        for path, node in walk(schema, "root")
        # Items of scalar lists and map values are not fields of their own, and the API server
        # forbids anything but `type: object` on metadata.
        if not path.endswith(("[]", "{}")) or node.get("type") == "object"
        if path != "root.metadata"
        if "description" not in node
    ]
    assert missing == []


def test_schema_is_structural(schema: dict[str, Any]) -> None:
    for path, node in walk(schema, "root"):
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, path
            continue
        assert node.get("type") in {"object", "array", "string", "integer", "boolean"}, path
        if node["type"] == "array":
            assert "items" in node, path
        assert "x-kubernetes-preserve-unknown-fields" not in node or path == "root.status"


def test_cross_field_rules_are_enforced_by_cel(spec_schema: dict[str, Any]) -> None:
    rules = {
        path: [rule["rule"] for rule in node.get("x-kubernetes-validations", [])]
        for path, node in walk(spec_schema, "spec")
    }
    for part in ("gateway", "monitoring"):
        required, empty_selector, contradiction, empty_target = rules[f"spec.{part}"]
        assert "size(self.namespaces) > 0" in required
        assert "size(self.ports) > 0" in required
        # An empty pod selector (what a misspelt matchLabel becomes) needs allPods: true.
        assert "self.allPods" in empty_selector
        assert "size(self.podSelector.matchLabels) > 0" in empty_selector
        assert contradiction == "!self.allPods || !has(self.podSelector)"
        # An empty target selector is refused; absent (no default) means every pod.
        assert "size(self.targetPodSelector.matchLabels) > 0" in empty_target
    dns_required, dns_empty, dns_contradiction = rules["spec.dns"]
    assert "size(self.ports) > 0" in dns_required
    assert "self.allPods" in dns_empty
    assert "size(self.podSelector.matchLabels) > 0" in dns_empty
    assert "!has(self.podSelector)" in dns_contradiction
    for path in ("spec.dns.ports[]", "spec.gateway.ports[]", "spec.monitoring.ports[]"):
        assert any("self.endPort >= self.port" in rule for rule in rules[path]), path
        assert any("type(self.port) == int" in rule for rule in rules[path]), path
    assert any("prefixLength()" in rule for rule in rules["spec.dns.nodeLocalCache.address"])


@pytest.mark.parametrize("name", ["owner", "reason"])
def test_free_text_rejects_the_models_unsafe_characters(
    spec_schema: dict[str, Any], name: str
) -> None:
    # CEL unescapes `\\` to `\`, leaving the RE2 class the model's regular expression mirrors.
    cel_class = unsafe_text_class().replace("\\", "\\\\")
    rules = [rule["rule"] for rule in spec_schema["properties"][name]["x-kubernetes-validations"]]
    assert rules == [f"!self.matches('{cel_class}')"]


def test_status_is_fully_defined(schema: dict[str, Any]) -> None:
    status = schema["properties"]["status"]
    # Unknown status fields are pruned: the API server only accepts `true` or absence here.
    assert "x-kubernetes-preserve-unknown-fields" not in status
    assert set(status["properties"]) == STATUS_FIELDS
    condition = status["properties"]["conditions"]["items"]["properties"]
    assert set(condition) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }
    for counter in COUNTERS:
        assert status["properties"][counter]["type"] == "integer"


def test_listed_exceptions_are_checked_as_the_parser_checks_them(
    spec_schema: dict[str, Any],
) -> None:
    listed = spec_schema["properties"]["guardrails"]["properties"]["exceptions"]
    assert listed["maxItems"] == MAX_EXCEPTIONS
    item = listed["items"]
    assert item["required"] == ["namespace", "policy", "rules", "reason"]
    fields = item["properties"]
    assert fields["rules"]["items"]["enum"] == [rule.value for rule in Rule]
    assert fields["rules"]["minItems"] == 1
    (visible,) = fields["reason"]["x-kubernetes-validations"]
    # CEL unescapes `\\` to `\`, leaving the RE2 class model/reasons.py defines.
    assert visible == {
        "rule": f"self.matches('{VISIBLE_CHARACTER_RE2.replace(chr(92), chr(92) * 2)}')",
        "message": BLANK_REASON,
    }
    assert fields["reason"]["maxLength"] == MAX_EXCEPTION_REASON
    assert fields["expires"]["pattern"] == EXPIRES_PATTERN
    assert fields["expires"]["format"] == "date-time"
