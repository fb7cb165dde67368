"""The ValidatingAdmissionPolicies and bindings that enforce guardrails inside kube-apiserver.

Rendering layer, pure. The guardrail rules come as CEL from rendering/cel.py; the
protections (managed policies, opt-out) are written here. The shipped
manifests/admission/policies.yaml is admission_manifests(), kept equal by a golden test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import yaml

from netiso import conventions
from netiso.model.guardrails import DIRECTIONS, Rule
from netiso.model.limits import Action, Guardrails, OptOut
from netiso.model.planning import ROLES, policy_name
from netiso.model.profiles import Profile
from netiso.model.reasons import BLANK_REASON, VISIBLE_CHARACTER_RE2
from netiso.rendering.cel import (
    RULE_VARIABLES,
    cel_string,
    covered_variables,
    ip_block_variables,
    rule_expressions,
    rule_message,
    settings_from_params,
    settings_from_values,
)
from netiso.rendering.serverdefaults import normalise

API_VERSION: Final = "admissionregistration.k8s.io/v1"
GUARDRAILS_POLICY: Final = "netiso-guardrails"
BASELINE_POLICY: Final = "netiso-guardrails-baseline"
MANAGED_POLICIES_POLICY: Final = "netiso-managed-policies"
OPT_OUT_POLICY: Final = "netiso-opt-out"
RESERVED_NAMES_POLICY: Final = "netiso-reserved-names"
EXCEPTIONS_POLICY: Final = "netiso-exceptions"
BASELINE_BINDING: Final = BASELINE_POLICY
MANAGED_POLICIES_BINDING: Final = MANAGED_POLICIES_POLICY
OPT_OUT_BINDING: Final = OPT_OUT_POLICY
RESERVED_NAMES_BINDING: Final = RESERVED_NAMES_POLICY
EXCEPTIONS_BINDING: Final = EXCEPTIONS_POLICY
# The names of the policies netiso writes: nobody else may take one, in any namespace.
RESERVED_NAMES: Final = tuple(policy_name(role) for role in ROLES)
BINDING_PREFIX: Final = f"{GUARDRAILS_POLICY}-"
# The garbage collector deletes policies whose owner is gone (kube-controller-manager runs it
# as this service account with --use-service-account-credentials, as kubeadm does).
GARBAGE_COLLECTOR_USER: Final = "system:serviceaccount:kube-system:generic-garbage-collector"
# Break-glass: `bypass` on guardrails.netiso.io is a verb no built-in role grants; checked
# through the authorizer, so a (Cluster)RoleBinding grants it and the audit log records who.
BREAK_GLASS_GROUP: Final = conventions.GROUP
BREAK_GLASS_RESOURCE: Final = "guardrails"
BREAK_GLASS_VERB: Final = "bypass"
NETWORK_POLICIES: Final = {
    "apiGroups": ["networking.k8s.io"],
    "apiVersions": ["v1"],
    "resources": ["networkpolicies"],
}
LABELS: Final = {"app.kubernetes.io/name": "netiso", "app.kubernetes.io/part-of": "netiso"}
# A Namespace and the subresources through which its labels can be written.
NAMESPACE_RESOURCES: Final = ("namespaces", "namespaces/status", "namespaces/finalize")

# What each guardrail action makes admission do. Warn and Audit both record in the audit log;
# Deny and Warn may not be combined.
VALIDATION_ACTIONS: Final[Mapping[Action, tuple[str, ...]]] = {
    Action.DENY: ("Deny",),
    Action.WARN: ("Warn", "Audit"),
    Action.AUDIT: ("Audit",),
}


def _has_label(obj: str, key: str, value: str) -> str:
    return (
        f"has({obj}.metadata.labels) && {cel_string(key)} in {obj}.metadata.labels && "
        f"{obj}.metadata.labels[{cel_string(key)}] == {cel_string(value)}"
    )


def _granting(*, param_kind: bool) -> str:
    """CEL: whether the request's user may grant an exception in the namespace (a member of
    the profile's platform groups, or a break-glass holder)."""
    groups = "params.spec.guardrails.optOutGroups"
    platform = (
        f"(params != null && has({groups}) && has(request.userInfo.groups) && "
        f"request.userInfo.groups.exists(g, g in {groups})) || "
    )
    return f"({platform if param_kind else ''}{_break_glass('request.namespace')})"


