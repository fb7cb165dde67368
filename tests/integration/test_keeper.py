"""The operator keeps its ValidatingAdmissionPolicies and bindings, on the real API server.

First, without an operator: every object netiso renders, created on the server (dry run: the
server defaults and validates it as it would store it, and keeps nothing), comes back with
exactly the normalised rendering as its spec, so the keeper's comparison sees no change
where there is none. Then the operator, run as users run it with NETISO_ADMISSION=on: it
installs everything, keeps one binding per profile in step with the profile (created,
edited, deleted; the baseline binding's NotIn list with it), restores what an admin deletes
or changes with a Warning Event and netiso_guardrail_installed back at 1, and writes nothing
at steady state or after a restart, counted by the API server itself.

The control plane is shared: no namespace opts in here (the protections would refuse the
test operator's writes: they let only the installed service account write managed policies),
and every admission object the keeper made is deleted at the end.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from kubernetes import client

from netiso import conventions
from netiso.admission.plans import BINDING, POLICY, desired
from netiso.model.parsing import parse_profile
from netiso.observed.entries import ProfileEntry
from netiso.rendering.serverdefaults import normalise
from netiso.rendering.validations import (
    BASELINE_BINDING,
    GUARDRAILS_POLICY,
    MANAGED_POLICIES_BINDING,
    binding_name,
)
from netiso_devkit.harness import (
    GROUP,
    PLURAL,
    VERSION,
    OperatorProcess,
    grant_operator_rbac,
    operator_cluster_role,
    paused,
    running_operator,
    wait_for,
)

from .conftest import profile_body, unique_name
from .ship_cluster import apiserver_writes, events_for
from .ship_keeper import read_kept, remove_everything_kept
from .ship_rbac import revoke

pytestmark = pytest.mark.integration

KEEPER_ENV: Final = {"NETISO_ADMISSION": "on", "NETISO_RESYNC_INTERVAL": "3600"}
# Restores are event-driven; this bounds the wait, it is not a speed target.
RESTORE_TIMEOUT: Final = 10.0
OPT_OUT: Final = (POLICY, "netiso-opt-out")
RESOURCES: Final = ("validatingadmissionpolicies", "validatingadmissionpolicybindings")


def create_dry_run(api: client.ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    registration = client.AdmissionregistrationV1Api(api)
    if body["kind"] == POLICY:
        stored = registration.create_validating_admission_policy(body, dry_run="All")
    else:
        stored = registration.create_validating_admission_policy_binding(body, dry_run="All")
    answer: dict[str, Any] = client.ApiClient().sanitize_for_serialization(stored)
    return answer


def test_server_stores_every_rendering_as_normalised(kube_api: client.ApiClient) -> None:
    entries = [
        ProfileEntry(name=name, profile=parse_profile(profile_body(name, guardrails=guardrails)))
        for name, guardrails in (
            ("keeper-deny", {"action": "Deny"}),
            ("keeper-warn", {}),
            ("keeper-audit", {"action": "Audit", "optOut": "Restricted"}),
        )
    ]
    rendered = desired(entries, live_bindings=()).objects
    assert len(rendered) == 6 + 5 + 3  # policies, protections + baseline, one per profile
    for key, body in rendered.items():
        stored = create_dry_run(kube_api, dict(body))
        assert stored["spec"] == normalise(body), key
        assert stored["metadata"]["labels"] == body["metadata"]["labels"], key


@pytest.fixture(scope="module")
def keeper(
    operator_kubeconfig: Path,
    kube_api: client.ApiClient,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("keeper") / "operator.log"
    failed_before = request.session.testsfailed
    try:
        with running_operator(kubeconfig=operator_kubeconfig, log_path=log, env=KEEPER_ENV) as op:
            yield op
            if request.session.testsfailed > failed_before:
                print(f"----- operator log ({log}) -----\n{op.log()}")
    finally:
        remove_everything_kept(kube_api)


def installed(operator: OperatorProcess, kind: str, name: str) -> float | None:
    return operator.metric("netiso_guardrail_installed", kind=kind, name=name)


def is_installed(operator: OperatorProcess, kind: str, name: str) -> bool:
    return installed(operator, kind, name) == 1


def is_not_installed(operator: OperatorProcess, kind: str, name: str) -> bool:
    return installed(operator, kind, name) == 0


def baseline_excluded(api: client.ApiClient) -> list[str]:
    body = read_kept(api, BINDING, BASELINE_BINDING)
    assert body is not None
    for requirement in body["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"]:
        if requirement["key"] == conventions.PROFILE_LABEL and requirement["operator"] == "NotIn":
            return list(requirement["values"])
    return []


def actions_of(api: client.ApiClient, profile: str) -> list[str] | None:
    body = read_kept(api, BINDING, binding_name(profile))
    return None if body is None else list(body["spec"]["validationActions"])


def test_installs_every_object_and_exports_it(
    keeper: OperatorProcess, kube_api: client.ApiClient
) -> None:
    for key in desired([], live_bindings=()).objects:
        wait_for(f"{key} installed", functools.partial(is_installed, keeper, *key))
        assert read_kept(kube_api, *key) is not None


def test_binding_follows_profile_creation_edit_and_deletion(
    keeper: OperatorProcess, kube_api: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    name = unique_name("keeper")
    custom.create_cluster_custom_object(
        GROUP, VERSION, PLURAL, profile_body(name, guardrails={"action": "Deny"})
    )
    try:
        wait_for("binding created", lambda: actions_of(kube_api, name) == ["Deny"])
        wait_for("baseline leaves it out", lambda: name in baseline_excluded(kube_api))
        wait_for("its series", lambda: installed(keeper, BINDING, binding_name(name)) == 1)
        body = read_kept(kube_api, BINDING, binding_name(name))
        assert body is not None
        assert body["spec"]["paramRef"]["name"] == name
        assert body["spec"]["policyName"] == GUARDRAILS_POLICY

        custom.patch_cluster_custom_object(
            GROUP, VERSION, PLURAL, name, {"spec": {"guardrails": {"action": "Audit"}}}
        )
        wait_for("binding follows the edit", lambda: actions_of(kube_api, name) == ["Audit"])
        # A change netiso made for the profile is no person's: no Warning Event.
        time.sleep(1.0)
        assert not restored_events(kube_api, name)
    finally:
        custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    wait_for("binding removed", lambda: read_kept(kube_api, BINDING, binding_name(name)) is None)
    wait_for("baseline covers it again", lambda: name not in baseline_excluded(kube_api))
    wait_for("series gone", lambda: installed(keeper, BINDING, binding_name(name)) is None)


def restored_events(api: client.ApiClient, involved: str) -> list[Any]:
    return [
        e
        for e in events_for(api, "default", reason="GuardrailRestored")
        if e.involved_object.name == involved
    ]


def test_a_deleted_policy_is_restored_with_an_event(
    keeper: OperatorProcess, kube_api: client.ApiClient
) -> None:
    wait_for("installed", lambda: installed(keeper, POLICY, GUARDRAILS_POLICY) == 1)
    old = read_kept(kube_api, POLICY, GUARDRAILS_POLICY)
    assert old is not None
    client.AdmissionregistrationV1Api(kube_api).delete_validating_admission_policy(
        GUARDRAILS_POLICY
    )

    def restored() -> bool:
        new = read_kept(kube_api, POLICY, GUARDRAILS_POLICY)
        return new is not None and new["metadata"]["uid"] != old["metadata"]["uid"]

    wait_for("policy restored", restored, timeout=RESTORE_TIMEOUT)
    wait_for("Event", lambda: restored_events(kube_api, GUARDRAILS_POLICY))
    (event,) = restored_events(kube_api, GUARDRAILS_POLICY)
    assert event.type == "Warning"
    assert event.involved_object.kind == POLICY
    assert "deleted" in event.message
    wait_for("back at 1", lambda: installed(keeper, POLICY, GUARDRAILS_POLICY) == 1)


def test_an_edited_binding_is_restored(keeper: OperatorProcess, kube_api: client.ApiClient) -> None:
    registration = client.AdmissionregistrationV1Api(kube_api)
    wait_for("installed", lambda: installed(keeper, BINDING, MANAGED_POLICIES_BINDING) == 1)
    body = read_kept(kube_api, BINDING, MANAGED_POLICIES_BINDING)
    assert body is not None
    before = copy.deepcopy(body["spec"])
    # An addition (not a change of any field netiso renders) counts as a change too.
    body["spec"]["validationActions"] = ["Audit"]
    body["spec"]["matchResources"] = {"namespaceSelector": {"matchLabels": {"x": "y"}}}
    registration.replace_validating_admission_policy_binding(MANAGED_POLICIES_BINDING, body)
    wait_for(
        "binding restored",
        lambda: (
            (read_kept(kube_api, BINDING, MANAGED_POLICIES_BINDING) or {}).get("spec") == before
        ),
        timeout=RESTORE_TIMEOUT,
    )
    wait_for("Event", lambda: restored_events(kube_api, MANAGED_POLICIES_BINDING))
    wait_for("back at 1", lambda: installed(keeper, BINDING, MANAGED_POLICIES_BINDING) == 1)


def test_a_profile_binding_changed_by_hand_is_restored_with_an_event_on_the_profile(
    keeper: OperatorProcess, kube_api: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    registration = client.AdmissionregistrationV1Api(kube_api)
    name = unique_name("keeper-edit")
    custom.create_cluster_custom_object(
        GROUP, VERSION, PLURAL, profile_body(name, guardrails={"action": "Deny"})
    )
    try:
        wait_for("binding", lambda: installed(keeper, BINDING, binding_name(name)) == 1)
        body = read_kept(kube_api, BINDING, binding_name(name))
        assert body is not None
        body["spec"]["validationActions"] = ["Audit"]
        registration.replace_validating_admission_policy_binding(binding_name(name), body)
        wait_for("restored", lambda: actions_of(kube_api, name) == ["Deny"])
        wait_for("Event on the profile", lambda: restored_events(kube_api, name))
        (event,) = restored_events(kube_api, name)
        assert event.involved_object.kind == conventions.KIND
        assert "changed" in event.message
    finally:
        custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    wait_for("binding removed", lambda: read_kept(kube_api, BINDING, binding_name(name)) is None)


def test_bindings_that_are_not_netisos_are_left_alone(
    keeper: OperatorProcess, kube_api: client.ApiClient
) -> None:
    registration = client.AdmissionregistrationV1Api(kube_api)
    # netiso's name prefix, no profile behind it, but not netiso's labels: someone else's.
    name = binding_name(unique_name("foreign"))
    registration.create_validating_admission_policy_binding(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": BINDING,
            "metadata": {"name": name},
            "spec": {
                "policyName": GUARDRAILS_POLICY,
                "validationActions": ["Audit"],
                "paramRef": {"name": "none", "parameterNotFoundAction": "Allow"},
            },
        }
    )
    try:
        time.sleep(2.0)
        assert read_kept(kube_api, BINDING, name) is not None
    finally:
        registration.delete_validating_admission_policy_binding(name)


def kept_writes(api: client.ApiClient) -> float:
    return sum(apiserver_writes(api, resource) for resource in RESOURCES)


def test_no_writes_at_steady_state_nor_after_a_restart(
    keeper: OperatorProcess,
    operator_kubeconfig: Path,
    kube_api: client.ApiClient,
    tmp_path: Path,
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    names = [unique_name("keeper-steady") for _ in range(2)]
    for index, name in enumerate(names):
        guardrails = {"action": "Deny"} if index else {}
        custom.create_cluster_custom_object(
            GROUP, VERSION, PLURAL, profile_body(name, guardrails=guardrails)
        )
    try:
        for name in names:
            wait_for(
                "binding", functools.partial(is_installed, keeper, BINDING, binding_name(name))
            )
        time.sleep(1.0)
        writes = kept_writes(kube_api)
        time.sleep(3.0)
        assert kept_writes(kube_api) == writes, "writes at steady state"
        keeper.stop()
        with running_operator(
            kubeconfig=operator_kubeconfig, log_path=tmp_path / "restart.log", env=KEEPER_ENV
        ) as second:
            for name in names:
                wait_for(
                    "seen", functools.partial(is_installed, second, BINDING, binding_name(name))
                )
            time.sleep(2.0)
            assert kept_writes(kube_api) == writes, second.log()
            for key in desired([], live_bindings=()).objects:
                assert installed(second, *key) == 1, key
        keeper.start()
    finally:
        for name in names:
            custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)


# --- leadership and refusals -------------------------------------------------------------------

SHORT_LEASE: Final = {
    "NETISO_LEASE_DURATION": "4",
    "NETISO_RENEW_DEADLINE": "3",
    "NETISO_RETRY_PERIOD": "0.5",
}


def test_a_standby_keeps_watching_writes_nothing_and_rechecks_when_it_leads(
    keeper: OperatorProcess,
    operator_kubeconfig: Path,
    kube_api: client.ApiClient,
    tmp_path: Path,
) -> None:
    keeper.stop()  # two replicas of their own Lease below; the module's operator rests
    lease = {**KEEPER_ENV, **SHORT_LEASE, "NETISO_LEASE_NAME": unique_name("keeper-lease")}
    try:
        with (
            running_operator(
                kubeconfig=operator_kubeconfig, log_path=tmp_path / "a.log", env=lease
            ) as first,
            running_operator(
                kubeconfig=operator_kubeconfig, log_path=tmp_path / "b.log", env=lease
            ) as second,
        ):
            leader, standby = (first, second) if first.metric("netiso_leader") else (second, first)
            assert standby.metric("netiso_leader") == 0
            wait_for("standby sees it", functools.partial(is_installed, standby, *OPT_OUT))
            with paused(leader):
                client.AdmissionregistrationV1Api(kube_api).delete_validating_admission_policy(
                    OPT_OUT[1]
                )
                # The standby's watch sees the deletion at once, and it does not write.
                wait_for("standby shows 0", lambda: installed(standby, *OPT_OUT) == 0)
                assert standby.metric("netiso_leader") == 0
                assert read_kept(kube_api, *OPT_OUT) is None
                # Once the frozen leader's Lease lapses, the standby leads and re-checks.
                wait_for("standby leads", lambda: standby.metric("netiso_leader") == 1)
                wait_for("restored", lambda: read_kept(kube_api, *OPT_OUT) is not None)
                wait_for("back at 1", functools.partial(is_installed, standby, *OPT_OUT))
            wait_for("Event", lambda: restored_events(kube_api, OPT_OUT[1]))
    finally:
        keeper.start()


def test_without_the_rights_it_says_so_once_exports_0_and_keeps_isolating(
    control_plane: Any, kube_api: client.ApiClient, tmp_path: Path
) -> None:
    user = unique_name("keeper-forbidden")
    rules = [
        rule
        for rule in operator_cluster_role()["rules"]
        if "admissionregistration.k8s.io" not in rule["apiGroups"]
    ]
    role = grant_operator_rbac(kube_api, user=user, rules=rules)
    try:
        with running_operator(
            kubeconfig=control_plane.user_kubeconfig(user),
            log_path=tmp_path / "forbidden.log",
            env=KEEPER_ENV,
        ) as refused:
            for key in desired([], live_bindings=()).objects:
                wait_for(f"{key} at 0", functools.partial(is_not_installed, refused, *key))
            time.sleep(4.0)  # a few retries with backoff
            assert refused.metric("netiso_ready") == 1
            said = [line for line in refused.log().splitlines() if "cannot be kept" in line]
            assert len(said) == 1, said
            assert "403" in said[0] or "may not" in said[0]
            assert "NETISO_ADMISSION=off" in said[0]
    finally:
        revoke(kube_api, role)
