"""policy_hash(): equal for a live object nobody touched, different once anybody changed it.

Unit tests of the rendering layer; the cluster layer's drift check relies on these properties.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from netiso.model.namespaces import NamespaceFacts
from netiso.model.parsing import parse_profile
from netiso.rendering.bodies import RenderedPolicy, policy_hash, render_policies
from netiso.rendering.environment import make_environment


def rendered() -> tuple[RenderedPolicy, ...]:
    profile = parse_profile(
        {
            "apiVersion": "netiso.io/v1alpha1",
            "kind": "IsolationProfile",
            "metadata": {"name": "baseline"},
            "spec": {
                "owner": "platform-team",
                "reason": "baseline isolation",
                "gateway": {
                    "enabled": True,
                    "namespaces": ["ingress-nginx"],
                    "podSelector": {"matchLabels": {"app": "nginx"}},
                    "ports": [{"port": 8080}, {"port": 8443}],
                },
            },
        }
    )
    return render_policies(make_environment(), profile, NamespaceFacts("team-a"))


def as_live(policy: RenderedPolicy) -> dict[str, Any]:
    """The object as the API server returns it: our body plus server-added metadata."""
    live = copy.deepcopy(policy.body)
    live["metadata"].update(
        uid="5f0c2f6e-0000-4000-8000-000000000001",
        resourceVersion="48213",
        generation=1,
        creationTimestamp="2026-01-01T00:00:00Z",
        managedFields=[{"manager": "netiso", "operation": "Apply", "fieldsV1": {"f:spec": {}}}],
    )
    live["metadata"]["labels"]["team"] = "a"
    live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    return live


@pytest.mark.parametrize("index", range(3))
def test_untouched_live_object_hashes_to_its_annotation(index: int) -> None:
    policy = rendered()[index]
    live = as_live(policy)
    assert policy_hash(live) == live["metadata"]["annotations"]["netiso.io/spec-hash"]


def test_hash_ignores_the_spec_hash_annotation_itself() -> None:
    policy = rendered()[0]
    live = as_live(policy)
    live["metadata"]["annotations"]["netiso.io/spec-hash"] = "something-else"
    assert policy_hash(live) == policy.spec_hash


def test_hash_ignores_what_the_api_server_drops() -> None:
    policy = rendered()[-1]
    server_form = copy.deepcopy(policy.body)
    server_form["spec"]["ingress"] = []
    server_form["spec"]["egress"] = None
    assert policy_hash(server_form) == policy.spec_hash


def test_hash_keeps_empty_selectors_because_they_mean_all() -> None:
    policy = rendered()[1]
    narrowed = copy.deepcopy(policy.body)
    del narrowed["spec"]["podSelector"]
    assert policy_hash(narrowed) != policy.spec_hash


def edit_port(body: dict[str, Any]) -> None:
    body["spec"]["ingress"][0]["ports"][0]["port"] = 9999


def widen_peer(body: dict[str, Any]) -> None:
    del body["spec"]["ingress"][0]["from"][0]["podSelector"]


def add_rule(body: dict[str, Any]) -> None:
    body["spec"]["ingress"].append({"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]})


def drop_policy_type(body: dict[str, Any]) -> None:
    body["spec"]["policyTypes"] = []


def relabel_role(body: dict[str, Any]) -> None:
    body["metadata"]["labels"]["netiso.io/policy"] = "default-deny"


def drop_managed_by(body: dict[str, Any]) -> None:
    del body["metadata"]["labels"]["app.kubernetes.io/managed-by"]


def change_profile_label(body: dict[str, Any]) -> None:
    body["metadata"]["labels"]["netiso.io/profile"] = "other"


def change_owner(body: dict[str, Any]) -> None:
    body["metadata"]["annotations"]["netiso.io/owner"] = "someone-else"


def drop_reason(body: dict[str, Any]) -> None:
    del body["metadata"]["annotations"]["netiso.io/reason"]


@pytest.mark.parametrize(
    "edit",
    [
        edit_port,
        widen_peer,
        add_rule,
        drop_policy_type,
        relabel_role,
        drop_managed_by,
        change_profile_label,
        change_owner,
        drop_reason,
    ],
)
def test_any_change_to_spec_identity_labels_or_owner_annotations_changes_the_hash(
    edit: Callable[[dict[str, Any]], None],
) -> None:
    policy = rendered()[1]
    live = as_live(policy)
    edit(live)
    assert policy_hash(live) != live["metadata"]["annotations"]["netiso.io/spec-hash"]


def test_hash_does_not_depend_on_key_order() -> None:
    policy = rendered()[1]
    reordered = {key: policy.body[key] for key in reversed(list(policy.body))}
    reordered["spec"] = {
        key: policy.body["spec"][key] for key in reversed(list(policy.body["spec"]))
    }
    assert policy_hash(reordered) == policy.spec_hash


def test_hash_of_a_bare_object_is_defined() -> None:
    assert len(policy_hash({})) == 16
    assert policy_hash({}) == policy_hash({"metadata": None, "spec": None})