def _guardrails_spec(settings: Mapping[str, str], *, param_kind: bool) -> dict[str, Any]:
    annotations = "object.metadata.annotations"
    exception = cel_string(conventions.EXCEPTION_ANNOTATION)
    expressions = rule_expressions()
    spec: dict[str, Any] = {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [{**NETWORK_POLICIES, "operations": ["CREATE", "UPDATE"]}]
        },
        "matchConditions": [
            {
                # Guardrails bind the namespace owners' policies; netiso's own are guarded
                # by netiso-managed-policies.
                "name": "not-managed-by-netiso",
                "expression": "!("
                + _has_label("object", conventions.MANAGED_BY_LABEL, conventions.MANAGED_BY_VALUE)
                + ")",
            }
        ],
        "variables": [
            *({"name": name, "expression": value} for name, value in settings.items()),
            *(
                {
                    "name": direction,
                    "expression": f"has(object.spec.{direction}) ? object.spec.{direction} : []",
                }
                for direction, _ in DIRECTIONS
            ),
            *(
                {"name": name, "expression": value}
                for name, value in {**ip_block_variables(), **covered_variables()}.items()
            ),
            {
                "name": "exception",
                # Blank, whitespace or invisible text grants nothing (model/reasons.py). The
                # grant is for the spec the platform saw: a change of spec by anybody else is
                # judged as if there were no exception.
                "expression": f"has({annotations}) && {exception} in {annotations} && "
                f"{annotations}[{exception}].matches({cel_string(VISIBLE_CHARACTER_RE2)}) && "
                f"(oldObject == null || object.spec == oldObject.spec || "
                f"{_granting(param_kind=param_kind)})",
            },
            *({"name": RULE_VARIABLES[rule], "expression": expressions[rule]} for rule in Rule),
        ],
        "validations": [
            {
                "expression": f"variables.exception || variables.{RULE_VARIABLES[rule]} == '' || "
                f"variables.listedExceptions.exists(e, {cel_string(rule)} in e.rules)",
                "messageExpression": rule_message(rule),
                "reason": "Forbidden",
            }
            for rule in Rule
        ],
        "auditAnnotations": [
            {
                # Evidence of every exception, in the audit log, whatever the action.
                "key": "exception",
                "valueExpression": f"variables.exception ? string({annotations}[{exception}]) : ''",
            },
            {
                # And of every listed one that applies to the policy.
                "key": "listed-exception",
                "valueExpression": "variables.listedExceptions.size() > 0 ? "
                "variables.listedExceptions.map(e, string(e.reason)).join('; ') : ''",
            },
        ],
    }
    if param_kind:
        spec["paramKind"] = {"apiVersion": conventions.API_VERSION, "kind": conventions.KIND}
    return spec


def _break_glass(namespace: str) -> str:
    return (
        f"authorizer.group({cel_string(BREAK_GLASS_GROUP)})"
        f".resource({cel_string(BREAK_GLASS_RESOURCE)}).namespace({namespace})"
        f".check({cel_string(BREAK_GLASS_VERB)}).allowed()"
    )


def _managed_policies_spec() -> dict[str, Any]:
    managed = (conventions.MANAGED_BY_LABEL, conventions.MANAGED_BY_VALUE)
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [{**NETWORK_POLICIES, "operations": ["CREATE", "UPDATE", "DELETE"]}]
        },
        "matchConditions": [
            {
                # Before or after the request, the policy carries netiso's label: adding it,
                # removing it and changing a labelled policy all count.
                "name": "managed-by-netiso",
                "expression": f"(object != null && {_has_label('object', *managed)}) || "
                f"(oldObject != null && {_has_label('oldObject', *managed)})",
            }
        ],
        "validations": [
            {
                "expression": " || ".join(
                    [
                        f"request.userInfo.username == {cel_string(conventions.OPERATOR_USER)}",
                        f"request.userInfo.username == {cel_string(GARBAGE_COLLECTOR_USER)}",
                        # The namespace controller empties a terminating namespace.
                        "(request.operation == 'DELETE' && namespaceObject != null && "
                        "has(namespaceObject.metadata.deletionTimestamp))",
                        _break_glass("request.namespace"),
                    ]
                ),
                "message": (
                    f"this NetworkPolicy is labelled {conventions.MANAGED_BY_LABEL}="
                    f"{conventions.MANAGED_BY_VALUE}: only the netiso operator may create, "
                    "change or delete such policies, or add that label to a policy. Change "
                    "the IsolationProfile instead, or ask your platform team (break-glass: the "
                    f"RBAC verb {BREAK_GLASS_VERB} on {BREAK_GLASS_RESOURCE}.{BREAK_GLASS_GROUP})."
                ),
                "reason": "Forbidden",
            }
        ],
    }


