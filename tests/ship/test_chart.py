"""The Helm chart renders the same install as kustomize, takes its values, and lints clean.

helm is built from the Go module proxy by .ci/install-helm.sh. `helm template` output is
compared object by object with the kustomize render of manifests/ (the chart's templates are
generated from it by .ci/build_dist.py; these tests prove the values' defaults reproduce it).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import Obj

KUBE_VERSION = "1.35.4"  # the chart asks for >= 1.31; helm's offline default is older
NAMESPACE = "netiso-system"


def helm_template(helm: str, repo: Path, *args: str, namespace: str = NAMESPACE) -> list[Obj]:
    result = template_result(helm, repo, *args, namespace=namespace)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def template_result(
    helm: str, repo: Path, *args: str, namespace: str = NAMESPACE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            helm,
            "template",
            "netiso",
            str(repo / "charts" / "netiso"),
            "--namespace",
            namespace,
            "--kube-version",
            KUBE_VERSION,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# Helm's standard labels, which the chart adds to every object and the pod template and a
# kubectl install does not carry (app.kubernetes.io/name is the manifests' own).
HELM_LABELS = {
    "helm.sh/chart": "netiso-0.1.0",
    "app.kubernetes.io/instance": "netiso",
    "app.kubernetes.io/version": "0.1.0",
    "app.kubernetes.io/managed-by": "Helm",
}


def label_maps(obj: Obj) -> list[dict[str, str]]:
    """The object's labels, and its pod template's where it has one."""
    found = [obj["metadata"].setdefault("labels", {})]
    template = obj.get("spec", {}).get("template") if isinstance(obj.get("spec"), dict) else None
    if template:
        found.append(template["metadata"]["labels"])
    return found


def without_helm_labels(objects: list[Obj]) -> list[Obj]:
    """The objects as kubectl would install them: Helm's labels dropped, after checking each
    is there with its value (the CRD comes from crds/, which Helm never templates)."""
    for obj in objects:
        if obj["kind"] == "CustomResourceDefinition":
            continue
        for labels in label_maps(obj):
            for key, value in HELM_LABELS.items():
                assert labels.pop(key, None) == value, (obj["kind"], obj["metadata"]["name"], key)
    return objects


def by_identity(objects: list[Obj]) -> dict[tuple[str, str, str], Obj]:
    keyed = {
        (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]): obj
        for obj in objects
    }
    assert len(keyed) == len(objects), "two objects share kind, namespace and name"
    return keyed


def only(objects: list[Obj], kind: str) -> Obj:
    (found,) = [obj for obj in objects if obj["kind"] == kind]
    return found


def test_helm_lint_passes_strict(helm: str, repo: Path) -> None:
    result = subprocess.run(
        [helm, "lint", "--strict", "--kube-version", KUBE_VERSION, str(repo / "charts" / "netiso")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_chart_and_app_version_follow_pyproject(repo: Path, pyproject: Obj) -> None:
    chart = yaml.safe_load((repo / "charts" / "netiso" / "Chart.yaml").read_text())
    assert chart["version"] == pyproject["version"]
    assert chart["appVersion"] == pyproject["version"]


def test_defaults_render_the_kustomize_install_but_the_namespace(
    helm: str, repo: Path, rendered: list[Obj]
) -> None:
    # Helm creates the release namespace itself (--create-namespace); the rest is identical.
    expected = [obj for obj in rendered if obj["kind"] != "Namespace"]
    chart = without_helm_labels(helm_template(helm, repo, "--include-crds"))
    assert by_identity(chart) == by_identity(expected)


def test_namespace_and_monitoring_values_render_the_full_kustomize_install(
    helm: str, repo: Path, monitored: list[Obj]
) -> None:
    chart = helm_template(
        helm,
        repo,
        "--include-crds",
        "--set",
        "namespace.create=true",
        "--set",
        "monitoring.enabled=true",
    )
    assert by_identity(without_helm_labels(chart)) == by_identity(monitored)


def test_values_reach_the_objects(helm: str, repo: Path, tmp_path: Path) -> None:
    values: dict[str, Any] = {
        "image": {
            "repository": "registry.example.com/netiso",
            "tag": "9.9.9",
            "pullPolicy": "Always",
        },
        "replicas": 0,
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "2", "memory": "1Gi"},
        },
        "imagePullSecrets": [{"name": "registry-credentials"}],
        "nodeSelector": {"node-role.example.com/platform": "true"},
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "platform", "effect": "NoSchedule"}
        ],
        # null drops a default (Helm merges maps: {} would keep the manifests' affinity).
        "affinity": None,
        "topologySpreadConstraints": [
            {
                "maxSkew": 2,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
            }
        ],
        "priorityClassName": "system-cluster-critical",
        "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsUser": 10001},
        "serviceAccount": {"annotations": {"iam.example.com/role": "netiso"}},
        "extraEnv": [
            {"name": "NETISO_ADMISSION", "value": "off"},
            {"name": "NETISO_RESYNC_INTERVAL", "value": "600"},
        ],
        "protectedNamespaces": ["gatekeeper-system", "istio-system"],
        "extraVolumes": [{"name": "trusted-ca", "configMap": {"name": "trusted-ca"}}],
        "extraVolumeMounts": [
            {"name": "trusted-ca", "mountPath": "/etc/netiso/ca", "readOnly": True}
        ],
        "logFormat": "plain",
        "apiServer": {"cidrs": ["10.0.0.10/32"]},
        "namespace": {"create": True},
        "monitoring": {
            "enabled": True,
            "serviceMonitor": {"labels": {"release": "kube-prometheus-stack"}},
            "prometheusRule": {"labels": {"release": "kube-prometheus-stack", "role": "alerts"}},
        },
    }
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    objects = helm_template(helm, repo, "-f", str(tmp_path / "values.yaml"), namespace="platform")

    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 0
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "registry.example.com/netiso:9.9.9"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == values["resources"]
    # Maps merge into the defaults: what is not named stays restricted.
    assert values["securityContext"].items() <= container["securityContext"].items()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "--log-format=plain" in container["args"]
    for key in ("imagePullSecrets", "tolerations", "priorityClassName"):
        assert pod[key] == values[key], key
    assert pod["nodeSelector"] == {**values["nodeSelector"], "kubernetes.io/os": "linux"}
    assert pod["affinity"] is None
    assert pod["topologySpreadConstraints"] == values["topologySpreadConstraints"]
    assert values["podSecurityContext"].items() <= pod["securityContext"].items()
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # After the chart's own volumes and mounts, which stay.
    assert [volume["name"] for volume in pod["volumes"]] == ["tmp", "signing-key", "trusted-ca"]
    assert pod["volumes"][-1] == values["extraVolumes"][0]
    assert container["volumeMounts"][-1] == values["extraVolumeMounts"][0]
    assert len(container["volumeMounts"]) == 3
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["NETISO_PROTECTED_NAMESPACES"] == "gatekeeper-system,istio-system"
    assert env["NETISO_ADMISSION"] == "off"
    assert env["NETISO_RESYNC_INTERVAL"] == "600"
    assert env["NETISO_METRICS_PORT"] == "8080"
    assert len(env) == len(container["env"]), "a variable is set twice"
    account = only(objects, "ServiceAccount")
    assert account["metadata"]["annotations"] == {"iam.example.com/role": "netiso"}
    for kind, key in (("ServiceMonitor", "serviceMonitor"), ("PrometheusRule", "prometheusRule")):
        labels = only(objects, kind)["metadata"]["labels"]
        assert values["monitoring"][key]["labels"].items() <= labels.items(), kind
        assert labels["app.kubernetes.io/name"] == "netiso"

    policy = only(objects, "NetworkPolicy")
    api = [
        rule
        for rule in policy["spec"]["egress"]
        if {"protocol": "TCP", "port": 443} in rule["ports"]
    ]
    assert [rule["to"] for rule in api] == [[{"ipBlock": {"cidr": "10.0.0.10/32"}}]]

    # The release namespace replaces netiso-system everywhere, CEL included.
    assert only(objects, "Namespace")["metadata"]["name"] == "platform"
    for obj in objects:
        if "namespace" in obj["metadata"]:
            assert obj["metadata"]["namespace"] == "platform", obj["kind"]
    (subject,) = only(objects, "ClusterRoleBinding")["subjects"]
    assert subject["namespace"] == "platform"
    policies = {
        obj["metadata"]["name"]: obj["spec"]
        for obj in objects
        if obj["kind"] == "ValidatingAdmissionPolicy"
    }
    (condition,) = policies["netiso-operator-scope"]["matchConditions"]
    assert "'system:serviceaccount:platform:netiso-operator'" in condition["expression"]
    (guard,) = policies["netiso-managed-policies"]["validations"]
    assert "'system:serviceaccount:platform:netiso-operator'" in guard["expression"]
    assert "netiso-system" not in yaml.safe_dump_all(objects)


def test_a_digest_pins_the_image(helm: str, repo: Path) -> None:
    digest = "sha256:" + "ab" * 32
    objects = helm_template(helm, repo, "--set", f"image.digest={digest}", "--set", "image.tag=v1")
    (container,) = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"ghcr.io/netiso/netiso@{digest}"


def test_defaults_leave_out_what_the_manifests_do_not_set(helm: str, repo: Path) -> None:
    pod = only(helm_template(helm, repo), "Deployment")["spec"]["template"]["spec"]
    assert not {"imagePullSecrets", "tolerations", "priorityClassName"} & set(pod)
    (container,) = pod["containers"]
    # An env value "" would be dropped by the API server: every apply would be a change.
    assert all(item.get("value") != "" for item in container["env"])


def test_monitoring_is_off_by_default(helm: str, repo: Path) -> None:
    kinds = {obj["kind"] for obj in helm_template(helm, repo)}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "ConfigMap"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "replicas=-1"], "replicas"),
        (["--set", "apiServer.cidrs=null"], "apiServer"),
        (["--set-json", "apiServer.cidrs=[]"], "apiServer"),
        (["--set", "logFormat=xml"], "logFormat"),
        (["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
        (["--set", "nosuchvalue=1"], "nosuchvalue"),
        (["--set", "image.digest=latest"], "digest"),
        (["--set", "securityContext.runAsNonroot=true"], "runAsNonroot"),
        (["--set", "podSecurityContext.runAsUsr=1"], "runAsUsr"),
        (["--set", "serviceAccount.annotation.a=b"], "annotation"),
        (["--set", "monitoring.serviceMonitor.label.release=x"], "label"),
        (["--set", "tolerations[0].efect=NoSchedule"], "efect"),
        (["--set", "imagePullSecrets[0].nme=x"], "nme"),
        (["--set", "resources.limit.cpu=1"], "limit"),
        (["--set", "extraEnv[0].value=x"], "name"),
        (["--set-json", 'extraVolumes=[{"name":"ca","configmap":{"name":"ca"}}]'], "configmap"),
        (["--set", "extraVolumes[0].name=ca"], "extraVolumes"),
        (["--set-json", 'extraVolumeMounts=[{"name":"ca","mountpath":"/ca"}]'], "mountpath"),
        (["--set-json", 'extraVolumeMounts=[{"name":"ca","mountPath":"ca"}]'], "mountPath"),
        (["--set", "extraEnv[0].name=POD_NAME"], "extraEnv[0].name: POD_NAME is set by the chart"),
        (
            ["--set", "extraEnv[0].name=NETISO_PROTECTED_NAMESPACES"],
            "use the value protectedNamespaces",
        ),
    ],
)
def test_bad_values_fail_naming_the_value(
    helm: str, repo: Path, args: list[str], message: str
) -> None:
    result = template_result(helm, repo, *args)
    assert result.returncode != 0, result.stdout
    assert message in result.stderr, result.stderr
    assert "panic" not in result.stderr


def test_extra_volumes_and_mounts_may_not_take_the_charts_own(helm: str, repo: Path) -> None:
    pod = only(helm_template(helm, repo), "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    taken = [
        ("extraVolumes", {"name": volume["name"], "emptyDir": {}}, "name")
        for volume in pod["volumes"]
    ] + [
        ("extraVolumeMounts", {"name": "extra", "mountPath": mount["mountPath"]}, "mountPath")
        for mount in container["volumeMounts"]
    ]
    assert len(taken) == 4
    for key, entry, field in taken:
        result = template_result(helm, repo, "--set-json", f"{key}=[{json.dumps(entry)}]")
        assert result.returncode != 0, (key, entry)
        assert f"{key}[0].{field}: {entry[field]} is " in result.stderr, result.stderr


def test_the_enforcement_probe_rbac_is_off_by_default_and_the_components_when_on(
    helm: str, repo: Path
) -> None:
    names = {(obj["kind"], obj["metadata"]["name"]) for obj in helm_template(helm, repo)}
    assert ("ClusterRole", "netiso-enforcement-probe") not in names
    chart = helm_template(helm, repo, "--set", "enforcementProbe.rbac=true")
    on = [obj for obj in chart if obj["metadata"]["name"] == "netiso-enforcement-probe"]
    component = [
        obj
        for obj in yaml.safe_load_all((repo / "dist" / "enforcement-probe.yaml").read_text())
        if obj
    ]
    assert by_identity(without_helm_labels(on)) == by_identity(component)
