"""The kustomize install renders, and every object has the properties docs/install.md claims.

Runs `kubectl kustomize manifests/` once per session (fixture `rendered`; `monitored` adds the
monitoring Component) and inspects the objects: least-privilege RBAC, the admission policy
that confines the operator to its own policies, restricted Pod Security, probes, pinned image,
the operator's own NetworkPolicy, and the scrape wiring between Deployment, Service and
ServiceMonitor.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from .contract import API_CALLS, LEASE_CALLS, PROBE_CALLS

NAMESPACE = "netiso-system"
MANAGED_POLICY_NAMES = frozenset(
    {
        "netiso-default-deny",
        "netiso-allow-dns-egress",
        "netiso-allow-gateway-ingress",
        "netiso-allow-monitoring-scrape",
    }
)

Obj = dict[str, Any]


def find(objects: list[Obj], kind: str, name: str | None = None) -> list[Obj]:
    return [
        obj
        for obj in objects
        if obj["kind"] == kind and (name is None or obj["metadata"]["name"] == name)
    ]


def one(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected exactly one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(objects: list[Obj]) -> Obj:
    spec: Obj = one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def operator_container(objects: list[Obj]) -> Obj:
    containers: list[Obj] = pod_spec(objects)["containers"]
    assert len(containers) == 1, "the operator pod runs exactly one container"
    return containers[0]


def all_containers(spec: Obj) -> list[Obj]:
    containers: list[Obj] = spec.get("initContainers", []) + spec["containers"]
    return containers


def container_port(container: Obj, port: int | str) -> int:
    """Resolve a probe or Service target port (number or name) against the container's ports."""
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            number: int = declared["containerPort"]
            return number
    raise AssertionError(f"container declares no port named {port!r}")