def _reserved_names_spec() -> dict[str, Any]:
    names = "[" + ", ".join(cel_string(name) for name in RESERVED_NAMES) + "]"
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [{**NETWORK_POLICIES, "operations": ["CREATE", "UPDATE"]}]
        },
        "matchConditions": [
            {
                # Deleting a namesake stays allowed: it is the way out of a conflict.
                "name": "reserved-name",
                "expression": f"object.metadata.name in {names}",
            }
        ],
        "validations": [
            {
                "expression": " || ".join(
                    [
                        f"request.userInfo.username == {cel_string(conventions.OPERATOR_USER)}",
                        _break_glass("request.namespace"),
                    ]
                ),
                "messageExpression": (
                    "'the NetworkPolicy name ' + object.metadata.name + ' is reserved for "
                    "netiso in every namespace: only the netiso operator may create or change "
                    "a NetworkPolicy so named (' + "
                    + cel_string(", ".join(RESERVED_NAMES))
                    + " + '). Choose another name.'"
                ),
                "reason": "Forbidden",
            }
        ],
    }


def _annotation_of(obj: str, key: str) -> str:
    """CEL: the annotation's value on `obj` (which may be null), '' when absent."""
    annotations = f"{obj}.metadata.annotations"
    return (
        f"({obj} != null && has({annotations}) && {key} in {annotations} ? "
        f"{annotations}[{key}] : '')"
    )


GRANT_TEXT: Final = f" may add or change the annotation {conventions.EXCEPTION_ANNOTATION}"


def _exceptions_spec() -> dict[str, Any]:
    key = cel_string(conventions.EXCEPTION_ANNOTATION)
    label = cel_string(conventions.PROFILE_LABEL)
    groups = "params.spec.guardrails.optOutGroups"
    namespace_labels = "namespaceObject.metadata.labels"
    return {
        "failurePolicy": "Fail",
        "paramKind": {"apiVersion": conventions.API_VERSION, "kind": conventions.KIND},
        "matchConstraints": {
            "resourceRules": [{**NETWORK_POLICIES, "operations": ["CREATE", "UPDATE"]}]
        },
        "matchConditions": [
            {
                # Adding or changing an exception grants something; removing one never does.
                "name": "exception-added-or-changed",
                "expression": f"{_annotation_of('object', key)} != '' && "
                f"{_annotation_of('object', key)} != {_annotation_of('oldObject', key)}",
            }
        ],
        "variables": [
            {
                # Evaluated once per profile (paramRef selects them all): only the profile
                # the namespace opted in to has a say. In a namespace that has not opted in,
                # every profile has: an annotation written there before the opt-in would
                # otherwise count afterwards, granted by nobody.
                "name": "elsewhere",
                "expression": f"namespaceObject != null && has({namespace_labels}) && "
                f"{label} in {namespace_labels} && "
                f"{namespace_labels}[{label}] != params.metadata.name",
            },
        ],
        "validations": [
            {
                "expression": "variables.elsewhere || "
                f"object.metadata.annotations[{key}].matches("
                f"{cel_string(VISIBLE_CHARACTER_RE2)})",
                "message": f"the annotation {conventions.EXCEPTION_ANNOTATION} {BLANK_REASON}",
                "reason": "Invalid",
            },
            {
                "expression": " || ".join(
                    [
                        "variables.elsewhere",
                        f"(has({groups}) && has(request.userInfo.groups) && "
                        f"request.userInfo.groups.exists(g, g in {groups}))",
                        _break_glass("request.namespace"),
                    ]
                ),
                "messageExpression": (
                    "'guardrail exceptions are granted by the platform: only the groups ' + "
                    f"(has({groups}) && size({groups}) > 0 ? {groups}.join(', ') : '(none)') + "
                    "' of IsolationProfile ' + params.metadata.name + "
                    f"{cel_string(GRANT_TEXT)} + ' here. Ask your platform team.'"
                ),
                "reason": "Forbidden",
            },
        ],
    }


