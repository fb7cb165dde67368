"""profile_warnings(): legal settings that are probably mistakes, and none for sensible ones.

Unit tests of the model layer (netiso.model.profiles.profile_warnings).
"""

from __future__ import annotations

from typing import Any

import pytest

from netiso.model.advisories import profile_warnings
from netiso.model.parsing import parse_profile
from netiso.model.problems import Problem

GATEWAY = {
    "enabled": True,
    "namespaces": ["ingress-nginx"],
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
    "ports": [{"port": 8080}],
}
EVERY_GATEWAY_POD = {key: value for key, value in GATEWAY.items() if key != "podSelector"}


def warnings_for(spec: dict[str, Any]) -> list[str]:
    profile = parse_profile(
        {
            "apiVersion": "netiso.io/v1alpha1",
            "kind": "IsolationProfile",
            "metadata": {"name": "p"},
            "spec": spec,
        }
    )
    return [str(warning) for warning in profile_warnings(profile)]


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"gateway": GATEWAY},
        {"defaultDeny": {"egress": False}, "gateway": GATEWAY},
        {"defaultDeny": {"egress": False}, "dns": {"enabled": False}, "gateway": GATEWAY},
        {"dns": {"nodeLocalCache": {"enabled": True}}},
    ],
    ids=["defaults", "baseline", "ingress only", "ingress only without dns", "node-local cache"],
)
def test_sensible_profiles_get_no_warnings(spec: dict[str, Any]) -> None:
    assert warnings_for(spec) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"dns": {"enabled": False}, "gateway": GATEWAY},
            ["spec.dns.enabled: egress is denied and DNS is disabled: pods cannot resolve names"],
        ),
        (
            {"dns": {"enabled": False}},
            [
                "spec.dns.enabled: egress is denied and DNS is disabled: pods cannot resolve names",
                "spec: every allow is disabled: the namespace is fully isolated",
            ],
        ),
        (
            {"defaultDeny": {"ingress": False, "egress": False}},
            ["spec.defaultDeny: neither ingress nor egress is denied: netiso creates no policies"],
        ),
        (
            {"defaultDeny": {"ingress": False}, "gateway": GATEWAY},
            [
                "spec.gateway.enabled: has no effect while spec.defaultDeny.ingress is false: "
                "ingress is not denied, so nothing needs allowing"
            ],
        ),
        (
            {
                "defaultDeny": {"ingress": False},
                "monitoring": GATEWAY | {"namespaces": ["monitoring"]},
            },
            [
                "spec.monitoring.enabled: has no effect while spec.defaultDeny.ingress is false: "
                "ingress is not denied, so nothing needs allowing"
            ],
        ),
        (
            {
                "defaultDeny": {"egress": False},
                "dns": {"enabled": False, "nodeLocalCache": {"enabled": True}},
                "gateway": GATEWAY,
            },
            ["spec.dns.nodeLocalCache.enabled: has no effect while spec.dns.enabled is false"],
        ),
        (
            {"gateway": EVERY_GATEWAY_POD},
            [
                "spec.gateway.podSelector: absent or allPods: every pod of the gateway "
                "namespaces is admitted, not only the gateway; name its pods to admit only them"
            ],
        ),
        (
            {"monitoring": EVERY_GATEWAY_POD | {"namespaces": ["monitoring"], "allPods": True}},
            [
                "spec.monitoring.podSelector: absent or allPods: every pod of the monitoring "
                "namespaces is admitted, not only the scraper; name its pods to admit only them"
            ],
        ),
        (
            {"dns": {"nodeLocalCache": {"enabled": True, "address": "169.254.0.0/16"}}},
            [
                "spec.dns.nodeLocalCache.address: is a range of 65536 addresses: every pod may "
                "send DNS traffic to all of them; the node-local cache listens on one address"
            ],
        ),
    ],
    ids=[
        "egress denied without dns",
        "every allow disabled",
        "nothing denied",
        "gateway without ingress deny",
        "monitoring without ingress deny",
        "node-local cache without dns",
        "gateway admits every pod",
        "monitoring admits every pod on purpose",
        "node-local cache is a range",
    ],
)
def test_probable_mistakes_are_warned_about(spec: dict[str, Any], expected: list[str]) -> None:
    assert warnings_for(spec) == expected


def test_warnings_are_problems_with_a_field_path() -> None:
    profile = parse_profile(
        {
            "apiVersion": "netiso.io/v1alpha1",
            "kind": "IsolationProfile",
            "metadata": {"name": "p"},
            "spec": {"dns": {"enabled": False}, "gateway": GATEWAY},
        }
    )
    (warning,) = profile_warnings(profile)
    assert isinstance(warning, Problem)
    assert warning.path == "spec.dns.enabled"
