"""The local control plane behaves like a real cluster where netiso depends on it.

CRD schema and CEL validation, server-side apply, watches, namespace deletion and garbage
collection (controller-manager), and RBAC for non-admin users, all against the real API server.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from netiso import conventions
from netiso_devkit.localcluster.controlplane import ControlPlane

from .conftest import MakeNamespace, MakeUserKubeconfig, unique_name

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ISOLATION_PROFILE_CRD = REPO / "crds" / f"{conventions.CRD_NAME}.yaml"
APPLY_PATCH = "application/apply-patch+yaml"


def wait_until(
    predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.2
) -> float:
    """Poll until predicate() holds; return the seconds it took, fail the test on timeout."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started


def api_error(call: Callable[[], object]) -> ApiException:
    """The ApiException that call() raises; fails the test if it succeeds."""
    with pytest.raises(ApiException) as caught:
        call()
    return caught.value


def error_message(error: ApiException) -> str:
    """The API server's own message from a Status body."""
    return str(json.loads(error.body or "{}")["message"])


def is_not_found(read: Callable[[], object]) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


# --- CustomResourceDefinitions ---------------------------------------------------------------


def apply_crd(kube_api: client.ApiClient, body: dict[str, Any]) -> None:
    client.ApiextensionsV1Api(kube_api).patch_custom_resource_definition(
        body["metadata"]["name"],
        body,
        field_manager=conventions.FIELD_MANAGER,
        force=True,
        _content_type=APPLY_PATCH,
    )


def wait_established(kube_api: client.ApiClient, name: str) -> None:
    extensions = client.ApiextensionsV1Api(kube_api)

    def established() -> bool:
        crd = extensions.read_custom_resource_definition(name)
        conditions = (crd.status and crd.status.conditions) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_until(established, timeout=30, what=f"CRD {name} Established")


def test_isolation_profile_crd_is_established_and_rejects_invalid_profiles(
    kube_api: client.ApiClient,
) -> None:
    crd = _load_yaml(ISOLATION_PROFILE_CRD)
    assert crd["metadata"]["name"] == conventions.CRD_NAME
    # Applied, never deleted: other tests of the session use the same CRD.
    apply_crd(kube_api, crd)
    wait_established(kube_api, conventions.CRD_NAME)
    objects = client.CustomObjectsApi(kube_api)

    def create(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": conventions.API_VERSION,
            "kind": conventions.KIND,
            "metadata": {"name": name},
            "spec": spec,
        }
        created = objects.create_cluster_custom_object(
            conventions.GROUP, conventions.VERSION, conventions.PLURAL, body
        )
        assert isinstance(created, dict)
        return created

    # Every field has a default, so an empty spec is a complete, valid profile.
    good = unique_name("crd-good")
    created = create(good, {})
    objects.delete_cluster_custom_object(
        conventions.GROUP, conventions.VERSION, conventions.PLURAL, good
    )
    assert created["spec"]["mode"] == "Enforce"

    bad_mode = api_error(lambda: create(unique_name("crd-bad-mode"), {"mode": "Sometimes"}))
    assert bad_mode.status == 422
    message = error_message(bad_mode)
    assert f"{conventions.KIND}.{conventions.GROUP}" in message
    assert 'spec.mode: Unsupported value: "Sometimes"' in message

    gateway = {"enabled": True, "namespaces": [], "ports": [{"port": 443}]}
    bad_gateway = api_error(lambda: create(unique_name("crd-bad-gw"), {"gateway": gateway}))
    assert bad_gateway.status == 422
    message = error_message(bad_gateway)
    assert "spec.gateway" in message
    assert "gateway.enabled requires non-empty gateway.namespaces and gateway.ports" in message


