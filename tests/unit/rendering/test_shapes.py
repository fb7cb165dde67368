"""spec_problems(): what a template's output must look like to be applied as it is.

Unit tests of the rendering layer (netiso.rendering.shapes); table-driven, exact messages.
"""

from __future__ import annotations

from typing import Any

import pytest

from netiso.rendering.shapes import spec_problems

PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "x"}}}
PORT = {"protocol": "TCP", "port": 80}


def spec(**fields: Any) -> dict[str, Any]:
    return {"podSelector": {}, "policyTypes": ["Ingress"]} | fields


@pytest.mark.parametrize(
    "valid",
    [
        spec(),
        spec(policyTypes=["Ingress", "Egress"]),
        spec(ingress=[{"from": [PEER], "ports": [PORT]}]),
        spec(
            policyTypes=["Egress"],
            egress=[
                {
                    "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                    "ports": [{"protocol": "UDP", "port": 53, "endPort": 60}],
                }
            ],
        ),
        spec(ingress=[{"from": [PEER | {"podSelector": {}}], "ports": [PORT | {"port": "http"}]}]),
    ],
)
def test_valid_specs_have_no_problems(valid: dict[str, Any]) -> None:
    assert spec_problems(valid) == []


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"policyTypes": ["Ingress"]}, ["spec.podSelector: required (use {} for all pods)"]),
        (
            spec(policyTypes=[]),
            ["spec.policyTypes: must not be an empty list (leave the field out)"],
        ),
        (
            spec(policyTypes=["Inbound"]),
            ['spec.policyTypes[0]: must be Ingress or Egress, got "Inbound"'],
        ),
        (spec(policyTypes=["Ingress", "Ingress"]), ["spec.policyTypes[1]: duplicate Ingress"]),
        (
            spec(egress=[{"to": [PEER], "ports": [PORT]}]),
            ["spec.egress: has rules but policyTypes does not list Egress"],
        ),
        (
            spec(ingress=[{"ports": [PORT]}]),
            ["spec.ingress[0].from: required (a rule without peers admits everyone)"],
        ),
        (
            spec(ingress=[{"from": [PEER]}]),
            ["spec.ingress[0].ports: required (every rule names its ports)"],
        ),
        (
            spec(ingress=[{"from": [PEER], "to": [PEER], "ports": [PORT]}]),
            ["spec.ingress[0].to: unknown field"],
        ),
        (
            spec(ingress=[{"from": [{}], "ports": [PORT]}]),
            ["spec.ingress[0].from[0]: must have podSelector, namespaceSelector or ipBlock"],
        ),
        (
            spec(ingress=[{"from": [PEER | {"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [PORT]}]),
            ["spec.ingress[0].from[0]: ipBlock cannot be combined with selectors"],
        ),
        (
            spec(ingress=[{"from": [{"ipBlock": {"cidr": "::/0"}}], "ports": [PORT]}]),
            ['spec.ingress[0].from[0].ipBlock.cidr: must not open every address, got "::/0"'],
        ),
        (
            spec(ingress=[{"from": [{"ipBlock": {"cidr": "10.0.0.1"}}], "ports": [PORT]}]),
            [
                "spec.ingress[0].from[0].ipBlock.cidr: must be a CIDR such as 10.0.0.0/8, "
                'got "10.0.0.1"'
            ],
        ),
        (
            spec(ingress=[{"from": [PEER], "ports": [{"protocol": "ICMP", "port": 1}]}]),
            ['spec.ingress[0].ports[0].protocol: must be one of TCP, UDP, SCTP, got "ICMP"'],
        ),
        (
            spec(ingress=[{"from": [PEER], "ports": [{"protocol": "TCP"}]}]),
            ["spec.ingress[0].ports[0].port: required (every rule names its ports)"],
        ),
        (
            spec(ingress=[{"from": [PEER], "ports": [PORT | {"endPort": 79}]}]),
            ["spec.ingress[0].ports[0].endPort: must be 80..65535 (>= port), got 79"],
        ),
        (
            spec(ingress=[{"from": [PEER], "ports": [PORT | {"port": "http", "endPort": 90}]}]),
            ["spec.ingress[0].ports[0].endPort: needs a numeric port"],
        ),
        (
            spec(podSelector={"matchLabels": {}}),
            ["spec.podSelector.matchLabels: must not be empty (leave the field out)"],
        ),
        (
            spec(podSelector={"matchLabels": {"bad key": "x"}}),
            [
                'spec.podSelector.matchLabels["bad key"]: invalid label key: name part must '
                "consist of alphanumerics, '-', '_' or '.', starting and ending with an "
                "alphanumeric"
            ],
        ),
        (spec(ingress={}), ["spec.ingress: must be an array, got object"]),
    ],
)
def test_invalid_specs_are_reported_with_paths(bad: dict[str, Any], expected: list[str]) -> None:
    assert [str(problem) for problem in spec_problems(bad)] == expected
