"""The admission keeper's user-visible steps, run one after another against one operator.

Used by test_rbac.py, as ship_scenario.py is: under the shipped ClusterRole every step passes;
without one of the keeper's permissions the step that permission is for fails. No namespace
opts in (the protections the keeper installs let only the installed service account write
managed policies); everything the keeper made is removed before and after each run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from netiso.admission.plans import BINDING, POLICY, desired
from netiso.rendering.validations import (
    BASELINE_POLICY,
    OPT_OUT_BINDING,
    binding_name,
)
from netiso_devkit.harness import OperatorProcess

from .conftest import unique_name
from .ship_cluster import create_profile, holds_within, patch_profile_spec, remove_profile

# In baseline order; a step may rely on the ones before it.
KEEPER_STEPS: Final = (
    "keeps_guardrails",
    "binds_new_profile",
    "follows_profile_action",
    "restores_deleted_policy",
    "restores_edited_policy",
    "restores_deleted_binding",
    "removes_binding_of_deleted_profile",
)
# The names the keeper owns outright; per-profile bindings are netiso-guardrails-<profile>.
KEPT_PREFIXES: Final = (
    "netiso-guardrails",
    "netiso-managed-policies",
    "netiso-opt-out",
    "netiso-reserved-names",
    "netiso-exceptions",
)


def read_kept(api: client.ApiClient, kind: str, name: str) -> dict[str, Any] | None:
    """A policy or binding as the API server has it, or None."""
    registration = client.AdmissionregistrationV1Api(api)
    read = (
        registration.read_validating_admission_policy
        if kind == POLICY
        else registration.read_validating_admission_policy_binding
    )
    try:
        found = read(name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    body: dict[str, Any] = client.ApiClient().sanitize_for_serialization(found)
    return body


def remove_everything_kept(api: client.ApiClient) -> None:
    """Delete every policy and binding the keeper makes, never netiso-operator-scope."""
    registration = client.AdmissionregistrationV1Api(api)
    for binding in registration.list_validating_admission_policy_binding().items:
        if binding.metadata.name.startswith(KEPT_PREFIXES):
            registration.delete_validating_admission_policy_binding(binding.metadata.name)
    for policy in registration.list_validating_admission_policy().items:
        if policy.metadata.name.startswith(KEPT_PREFIXES):
            registration.delete_validating_admission_policy(policy.metadata.name)


class KeeperScenario:
    """One profile and the keeper's objects, driven through KEEPER_STEPS."""

    def __init__(self, *, api: client.ApiClient, operator: OperatorProcess, window: float) -> None:
        self.api = api
        self.operator = operator
        self.window = window
        self.profile = unique_name("rbac-keeper")
        self.registration = client.AdmissionregistrationV1Api(api)

    def run(self, step: str) -> str | None:
        """Run one step; None when it worked, else what went wrong."""
        if step not in KEEPER_STEPS:
            raise ValueError(f"unknown step {step!r}")
        failure: str | None = getattr(self, step)()
        process = self.operator.process
        if failure is not None and process is not None and process.poll() is not None:
            failure += f" (operator exited with {process.returncode})"
        return failure

    def cleanup(self) -> None:
        remove_profile(self.api, self.profile)
        remove_everything_kept(self.api)

    def _within(self, probe: Callable[[], object]) -> bool:
        return holds_within(self.window, probe)

    def _actions(self) -> list[str] | None:
        body = read_kept(self.api, BINDING, binding_name(self.profile))
        return None if body is None else list(body["spec"]["validationActions"])

    # --- steps -------------------------------------------------------------------------------

    def keeps_guardrails(self) -> str | None:
        keys = list(desired([], live_bindings=()).objects)

        def missing() -> list[tuple[str, str]]:
            return [key for key in keys if read_kept(self.api, *key) is None]

        if self._within(lambda: not missing()):
            return None
        return f"not installed: {missing()}"

    def binds_new_profile(self) -> str | None:
        create_profile(self.api, self.profile, guardrails={"action": "Deny"})
        if self._within(lambda: self._actions() == ["Deny"]):
            return None
        return f"binding of {self.profile}: {self._actions()}"

    def follows_profile_action(self) -> str | None:
        patch_profile_spec(self.api, self.profile, spec={"guardrails": {"action": "Audit"}})
        if self._within(lambda: self._actions() == ["Audit"]):
            return None
        return f"binding of {self.profile} after the edit: {self._actions()}"

    def restores_deleted_policy(self) -> str | None:
        self.registration.delete_validating_admission_policy(BASELINE_POLICY)
        if self._within(lambda: read_kept(self.api, POLICY, BASELINE_POLICY) is not None):
            return None
        return f"{BASELINE_POLICY} not restored"

    def restores_edited_policy(self) -> str | None:
        body = read_kept(self.api, POLICY, BASELINE_POLICY)
        if body is None:
            return f"{BASELINE_POLICY} missing"
        body["spec"]["failurePolicy"] = "Ignore"
        self.registration.replace_validating_admission_policy(BASELINE_POLICY, body)

        def failure_policy() -> str:
            return str(
                (read_kept(self.api, POLICY, BASELINE_POLICY) or {"spec": {}})["spec"].get(
                    "failurePolicy"
                )
            )

        if self._within(lambda: failure_policy() == "Fail"):
            return None
        return f"{BASELINE_POLICY} failurePolicy stays {failure_policy()}"

    def restores_deleted_binding(self) -> str | None:
        self.registration.delete_validating_admission_policy_binding(OPT_OUT_BINDING)
        if self._within(lambda: read_kept(self.api, BINDING, OPT_OUT_BINDING) is not None):
            return None
        return f"{OPT_OUT_BINDING} not restored"

    def removes_binding_of_deleted_profile(self) -> str | None:
        remove_profile(self.api, self.profile)
        if self._within(lambda: read_kept(self.api, BINDING, binding_name(self.profile)) is None):
            return None
        return f"binding of the deleted {self.profile} stays"