def _opt_out_spec() -> dict[str, Any]:
    label = cel_string(conventions.PROFILE_LABEL)
    before = f"oldObject.metadata.labels[{label}]"
    groups = "params.spec.guardrails.optOutGroups"
    return {
        "failurePolicy": "Fail",
        "paramKind": {"apiVersion": conventions.API_VERSION, "kind": conventions.KIND},
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    # Every path that can store a Namespace's labels: the status and finalize
                    # subresources write metadata too. Patch and apply reach admission as
                    # UPDATE (or CREATE, which has no label to remove: opting in is free).
                    "resources": list(NAMESPACE_RESOURCES),
                    "operations": ["CREATE", "UPDATE"],
                }
            ]
        },
        "matchConditions": [
            {
                "name": "opt-in-label-removed-or-changed",
                "expression": f"oldObject != null && has(oldObject.metadata.labels) && {label} in "
                f"oldObject.metadata.labels && (!has(object.metadata.labels) || !({label} in "
                f"object.metadata.labels) || object.metadata.labels[{label}] != {before})",
            }
        ],
        "validations": [
            {
                # Evaluated once per profile (paramRef selects them all): only the profile
                # the namespace leaves has a say.
                "expression": " || ".join(
                    [
                        f"{before} != params.metadata.name",
                        f"params.spec.guardrails.optOut == {cel_string(str(OptOut.ALLOWED))}",
                        f"(has({groups}) && has(request.userInfo.groups) && "
                        f"request.userInfo.groups.exists(g, g in {groups}))",
                        _break_glass("object.metadata.name"),
                    ]
                ),
                "messageExpression": (
                    "'namespace ' + object.metadata.name + ' is isolated by IsolationProfile ' "
                    "+ params.metadata.name + ', which restricts opting out: only the groups ' "
                    f"+ (has({groups}) && size({groups}) > 0 ? {groups}.join(', ') : '(none)') "
                    f"+ {cel_string(f' may remove or change its {conventions.PROFILE_LABEL} ')}"
                    "+ 'label. Ask your platform team.'"
                ),
                "reason": "Forbidden",
            }
        ],
    }


def _object(kind: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    # Rendered with the API server's defaults written out: matchConstraints/matchResources are
    # atomic and resourceRules a list replaced whole, so a defaulted field left out would make
    # each client-side `kubectl apply` a change and a switch to server-side apply a conflict.
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": normalise({"kind": kind, "spec": spec}),
    }


def admission_policies() -> list[dict[str, Any]]:
    """The six ValidatingAdmissionPolicies: guardrails (parameter: the profile), the same
    rules with the default settings (baseline), managed-policy protection, opt-out, the
    reserved policy names and who may grant an exception."""
    return [
        _object(
            "ValidatingAdmissionPolicy",
            GUARDRAILS_POLICY,
            _guardrails_spec(settings_from_params(), param_kind=True),
        ),
        _object(
            "ValidatingAdmissionPolicy",
            BASELINE_POLICY,
            _guardrails_spec(settings_from_values(Guardrails()), param_kind=False),
        ),
        _object("ValidatingAdmissionPolicy", MANAGED_POLICIES_POLICY, _managed_policies_spec()),
        _object("ValidatingAdmissionPolicy", OPT_OUT_POLICY, _opt_out_spec()),
        _object("ValidatingAdmissionPolicy", RESERVED_NAMES_POLICY, _reserved_names_spec()),
        _object("ValidatingAdmissionPolicy", EXCEPTIONS_POLICY, _exceptions_spec()),
    ]


def _isolated_namespaces(*requirements: dict[str, Any]) -> dict[str, Any]:
    """A namespaceSelector that never matches the namespaces netiso always leaves alone."""
    return {
        "matchExpressions": [
            *requirements,
            {
                "key": conventions.NAMESPACE_NAME_LABEL,
                "operator": "NotIn",
                "values": sorted(conventions.ALWAYS_PROTECTED_NAMESPACES),
            },
        ]
    }


