"""`netiso check` refuses exactly the NetworkPolicies the API server refuses on create.

Integration test against the real kube-apiserver: each case of tests/unit/model/
networkpolicy_cases.py is sent as a server-side dry-run create (strict field validation, as
`kubectl apply` sends it) and given to `netiso check` in a file; both verdicts must match.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from netiso.cli.app import main
from tests.integration.conftest import unique_name
from tests.unit.model.networkpolicy_cases import CASES, PolicyCase, case_body

PROFILE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "baseline.yaml"


@pytest.fixture(scope="module")
def namespace(kube_api: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(kube_api)
    name = unique_name("check")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


def server_refuses(api: client.ApiClient, body: dict[str, Any]) -> str:
    """The API server's reason for refusing the create ("" when it would store it).

    The body goes as raw JSON (the client library would refuse a malformed one itself)."""
    namespace = body["metadata"]["namespace"]
    url = (
        f"{api.configuration.host}/apis/networking.k8s.io/v1/namespaces/{namespace}/"
        "networkpolicies?dryRun=All&fieldValidation=Strict"
    )
    # The admin client's connection pool already carries the client certificate.
    response = api.rest_client.pool_manager.request(
        "POST", url, body=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    if response.status == 201:
        return ""
    assert response.status in (400, 422), (response.status, response.data[:500])
    return str(json.loads(response.data)["message"])


def check_refuses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, body: dict[str, object]
) -> str:
    """`netiso check`'s line for the policy when it exits 2 ("" when it accepts it)."""
    # JSON (which is YAML) so that netiso reads the very values the server gets: a YAML dump
    # would leave `y` unquoted, which kubectl's reading (and so netiso's) makes a boolean.
    path = tmp_path / "policy.yaml"
    path.write_text(json.dumps(body))
    code = main(["check", "--profile", str(PROFILE), "-f", str(path)])
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    if code != 2:
        return ""
    (line,) = err.splitlines()
    return line


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_check_and_the_api_server_agree(
    kube_api: client.ApiClient,
    namespace: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    case: PolicyCase,
) -> None:
    body = case_body(case, name=unique_name("np"), namespace=namespace)
    server = server_refuses(kube_api, body)
    netiso = check_refuses(capsys, tmp_path, body)
    assert bool(server) == bool(netiso), f"server: {server or 'accepted'}; netiso: {netiso}"
    # The corpus says which way each case goes: a change on either side shows here.
    assert bool(server) == bool(case.refused_at), server
    if case.refused_at:
        assert f"{case.refused_at}: " in netiso
