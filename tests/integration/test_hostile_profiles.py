"""The API server refuses what `netiso validate` refuses: control and bidi characters in a
profile's owner and reason, through the CRD's CEL rule (generated from the model's ranges).

Integration test against the real API server; the hostile file is tests/golden/hostile/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from netiso import conventions
from netiso.model.documents import load_documents
from netiso_devkit.harness import install_crd
from tests.integration.conftest import unique_name
from tests.integration.ship_cluster import profile_body, remove_profile

HOSTILE = Path(__file__).resolve().parents[1] / "golden" / "hostile" / "control-characters.yaml"
MESSAGE = (
    "must not contain control characters (line breaks included) or bidirectional formatting "
    "characters"
)


def create(api: client.ApiClient, body: dict[str, object]) -> None:
    client.CustomObjectsApi(api).create_cluster_custom_object(
        conventions.GROUP, conventions.VERSION, conventions.PLURAL, body
    )


def test_the_hostile_sample_is_refused_on_both_fields(kube_api: client.ApiClient) -> None:
    install_crd(kube_api)
    (body,) = load_documents(HOSTILE.read_text(), source=str(HOSTILE))
    body["metadata"]["name"] = unique_name("disguised")
    with pytest.raises(ApiException) as caught:
        create(kube_api, body)
    assert caught.value.status == 422
    causes = json.loads(caught.value.body)["details"]["causes"]
    assert sorted((cause["field"], cause["message"].endswith(MESSAGE)) for cause in causes) == [
        ("spec.owner", True),
        ("spec.reason", True),
    ]


@pytest.mark.parametrize(
    "text",
    ["a\nb", "tab\t", "nul\x00", "esc\x1b[0m", "c1\x85", "lrm\u200e", "rlo\u202e", "pdi\u2069"],
)
def test_each_unsafe_character_is_refused(kube_api: client.ApiClient, text: str) -> None:
    install_crd(kube_api)
    body = profile_body(unique_name("unsafe"))
    body["spec"]["owner"] = text
    with pytest.raises(ApiException) as caught:
        create(kube_api, body)
    assert caught.value.status == 422
    assert MESSAGE in json.loads(caught.value.body)["message"]


def test_ordinary_text_in_any_script_is_accepted(kube_api: client.ApiClient) -> None:
    install_crd(kube_api)
    name = unique_name("ordinary")
    body = profile_body(name)
    body["spec"]["owner"] = "équipe réseau · 平台团队 (#platform)"
    try:
        create(kube_api, body)
    finally:
        remove_profile(kube_api, name)