def binding_name(profile_name: str) -> str:
    """The name of a profile's guardrail binding."""
    return f"{BINDING_PREFIX}{profile_name}"


def profile_binding(profile: Profile) -> dict[str, Any]:
    """The ValidatingAdmissionPolicyBinding that applies `profile`'s guardrails, with its
    action, to the namespaces labelled with its name. A missing profile denies (fail closed)."""
    body = _object(
        "ValidatingAdmissionPolicyBinding",
        binding_name(profile.name),
        {
            "policyName": GUARDRAILS_POLICY,
            "paramRef": {"name": profile.name, "parameterNotFoundAction": "Deny"},
            "matchResources": {
                "namespaceSelector": _isolated_namespaces(
                    {"key": conventions.PROFILE_LABEL, "operator": "In", "values": [profile.name]}
                )
            },
            "validationActions": list(VALIDATION_ACTIONS[profile.guardrails.action]),
        },
    )
    body["metadata"]["labels"][conventions.PROFILE_LABEL] = profile.name
    return body


def baseline_binding(profile_names: Iterable[str] = ()) -> dict[str, Any]:
    """The binding of the default guardrails to opted-in namespaces whose profile is none of
    `profile_names` (a profile that does not exist, or not yet): no per-profile binding
    matches them. Warn, like a profile's default action."""
    names = sorted(set(profile_names))
    label = conventions.PROFILE_LABEL
    requirements: list[dict[str, Any]] = [{"key": label, "operator": "Exists"}]
    if names:
        requirements.append({"key": label, "operator": "NotIn", "values": names})
    return _object(
        "ValidatingAdmissionPolicyBinding",
        BASELINE_BINDING,
        {
            "policyName": BASELINE_POLICY,
            "matchResources": {"namespaceSelector": _isolated_namespaces(*requirements)},
            "validationActions": list(VALIDATION_ACTIONS[Guardrails().action]),
        },
    )


def protection_bindings() -> list[dict[str, Any]]:
    """The four protections, always Deny: managed policies everywhere, opt-out checked
    against every profile (a namespace leaving a profile that does not exist is let go),
    netiso's policy names everywhere, and exceptions granted only by the platform groups of
    the namespace's profile."""
    return [
        _object(
            "ValidatingAdmissionPolicyBinding",
            MANAGED_POLICIES_BINDING,
            {"policyName": MANAGED_POLICIES_POLICY, "validationActions": ["Deny"]},
        ),
        _object(
            "ValidatingAdmissionPolicyBinding",
            OPT_OUT_BINDING,
            {
                "policyName": OPT_OUT_POLICY,
                "paramRef": {"selector": {}, "parameterNotFoundAction": "Allow"},
                "validationActions": ["Deny"],
            },
        ),
        _object(
            "ValidatingAdmissionPolicyBinding",
            RESERVED_NAMES_BINDING,
            {"policyName": RESERVED_NAMES_POLICY, "validationActions": ["Deny"]},
        ),
        _object(
            "ValidatingAdmissionPolicyBinding",
            EXCEPTIONS_BINDING,
            {
                "policyName": EXCEPTIONS_POLICY,
                "paramRef": {"selector": {}, "parameterNotFoundAction": "Allow"},
                "validationActions": ["Deny"],
            },
        ),
    ]


def admission_manifests() -> list[dict[str, Any]]:
    """Everything manifests/admission/policies.yaml ships: the policies and the protections'
    bindings. Not the baseline binding: its NotIn list follows the profiles, so a static copy
    would fight the operator at every re-apply; the operator keeps it (or, with the keeper
    off, `netiso admission` prints it)."""
    return [*admission_policies(), *protection_bindings()]


MANIFEST_HEADER: Final = """\
# Generated from netiso.rendering.validations.admission_manifests(): do not edit by hand.
# Regenerate with NETISO_UPDATE_GOLDEN=1 pytest tests/unit/rendering/test_admission_rendering.py
# The guardrail CEL is written from the rule table in operator/netiso/model/guardrails.py.
"""


def admission_manifest_text() -> str:
    """manifests/admission/policies.yaml as it must read, header included."""
    return MANIFEST_HEADER + yaml.safe_dump_all(admission_manifests(), sort_keys=False, width=100)
