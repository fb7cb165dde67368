"""The user-visible steps of netiso's life, run one after another against a running operator.

Used by test_rbac.py: the operator under the shipped ClusterRole must pass every step, and
under the role minus one permission it must fail the step that permission is for. Each step
returns None when the behaviour was seen within the window, or says what was missing. Steps
share one profile and its namespaces, so later steps build on earlier ones (STEPS order).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, cast

from kubernetes import client, utils
from kubernetes.client.exceptions import ApiException

from netiso import conventions
from netiso_devkit.harness import OperatorProcess, http_status, install_crd, wait_for

from .conftest import MakeNamespace, unique_name
from .ship_cluster import (
    DEFAULT_DENY,
    DNS_EGRESS,
    GATEWAY,
    GROUP,
    PLURAL,
    VERSION,
    create_profile,
    events_for,
    holds_within,
    label_namespace,
    managed_in,
    matches_rendered,
    patch_profile_spec,
    policies_in,
    read_profile,
    remove_profile,
)
from .ship_dns import dns_objects

# Every step in baseline order; a step may rely on the ones before it.
STEPS: Final = (
    "ready",
    "isolates",
    "posts_events",
    "writes_status",
    "reports_dependencies",
    "follows_dependencies",
    "follows_profile_edits",
    "repairs_deleted_policy",
    "repairs_edited_policy",
    "opt_out_removes_policies",
    "refuses_foreign_policy",
    "profile_deletion_removes_policies",
    "watches_without_refusals",
)
# Only after uninstall_crd() before the operator started, in this order; they stand in for
# "ready" and "isolates".
CRD_LATE_STEPS: Final = ("started_without_crd", "isolates_after_crd_installed")
# Kopf's warning when an API it has handlers for is not served (Kopf 1.45).
KOPF_UNRESOLVED: Final = "Unresolved resources cannot be served"
# Readiness may wait for a listing that only succeeds once the CRD exists, retried with
# backoff: a precondition of the CRD step, so it gets more than the window.
READY_AFTER_CRD: Final = 30.0

FOREIGN_MESSAGE: Final = "netiso will not change it"
# The labels of the scenario's DNS pod: the profile's default DNS podSelector.
DNS: Final = {"k8s-app": "kube-dns"}


def uninstall_crd(api: client.ApiClient) -> None:
    """Delete every IsolationProfile (finalizers stripped: no operator runs) and the CRD."""
    custom = client.CustomObjectsApi(api)
    ext = client.ApiextensionsV1Api(api)
    try:
        listed = cast(dict[str, Any], custom.list_cluster_custom_object(GROUP, VERSION, PLURAL))
    except ApiException as exc:
        if exc.status != 404:
            raise
        listed = {"items": []}
    items: list[dict[str, Any]] = listed["items"]
    for item in items:
        remove_profile(api, item["metadata"]["name"])
    try:
        ext.delete_custom_resource_definition(conventions.CRD_NAME)
    except ApiException as exc:
        if exc.status != 404:
            raise

    def gone() -> bool:
        try:
            ext.read_custom_resource_definition(conventions.CRD_NAME)
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    wait_for(f"CRD {conventions.CRD_NAME} deleted", gone, timeout=60)


def discovered(api: client.ApiClient) -> bool:
    """Whether API discovery lists the IsolationProfile resource (what Kopf scans)."""
    try:
        resources = client.CustomObjectsApi(api).get_api_resources(GROUP, VERSION)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return any(r.name == PLURAL for r in resources.resources or [])


def readyz(operator: OperatorProcess) -> int:
    """The status /readyz answers with, 0 when nothing answers."""
    return http_status(f"http://127.0.0.1:{operator.metrics_port}/readyz")


class Scenario:
    """One profile and its namespaces, driven through STEPS against one operator."""

    def __init__(
        self,
        *,
        api: client.ApiClient,
        operator: OperatorProcess,
        make_namespace: MakeNamespace,
        window: float,
    ) -> None:
        self.api = api
        self.operator = operator
        self.make_namespace = make_namespace
        self.window = window
        self.profile = unique_name("rbac")
        self.kept = ""
        self.leaving = ""
        # The profile's DNS namespace, empty until follows_dependencies puts DNS in it.
        self.dns = ""

    def run(self, step: str) -> str | None:
        """Run one step; None when it worked, else what went wrong (with the exit code if the
        operator died)."""
        if step not in (*STEPS, *CRD_LATE_STEPS):
            raise ValueError(f"unknown step {step!r}")
        failure: str | None = getattr(self, step)()
        process = self.operator.process
        if failure is not None and process is not None and process.poll() is not None:
            failure += f" (operator exited with {process.returncode})"
        return failure

    def cleanup(self) -> None:
        """Remove the profile even where no operator can release its finalizer."""
        remove_profile(self.api, self.profile)

    def _within(self, probe: Callable[[], object]) -> bool:
        return holds_within(self.window, probe)

    # --- steps -------------------------------------------------------------------------------

    def ready(self) -> str | None:
        if self._within(lambda: readyz(self.operator) == 200):
            return None
        return f"/readyz answered {readyz(self.operator)}"

    def isolates(self) -> str | None:
        """A new profile and two namespaces opting in get exactly the rendered policies."""
        self.dns = self.make_namespace("rbac-dns")
        create_profile(
            self.api,
            self.profile,
            onDelete="Delete",
            driftAction="Repair",
            gateway=GATEWAY,
            dns={"namespace": self.dns},
        )
        labels = {conventions.PROFILE_LABEL: self.profile}
        self.kept = self.make_namespace("rbac-kept", labels=labels)
        self.leaving = self.make_namespace("rbac-leaving", labels=labels)
        if self._within(
            lambda: all(
                matches_rendered(self.api, profile=self.profile, namespace=ns)
                for ns in self._mine()
            )
        ):
            return None
        found = {ns: sorted(managed_in(self.api, ns)) for ns in self._mine()}
        return f"opted-in namespaces do not hold the rendered policies: {found}"

    def watches_without_refusals(self) -> str | None:
        """No request of the operator's (Kopf's watches included) was refused with 403.

        A refused watch does not stop the operator: Kopf restarts the watcher, which lists
        again, so it degrades into polling the API server with LIST requests and still sees
        changes, late. The refusal in the log is what shows the permission is missing.
        """

        def refused() -> list[str]:
            return [
                line
                for line in self.operator.log().splitlines()
                if "403" in line or "forbidden" in line.lower()
            ]

        # Kopf starts its watches just after the listing that made the operator ready, so
        # the whole window is watched, not one moment.
        if self._within(refused):
            lines = refused()
            return f"{len(lines)} refused request(s) in the log, e.g. {lines[0][:300]}"
        return None

    def started_without_crd(self) -> str | None:
        """The operator is up (metrics endpoint serving) and Kopf has looked for the
        IsolationProfile API and not found it, so the CRD truly appears after the start."""

        def started() -> bool:
            if readyz(self.operator) == 0:
                return False
            return KOPF_UNRESOLVED in self.operator.log()

        if self._within(started):
            return None
        return f"operator not up, or no {KOPF_UNRESOLVED!r} in its log"

    def isolates_after_crd_installed(self) -> str | None:
        """The CRD appears while the operator runs; once ready, a profile created then (seen
        only through the profile watch, which Kopf starts on discovering the API) works.

        Kopf rescans API discovery on every CRD watch event, but the API server may publish
        the new resource in discovery only after the CRD's last event (Established), and then
        Kopf never serves it (seen here in about one run in four). So, once discovery lists the
        resource, the CRD gets one more event, an annotation, as an `kubectl apply` of a
        changed CRD would: that event reaches Kopf only through the CRD watch.
        """
        install_crd(self.api)
        wait_for("IsolationProfiles in API discovery", lambda: discovered(self.api), timeout=30)
        client.ApiextensionsV1Api(self.api).patch_custom_resource_definition(
            conventions.CRD_NAME,
            {"metadata": {"annotations": {"netiso.io/test-discovered": self.profile}}},
        )
        if not holds_within(READY_AFTER_CRD, lambda: readyz(self.operator) == 200):
            return f"not ready {READY_AFTER_CRD}s after the CRD: /readyz {readyz(self.operator)}"
        return self.isolates()

    def posts_events(self) -> str | None:
        if self._within(lambda: events_for(self.api, self.kept, reason="Isolated")):
            return None
        return f"no Isolated Event in {self.kept}"

    def writes_status(self) -> str | None:
        def in_sync() -> bool:
            status = (read_profile(self.api, self.profile) or {}).get("status") or {}
            return bool(status.get("inSync") == len(self._mine()))

        if self._within(in_sync):
            return None
        status = (read_profile(self.api, self.profile) or {}).get("status")
        return f"profile status not written: {status}"

    def _dependencies(self) -> dict[str, Any]:
        status = (read_profile(self.api, self.profile) or {}).get("status") or {}
        for condition in status.get("conditions") or []:
            if condition.get("type") == "DependenciesResolved":
                return dict(condition)
        return {}

    def reports_dependencies(self) -> str | None:
        """The profile's DNS namespace holds no DNS Service yet: the operator, having read its
        pods, Services and EndpointSlices, says so in the DependenciesResolved condition."""

        def reported() -> bool:
            found = self._dependencies()
            return (found.get("status"), found.get("reason")) == ("False", "DnsServiceNotFound")

        if self._within(reported):
            return None
        return f"DependenciesResolved does not say DnsServiceNotFound: {self._dependencies()}"

    def follows_dependencies(self) -> str | None:
        """DNS appears in the profile's DNS namespace (a pod, its Service and EndpointSlice):
        the condition follows through the watches, and names no DNS reason any more."""
        utils.create_from_yaml(self.api, yaml_objects=dns_objects(self.dns, pod_labels=DNS))

        def followed() -> bool:
            found = self._dependencies()
            reason = str(found.get("reason", "Dns"))
            return found.get("status") in ("True", "False") and not reason.startswith("Dns")

        if self._within(followed):
            return None
        return f"DependenciesResolved did not follow the DNS pods: {self._dependencies()}"

    def follows_profile_edits(self) -> str | None:
        """A wider gateway port list changes an existing policy (an update, not a create)."""
        wider = {**GATEWAY, "ports": [*GATEWAY["ports"], {"protocol": "TCP", "port": 8443}]}
        patch_profile_spec(self.api, self.profile, spec={"gateway": wider})
        if self._within(
            lambda: matches_rendered(self.api, profile=self.profile, namespace=self.kept)
        ):
            return None
        return f"profile edit not applied in {self.kept}: {sorted(managed_in(self.api, self.kept))}"

    def repairs_deleted_policy(self) -> str | None:
        client.NetworkingV1Api(self.api).delete_namespaced_network_policy(DNS_EGRESS, self.kept)
        if self._within(
            lambda: matches_rendered(self.api, profile=self.profile, namespace=self.kept)
        ):
            return None
        return f"deleted {DNS_EGRESS} not restored: {sorted(managed_in(self.api, self.kept))}"

    def repairs_edited_policy(self) -> str | None:
        client.NetworkingV1Api(self.api).patch_namespaced_network_policy(
            DEFAULT_DENY, self.kept, {"spec": {"policyTypes": ["Ingress"]}}
        )
        if self._within(
            lambda: matches_rendered(self.api, profile=self.profile, namespace=self.kept)
        ):
            return None
        live = managed_in(self.api, self.kept)[DEFAULT_DENY]["spec"]
        return f"edited {DEFAULT_DENY} not repaired: {live}"

    def opt_out_removes_policies(self) -> str | None:
        label_namespace(self.api, self.leaving, profile=None)
        if self._within(lambda: not managed_in(self.api, self.leaving)):
            return None
        return f"opted-out {self.leaving} still holds {sorted(managed_in(self.api, self.leaving))}"

    def refuses_foreign_policy(self) -> str | None:
        """A namespace that already holds someone else's policy under netiso's name opts in:
        netiso must say, in a ReconcileFailed Event, that it will not change the policy."""
        foreign = self.make_namespace("rbac-foreign")
        spec = {"podSelector": {}, "policyTypes": ["Ingress"]}
        body = client.V1NetworkPolicy(
            metadata=client.V1ObjectMeta(name=DNS_EGRESS),
            spec=client.V1NetworkPolicySpec(
                pod_selector=client.V1LabelSelector(), policy_types=["Ingress"]
            ),
        )
        client.NetworkingV1Api(self.api).create_namespaced_network_policy(foreign, body)
        label_namespace(self.api, foreign, profile=self.profile)

        def refused() -> bool:
            return any(
                FOREIGN_MESSAGE in (e.message or "")
                for e in events_for(self.api, foreign, reason="ReconcileFailed")
            )

        if self._within(refused):
            untouched = policies_in(self.api, foreign)[DNS_EGRESS]["spec"] == spec
            return None if untouched else f"foreign {DNS_EGRESS} in {foreign} was modified"
        messages = [e.message for e in events_for(self.api, foreign, reason="ReconcileFailed")]
        return f"no ReconcileFailed Event saying {FOREIGN_MESSAGE!r} in {foreign}: {messages}"

    def profile_deletion_removes_policies(self) -> str | None:
        client.CustomObjectsApi(self.api).delete_cluster_custom_object(
            GROUP, VERSION, PLURAL, self.profile
        )
        if self._within(
            lambda: (
                read_profile(self.api, self.profile) is None and not managed_in(self.api, self.kept)
            )
        ):
            return None
        gone = read_profile(self.api, self.profile) is None
        left = sorted(managed_in(self.api, self.kept))
        return f"after deleting the profile (gone: {gone}) {self.kept} still holds {left}"

    def _mine(self) -> list[str]:
        return [ns for ns in (self.kept, self.leaving) if ns]