def quantity(value: str | int) -> float:
    """A Kubernetes resource quantity as a float (cores or bytes)."""
    text = str(value)
    suffixes = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(suffixes.items(), key=lambda item: -len(item[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


BASE = {
    ("Namespace", NAMESPACE),
    ("CustomResourceDefinition", "isolationprofiles.netiso.io"),
    ("ServiceAccount", "netiso-operator"),
    ("ClusterRole", "netiso-operator"),
    ("ClusterRoleBinding", "netiso-operator"),
    ("Role", "netiso-leader-election"),
    ("RoleBinding", "netiso-leader-election"),
    ("ValidatingAdmissionPolicy", "netiso-operator-scope"),
    ("ValidatingAdmissionPolicyBinding", "netiso-operator-scope"),
    ("Deployment", "netiso-operator"),
    ("PodDisruptionBudget", "netiso-operator"),
    ("Service", "netiso-metrics"),
    ("NetworkPolicy", "netiso-operator"),
    # Guardrails and protections (manifests/admission/, docs/guardrails.md).
    ("ValidatingAdmissionPolicy", "netiso-guardrails"),
    ("ValidatingAdmissionPolicy", "netiso-guardrails-baseline"),
    ("ValidatingAdmissionPolicy", "netiso-managed-policies"),
    ("ValidatingAdmissionPolicy", "netiso-opt-out"),
    ("ValidatingAdmissionPolicy", "netiso-reserved-names"),
    ("ValidatingAdmissionPolicy", "netiso-exceptions"),
    ("ValidatingAdmissionPolicyBinding", "netiso-managed-policies"),
    ("ValidatingAdmissionPolicyBinding", "netiso-opt-out"),
    ("ValidatingAdmissionPolicyBinding", "netiso-reserved-names"),
    ("ValidatingAdmissionPolicyBinding", "netiso-exceptions"),
    ("ClusterRole", "netiso-break-glass"),
}
MONITORING = {
    ("ServiceMonitor", "netiso-operator"),
    ("PrometheusRule", "netiso-operator"),
    ("ConfigMap", "netiso-grafana-dashboard"),
}
CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}
OPERATOR_USERNAME = f"system:serviceaccount:{NAMESPACE}:netiso-operator"


def kinds_and_names(objects: list[Obj]) -> set[tuple[str, str]]:
    return {(obj["kind"], obj["metadata"]["name"]) for obj in objects}


def test_base_renders_every_component_and_needs_no_prometheus_operator(
    rendered: list[Obj],
) -> None:
    assert kinds_and_names(rendered) == BASE
    groups = {obj["apiVersion"].split("/")[0] for obj in rendered}
    assert "monitoring.coreos.com" not in groups


def test_monitoring_component_adds_scrape_config_alerts_and_dashboard(
    rendered: list[Obj], monitored: list[Obj]
) -> None:
    assert kinds_and_names(monitored) == BASE | MONITORING
    base = {json.dumps(obj, sort_keys=True) for obj in rendered}
    # The Component adds; it changes nothing the base renders.
    for obj in monitored:
        if (obj["kind"], obj["metadata"]["name"]) in BASE:
            assert json.dumps(obj, sort_keys=True) in base, obj["kind"]
    for obj in monitored:
        if (obj["kind"], obj["metadata"]["name"]) in MONITORING:
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == "netiso", obj["kind"]
            assert labels["app.kubernetes.io/part-of"] == "netiso", obj["kind"]


def test_namespaced_objects_live_in_the_operator_namespace(monitored: list[Obj]) -> None:
    for obj in monitored:
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"], f"{obj['kind']} is cluster-scoped"
            continue
        where = obj["metadata"].get("namespace")
        assert where == NAMESPACE, f"{obj['kind']}/{obj['metadata']['name']} in {where}"


def test_namespace_enforces_restricted_pod_security(rendered: list[Obj]) -> None:
    labels = one(rendered, "Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    # The operator namespace must not opt itself into isolation.
    assert "netiso.io/profile" not in labels


def test_install_never_carries_the_label_netiso_prunes_by(monitored: list[Obj]) -> None:
    for obj in monitored:
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/managed-by") != "netiso", (
            f"{obj['kind']}/{obj['metadata']['name']} is labelled managed-by=netiso"
        )
    for policy in find(monitored, "NetworkPolicy"):
        assert policy["metadata"]["name"] not in MANAGED_POLICY_NAMES


def test_nothing_reads_or_ships_secrets(rendered: list[Obj]) -> None:
    assert not find(rendered, "Secret")
    for role in find(rendered, "ClusterRole") + find(rendered, "Role"):
        for rule in role["rules"]:
            assert "secrets" not in rule.get("resources", [])
    spec = pod_spec(rendered)
    for volume in spec.get("volumes", []):
        # The one exception: the signing key, mounted by the kubelet (no RBAC), never shipped.
        if volume["name"] == "signing-key":
            assert volume["secret"]["secretName"] == "netiso-signing-key"
            assert volume["secret"]["optional"] is True
            continue
        assert "secret" not in volume, f"volume {volume['name']} mounts a Secret"
    for container in all_containers(spec):
        for env in container.get("env", []):
            assert "secretKeyRef" not in env.get("valueFrom", {}), env["name"]
        for source in container.get("envFrom", []):
            assert "secretRef" not in source


def grants(role: Obj) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs of a role, checking no rule uses a wildcard or names."""
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert "nonResourceURLs" not in rule
        assert "resourceNames" not in rule
        for field in ("apiGroups", "resources", "verbs"):
            assert not any("*" in item for item in rule[field]), f"wildcard in {field}: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def assert_bound_to_the_service_account(rendered: list[Obj], binding: Obj, *, role: Obj) -> None:
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": role["kind"],
        "name": role["metadata"]["name"],
    }
    account = one(rendered, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert pod_spec(rendered)["serviceAccountName"] == account["metadata"]["name"]


def test_cluster_role_grants_exactly_the_operators_api_calls(rendered: list[Obj]) -> None:
    role = one(rendered, "ClusterRole", "netiso-operator")
    assert grants(role) == {key: set(verbs) for key, verbs in API_CALLS.items()}


def test_lease_role_grants_exactly_the_leader_election_calls_in_its_namespace(
    rendered: list[Obj],
) -> None:
    roles = [one(rendered, "Role", "netiso-leader-election")]
    assert sorted(role["metadata"]["name"] for role in find(rendered, "Role")) == [
        "netiso-leader-election",
    ]
    assert roles[0]["metadata"]["namespace"] == NAMESPACE
    assert grants(roles[0]) == {key: set(verbs) for key, verbs in LEASE_CALLS.items()}
    binding = one(rendered, "RoleBinding", "netiso-leader-election")
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert_bound_to_the_service_account(rendered, binding, role=roles[0])


def test_every_rbac_rule_says_why(repo: Path) -> None:
    lines = (repo / "manifests" / "rbac.yaml").read_text().splitlines()
    rules = [index for index, line in enumerate(lines) if line.strip().startswith("- apiGroups:")]
    assert len(rules) == len(API_CALLS) + len(LEASE_CALLS)
    for index in rules:
        above = lines[index - 1].strip()
        assert above.startswith("#"), f"rule at line {index + 1} has no reason comment"
        assert len(above) > 10, f"rule at line {index + 1} has an empty reason comment"


def test_binding_gives_the_role_to_the_pods_service_account(rendered: list[Obj]) -> None:
    binding = one(rendered, "ClusterRoleBinding", "netiso-operator")
    role = one(rendered, "ClusterRole", "netiso-operator")
    assert_bound_to_the_service_account(rendered, binding, role=role)


def test_two_replicas_roll_one_at_a_time_on_different_nodes(rendered: list[Obj]) -> None:
    spec = one(rendered, "Deployment")["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pods = spec["selector"]["matchLabels"]
    anti = spec["template"]["spec"]["affinity"]["podAntiAffinity"]
    required = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required == [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": pods}}
    ]
    names = {env["name"] for env in pod_spec(rendered)["containers"][0]["env"]}
    assert {"POD_NAME", "POD_NAMESPACE"} <= names


def test_disruption_budget_keeps_one_replica(rendered: list[Obj]) -> None:
    budget = one(rendered, "PodDisruptionBudget", "netiso-operator")
    pods = one(rendered, "Deployment")["spec"]["selector"]["matchLabels"]
    assert budget["spec"] == {"minAvailable": 1, "selector": {"matchLabels": pods}}


def test_pod_security_context_is_restricted(rendered: list[Obj]) -> None:
    spec = pod_spec(rendered)
    pod = spec.get("securityContext", {})
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(host), host
    for volume in spec.get("volumes", []):
        assert "hostPath" not in volume, volume["name"]
    for container in all_containers(spec):
        context = container["securityContext"]
        name = container["name"]
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["capabilities"]["drop"] == ["ALL"], name
        assert not context["capabilities"].get("add"), name
        assert not context.get("privileged"), name
        assert context.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, name
        assert context.get("runAsUser", pod.get("runAsUser")) == 65532, name
        seccomp = context.get("seccompProfile", pod.get("seccompProfile"))
        assert seccomp == {"type": "RuntimeDefault"}, name
        for port in container.get("ports", []):
            assert "hostPort" not in port, name


def test_probes_hit_the_operators_health_endpoints(rendered: list[Obj]) -> None:
    container = operator_container(rendered)
    liveness = container["livenessProbe"]["httpGet"]
    readiness = container["readinessProbe"]["httpGet"]
    assert liveness["path"] == "/healthz"
    assert container_port(container, liveness["port"]) == 8081
    assert readiness["path"] == "/readyz"
    assert container_port(container, readiness["port"]) == 8080

    # Kopf serves /healthz where --liveness says; netiso serves /readyz on its metrics port.
    flags = [arg for arg in container["args"] if arg.startswith("--liveness=")]
    assert len(flags) == 1
    url = urlsplit(flags[0].removeprefix("--liveness="))
    assert (url.port, url.path) == (8081, "/healthz")
    env = {item["name"]: item for item in container["env"]}
    assert env["NETISO_METRICS_PORT"]["value"] == "8080"


def test_resources_are_requested_and_limited(rendered: list[Obj]) -> None:
    resources = operator_container(rendered)["resources"]
    for kind in ("cpu", "memory"):
        request = quantity(resources["requests"][kind])
        limit = quantity(resources["limits"][kind])
        assert 0 < request <= limit, kind
    # Watch caches for about 10k namespaces need headroom.
    assert quantity(resources["limits"]["memory"]) >= 512 * 2**20


def test_image_is_pinned_to_the_project_version(rendered: list[Obj], pyproject: Obj) -> None:
    image: str = operator_container(rendered)["image"]
    assert image == f"ghcr.io/netiso/netiso:{pyproject['version']}"
    assert not image.endswith(":latest")


def test_operator_learns_its_namespace_from_the_downward_api(rendered: list[Obj]) -> None:
    env = {item["name"]: item for item in operator_container(rendered)["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_the_signing_key_is_mounted_read_only_where_the_operator_reads_it(
    rendered: list[Obj],
) -> None:
    container = operator_container(rendered)
    env = {item["name"]: item.get("value") for item in container["env"]}
    mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
    mount = mounts["signing-key"]
    assert mount["readOnly"] is True
    assert env["NETISO_SIGNING_KEY_FILE"] == f"{mount['mountPath']}/key"


def test_tmp_is_a_writable_empty_dir(rendered: list[Obj]) -> None:
    spec = pod_spec(rendered)
    mounts = {
        mount["mountPath"]: mount["name"] for mount in operator_container(rendered)["volumeMounts"]
    }
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_metrics_service_reaches_the_operators_metrics_port(rendered: list[Obj]) -> None:
    service = one(rendered, "Service", "netiso-metrics")
    pod_labels = one(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    assert selector
    assert selector.items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"]) == ("metrics", 8080)
    assert container_port(operator_container(rendered), port["targetPort"]) == 8080


def test_service_monitor_scrapes_the_service_keeping_netisos_namespace_label(
    monitored: list[Obj],
) -> None:
    monitor_object = one(monitored, "ServiceMonitor")
    monitor = monitor_object["spec"]
    service = one(monitored, "Service", "netiso-metrics")
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    # Without a namespaceSelector the Prometheus Operator looks in the monitor's own namespace.
    assert "namespaceSelector" not in monitor
    assert monitor_object["metadata"]["namespace"] == service["metadata"]["namespace"]
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] == "/metrics"
    # Without it the drift metrics' namespace label becomes exported_namespace.
    assert endpoint["honorLabels"] is True


def test_operator_down_alert_watches_the_job_prometheus_operator_assigns(
    monitored: list[Obj],
) -> None:
    # With no jobLabel, the Prometheus Operator sets job to the Service's name.
    assert "jobLabel" not in one(monitored, "ServiceMonitor")["spec"]
    rules = {
        rule["alert"]: rule
        for group in one(monitored, "PrometheusRule")["spec"]["groups"]
        for rule in group["rules"]
    }
    job = re.search(r'up\{job="([^"]+)"\}', rules["NetisoOperatorDown"]["expr"])
    assert job is not None
    assert job.group(1) == one(monitored, "Service", "netiso-metrics")["metadata"]["name"]


def operator_policy(rendered: list[Obj]) -> Obj:
    spec: Obj = one(rendered, "NetworkPolicy", "netiso-operator")["spec"]
    return spec


def ports_of(rule: Obj) -> set[tuple[str, int]]:
    return {(port.get("protocol", "TCP"), port["port"]) for port in rule.get("ports", [])}


def test_operator_policy_selects_the_operator_pod_both_ways(rendered: list[Obj]) -> None:
    spec = operator_policy(rendered)
    pod_labels = one(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    selected = spec["podSelector"]["matchLabels"]
    assert selected
    assert selected.items() <= pod_labels.items()
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]


def test_operator_policy_admits_only_metrics_scrapes_from_monitoring(rendered: list[Obj]) -> None:
    (rule,) = operator_policy(rendered)["ingress"]
    assert ports_of(rule) == {("TCP", 8080)}
    (peer,) = rule["from"]
    assert "ipBlock" not in peer
    assert peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
    }


def test_operator_policy_egress_is_dns_and_api_server_only(rendered: list[Obj]) -> None:
    egress = operator_policy(rendered)["egress"]
    for rule in egress:
        # A rule without peers reaches any address: every rule names its peers.
        assert rule.get("to"), f"egress rule open to every address: {rule}"
        assert rule.get("ports"), f"egress rule open on every port: {rule}"
        for peer in rule["to"]:
            cidr = peer.get("ipBlock", {}).get("cidr")
            assert cidr not in ("0.0.0.0/0", "::/0"), "egress to everywhere"

    dns = [rule for rule in egress if ("UDP", 53) in ports_of(rule)]
    assert len(dns) == 1
    assert ports_of(dns[0]) == {("UDP", 53), ("TCP", 53)}
    # One peer carrying both selectors: kube-dns pods *in* kube-system, not either alone.
    assert dns[0]["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    api = [rule for rule in egress if ("TCP", 443) in ports_of(rule)]
    assert len(api) == 1
    assert ports_of(api[0]) == {("TCP", 443), ("TCP", 6443)}
    assert len(egress) == 2


def test_operator_reaches_the_api_server_only_at_private_addresses_by_default(
    rendered: list[Obj],
) -> None:
    (api,) = [
        rule for rule in operator_policy(rendered)["egress"] if ("TCP", 443) in ports_of(rule)
    ]
    for peer in api["to"]:
        assert set(peer) == {"ipBlock"}, "the API server is pinned by address only"
        assert "except" not in peer["ipBlock"]
    networks = [ipaddress.ip_network(peer["ipBlock"]["cidr"]) for peer in api["to"]]
    # RFC 1918: where in-cluster API endpoints live; docs/install.md shows how to narrow it.
    assert networks == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("172.16.0.0/12"),
        ipaddress.ip_network("192.168.0.0/16"),
    ]
    assert all(network.is_private for network in networks)


def admission_policy(objects: list[Obj]) -> Obj:
    policy: Obj = one(objects, "ValidatingAdmissionPolicy", "netiso-operator-scope")
    return policy


def test_admission_policy_binds_and_denies_for_the_operators_service_account(
    rendered: list[Obj],
) -> None:
    policy = admission_policy(rendered)
    assert policy["apiVersion"] == "admissionregistration.k8s.io/v1"
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["apiGroups"] == ["networking.k8s.io"]
    assert rule["resources"] == ["networkpolicies"]
    assert sorted(rule["operations"]) == ["CREATE", "DELETE", "UPDATE"]
    (condition,) = spec["matchConditions"]
    account = one(rendered, "ServiceAccount")["metadata"]
    assert f"system:serviceaccount:{account['namespace']}:{account['name']}" == OPERATOR_USERNAME
    assert f"'{OPERATOR_USERNAME}'" in condition["expression"]
    binding = one(rendered, "ValidatingAdmissionPolicyBinding", "netiso-operator-scope")
    assert binding["spec"] == {"policyName": "netiso-operator-scope", "validationActions": ["Deny"]}


def test_admission_policy_checks_name_and_managed_by_label_before_and_after(
    rendered: list[Obj],
) -> None:
    spec = admission_policy(rendered)["spec"]
    expressions = " ".join(item["expression"] for item in spec["validations"])
    assert "startsWith('netiso-')" in expressions
    assert "'app.kubernetes.io/managed-by'" in expressions
    assert "== 'netiso'" in expressions
    (touched,) = spec["variables"]
    assert "oldObject" in touched["expression"]
    assert "object]" in touched["expression"]
    for validation in spec["validations"]:
        assert validation["reason"] == "Forbidden"
        assert "netiso-operator-scope" in validation["messageExpression"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100m", 0.1), ("1", 1.0), ("256Mi", 256 * 2**20), ("1Gi", 2**30), ("500M", 5e8)],
)
def test_quantity_parses_kubernetes_units(text: str, expected: float) -> None:
    assert quantity(text) == pytest.approx(expected)


def test_the_enforcement_probe_component_grants_exactly_the_probes_calls(repo: Path) -> None:
    """Pods only through the opt-in component: the base ClusterRole has none (above)."""
    path = repo / "manifests" / "components" / "enforcement-probe" / "rbac.yaml"
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    role = next(doc for doc in docs if doc["kind"] == "ClusterRole")
    binding = next(doc for doc in docs if doc["kind"] == "ClusterRoleBinding")
    assert grants(role) == {key: set(verbs) for key, verbs in PROBE_CALLS.items()}
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "netiso-operator", "namespace": NAMESPACE}
    ]