@pytest.fixture
def gizmo_crd(kube_api: client.ApiClient) -> Iterator[dict[str, str]]:
    """A throwaway namespaced CRD with an enum and a CEL rule, unique per run; deleted after."""
    suffix = uuid.uuid4().hex[:8]
    kind, plural, group = f"Gizmo{suffix}", f"gizmo{suffix}s", "test.netiso.io"
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "mode": {"type": "string", "enum": ["Open", "Isolated"]},
                    "gateway": {
                        "type": "object",
                        "properties": {
                            "enabled": {"type": "boolean"},
                            "namespaces": {"type": "array", "items": {"type": "string"}},
                        },
                        "x-kubernetes-validations": [
                            {
                                "rule": "!self.enabled || size(self.namespaces) > 0",
                                "message": "namespaces must not be empty when enabled",
                            }
                        ],
                    },
                },
            }
        },
    }
    body = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": plural[:-1]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }
    apply_crd(kube_api, body)
    yield {"group": group, "version": "v1", "plural": plural, "kind": kind}
    client.ApiextensionsV1Api(kube_api).delete_custom_resource_definition(f"{plural}.{group}")


def test_custom_resource_schema_enum_and_cel_rule_reject_bad_objects(
    kube_api: client.ApiClient, gizmo_crd: dict[str, str], make_namespace: MakeNamespace
) -> None:
    wait_established(kube_api, f"{gizmo_crd['plural']}.{gizmo_crd['group']}")
    namespace = make_namespace("crd")
    objects = client.CustomObjectsApi(kube_api)

    def create(name: str, spec: dict[str, Any]) -> object:
        body = {
            "apiVersion": f"{gizmo_crd['group']}/v1",
            "kind": gizmo_crd["kind"],
            "metadata": {"name": name},
            "spec": spec,
        }
        return objects.create_namespaced_custom_object(
            gizmo_crd["group"], "v1", namespace, gizmo_crd["plural"], body
        )

    create("good", {"mode": "Isolated", "gateway": {"enabled": True, "namespaces": ["a"]}})

    bad_enum = api_error(lambda: create("bad-enum", {"mode": "Sideways"}))
    assert bad_enum.status == 422
    assert 'spec.mode: Unsupported value: "Sideways"' in error_message(bad_enum)

    bad_rule = api_error(
        lambda: create("bad-rule", {"mode": "Open", "gateway": {"enabled": True, "namespaces": []}})
    )
    assert bad_rule.status == 422
    message = error_message(bad_rule)
    assert "spec.gateway" in message
    assert "namespaces must not be empty when enabled" in message


# --- server-side apply, watches --------------------------------------------------------------


def test_server_side_apply_twice_leaves_resource_version_unchanged(
    kube_api: client.ApiClient, make_namespace: MakeNamespace
) -> None:
    namespace = make_namespace("ssa")
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny-all", "namespace": namespace, "labels": {"a": "b"}},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    networking = client.NetworkingV1Api(kube_api)

    def apply() -> client.V1NetworkPolicy:
        return networking.patch_namespaced_network_policy(
            "deny-all",
            namespace,
            policy,
            field_manager=conventions.FIELD_MANAGER,
            force=True,
            _content_type=APPLY_PATCH,
        )

    first, second = apply().metadata, apply().metadata
    assert first is not None
    assert second is not None
    assert first.resource_version == second.resource_version
    fields = second.managed_fields or []
    assert [(entry.manager, entry.operation) for entry in fields] == [
        (conventions.FIELD_MANAGER, "Apply")
    ]


def test_watch_sees_added_modified_and_deleted(
    kube_api: client.ApiClient, make_namespace: MakeNamespace
) -> None:
    namespace = make_namespace("watch")
    core = client.CoreV1Api(kube_api)
    events: list[tuple[str, str]] = []
    # Watching from the list's resourceVersion: every later change is delivered, even one made
    # before the watch connection is up, so the test has no race with the thread starting.
    listed = core.list_namespaced_config_map(namespace).metadata
    assert listed is not None
    resource_version = listed.resource_version

    def collect() -> None:
        stream = watch.Watch()
        for event in stream.stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=resource_version,
            timeout_seconds=30,
        ):
            if event["object"].metadata.name == "watched":
                events.append((event["type"], event["object"].data["k"]))
            if event["type"] == "DELETED":
                stream.stop()

    watcher = threading.Thread(target=collect, daemon=True)
    watcher.start()
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched"), data={"k": "1"})
    core.create_namespaced_config_map(namespace, body)
    core.patch_namespaced_config_map("watched", namespace, {"data": {"k": "2"}})
    core.delete_namespaced_config_map("watched", namespace)
    watcher.join(35)

    assert events == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


# --- controller-manager ----------------------------------------------------------------------


def test_deleting_a_namespace_completes_within_30_seconds(
    kube_api: client.ApiClient, make_namespace: MakeNamespace
) -> None:
    namespace = make_namespace("doomed")
    core = client.CoreV1Api(kube_api)
    # Content the namespace controller has to delete before it may remove the finalizer.
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="content"))
    )
    core.delete_namespace(namespace)

    took = wait_until(
        lambda: is_not_found(lambda: core.read_namespace(namespace)),
        timeout=30,
        what=f"namespace {namespace} gone",
    )
    assert took < 30


def test_garbage_collector_deletes_dependents_of_a_deleted_owner(
    kube_api: client.ApiClient, make_namespace: MakeNamespace
) -> None:
    namespace = make_namespace("gc")
    core = client.CoreV1Api(kube_api)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    assert owner.metadata is not None
    assert owner.metadata.uid is not None
    reference = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
    )
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="dependent", owner_references=[reference])
        ),
    )
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")

    wait_until(
        lambda: is_not_found(lambda: core.read_namespaced_config_map("dependent", namespace)),
        timeout=30,
        what="dependent ConfigMap collected",
    )


# --- RBAC ------------------------------------------------------------------------------------


@pytest.mark.parametrize("subject_kind", ["User", "Group"])
def test_user_without_rbac_is_refused_until_a_role_binding_grants_access(
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    user_kubeconfig: MakeUserKubeconfig,
    subject_kind: str,
) -> None:
    namespace = make_namespace("rbac")
    elsewhere = make_namespace("rbac-other")
    user, group = f"alice-{uuid.uuid4().hex[:6]}", f"team-{uuid.uuid4().hex[:6]}"
    as_user = config.new_client_from_config(config_file=str(user_kubeconfig(user, [group])))
    core_as_user = client.CoreV1Api(as_user)

    refused = api_error(lambda: core_as_user.list_namespaced_config_map(namespace))
    assert refused.status == 403
    assert f'User "{user}" cannot list resource "configmaps"' in error_message(refused)

    rbac = client.RbacAuthorizationV1Api(kube_api)
    rbac.create_namespaced_role(
        namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="read-configmaps"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["list"])],
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="read-configmaps"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="read-configmaps"
            ),
            subjects=[
                client.RbacV1Subject(
                    api_group="rbac.authorization.k8s.io",
                    kind=subject_kind,
                    name=user if subject_kind == "User" else group,
                )
            ],
        ),
    )

    def allowed() -> bool:
        try:
            core_as_user.list_namespaced_config_map(namespace)
        except ApiException as error:
            if error.status == 403:
                return False
            raise
        return True

    # The RBAC authorizer reads Roles through an informer: allow it a moment to catch up.
    wait_until(allowed, timeout=10, what=f"{subject_kind} binding takes effect")
    still_refused = api_error(lambda: core_as_user.list_namespaced_config_map(elsewhere))
    assert still_refused.status == 403
    as_user.close()


# --- versions --------------------------------------------------------------------------------


def test_kubectl_and_server_report_the_built_version(control_plane: ControlPlane) -> None:
    result = subprocess.run(
        [
            str(control_plane.binaries.kubectl),
            f"--kubeconfig={control_plane.admin_kubeconfig}",
            "version",
            "--output=json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    versions = json.loads(result.stdout)
    expected = control_plane.binaries.kubernetes_version
    assert versions["serverVersion"]["gitVersion"] == expected
    assert versions["clientVersion"]["gitVersion"] == expected
    assert versions["serverVersion"]["gitTreeState"] == "clean"


def _load_yaml(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded
