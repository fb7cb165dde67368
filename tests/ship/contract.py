"""The operator's observable contract, as the shipped artefacts rely on it.

The one list of metric names, labels and label values that the dashboard, the PrometheusRule and
docs/metrics.md may use; the API calls the operator makes, which RBAC and docs/install.md must
grant exactly; and a small PromQL scanner that pulls metric names, label matchers and grouping
labels out of an expression. Pure: no files, no subprocesses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Metric:
    """One metric family netiso exposes on /metrics.

    `labels` maps each label name to its allowed values; an empty set means any value.
    """

    name: str
    kind: str
    labels: Mapping[str, frozenset[str]]


_DRIFT_REASONS: Final = frozenset(
    {"missing", "modified", "unexpected", "conflict", "foreign_claims_managed"}
)
_ANY: Final[frozenset[str]] = frozenset()
_GUARDRAIL_RULES: Final = frozenset(
    {
        "broad-cidr",
        "all-namespaces",
        "no-peers",
        "no-ports",
        "named-port",
        "required-annotation",
    }
)

METRICS: Final[Mapping[str, Metric]] = {
    metric.name: metric
    for metric in (
        Metric(
            "netiso_policy_drift",
            "gauge",
            {"namespace": _ANY, "profile": _ANY, "policy": _ANY, "reason": _DRIFT_REASONS},
        ),
        Metric(
            "netiso_namespace_out_of_sync",
            "gauge",
            {
                "namespace": _ANY,
                "profile": _ANY,
                "state": frozenset({"drifted", "error", "missing_profile", "dry_run"}),
            },
        ),
        Metric(
            "netiso_namespaces",
            "gauge",
            {
                "profile": _ANY,
                "state": frozenset(
                    {"isolated", "drifted", "dry_run", "error", "missing_profile", "protected"}
                ),
            },
        ),
        Metric(
            "netiso_drift_detected_total",
            "counter",
            {"profile": _ANY, "reason": _DRIFT_REASONS},
        ),
        Metric("netiso_drift_repaired_total", "counter", {"profile": _ANY}),
        Metric("netiso_repair_not_converged_total", "counter", {"profile": _ANY}),
        Metric(
            "netiso_reconcile_total",
            "counter",
            {"result": frozenset({"unchanged", "changed", "error", "skipped"})},
        ),
        Metric("netiso_reconcile_duration_seconds", "histogram", {}),
        Metric(
            "netiso_api_requests_total",
            "counter",
            {
                "verb": frozenset({"get", "list", "watch", "apply", "delete", "create", "patch"}),
                "code": _ANY,
            },
        ),
        Metric(
            "netiso_dry_run_pending_changes",
            "gauge",
            {"profile": _ANY, "action": frozenset({"create", "update", "delete"})},
        ),
        Metric(
            "netiso_guardrail_violations",
            "gauge",
            {"namespace": _ANY, "profile": _ANY, "rule": _GUARDRAIL_RULES},
        ),
        Metric("netiso_guardrail_exceptions", "gauge", {"profile": _ANY, "rule": _GUARDRAIL_RULES}),
        Metric("netiso_queue_depth", "gauge", {}),
        Metric("netiso_ready", "gauge", {}),
        Metric("netiso_build_info", "gauge", {"version": _ANY}),
        Metric("netiso_leader", "gauge", {}),
        Metric("netiso_shard_leader", "gauge", {"shard": _ANY}),
        Metric(
            "netiso_guardrail_installed",
            "gauge",
            {
                "kind": frozenset(
                    {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
                ),
                "name": _ANY,
            },
        ),
        Metric(
            "netiso_dependency_unresolved",
            "gauge",
            {
                "profile": _ANY,
                "reason": frozenset(
                    {
                        "DnsDisabled",
                        "DnsServiceNotFound",
                        "DnsNoReadyEndpoint",
                        "DnsPortNotAllowed",
                        "GatewayMatchesNothing",
                        "MonitoringMatchesNothing",
                    }
                ),
            },
        ),
        Metric(
            "netiso_enforcement",
            "gauge",
            {
                "profile": _ANY,
                "state": frozenset({"enforced", "not-enforced", "inconclusive", "unavailable"}),
            },
        ),
        Metric(
            "netiso_lease_requests_total",
            "counter",
            {"verb": frozenset({"get", "create", "update"}), "code": _ANY},
        ),
    )
}

# Prometheus' own per-target series, the only non-netiso metric the alerts may use.
UP: Final = Metric("up", "gauge", {})

# prometheus_client's standard process collector on the operator's /metrics (registered in
# reporting/metrics.py): the dashboard's CPU and memory panels read these two.
PROCESS_METRICS: Final[Mapping[str, Metric]] = {
    metric.name: metric
    for metric in (
        Metric("process_cpu_seconds_total", "counter", {}),
        Metric("process_resident_memory_bytes", "gauge", {}),
    )
}

# Labels Prometheus attaches to every scraped series (the ServiceMonitor honours netiso's own
# `namespace`, so that one keeps netiso's meaning).
SCRAPE_LABELS: Final = frozenset({"job", "instance"})

_HISTOGRAM_SUFFIXES: Final = ("_bucket", "_sum", "_count")

# The operator's API calls as (apiGroup, resource) -> verbs, nothing more. Server-side apply of
# an object that does not exist yet is authorized as "create" too (apiserver handlers/patch.go);
# Kopf 1.45 and netiso only ever POST Events and never read the status subresource.
API_CALLS: Final[Mapping[tuple[str, str], frozenset[str]]] = {
    ("", "namespaces"): frozenset({"list", "watch"}),
    ("networking.k8s.io", "networkpolicies"): frozenset(
        {"list", "watch", "create", "update", "delete"}
    ),
    # get: the API server's condition for writing a policy or binding that takes profiles as
    # parameters (the admission keeper), not a call netiso makes.
    ("netiso.io", "isolationprofiles"): frozenset({"get", "list", "watch", "patch"}),
    ("netiso.io", "isolationprofiles/status"): frozenset({"patch"}),
    ("", "events"): frozenset({"create"}),
    # The dependency tracker, in the namespaces profiles name (and the apiServer allow's
    # `default/kubernetes` EndpointSlices).
    ("", "pods"): frozenset({"list", "watch"}),
    ("", "services"): frozenset({"list", "watch"}),
    ("discovery.k8s.io", "endpointslices"): frozenset({"list", "watch"}),
    ("apiextensions.k8s.io", "customresourcedefinitions"): frozenset({"list", "watch"}),
    # The admission keeper: it never deletes a policy, only a gone profile's binding.
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"): frozenset(
        {"list", "watch", "create", "update"}
    ),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"): frozenset(
        {"list", "watch", "create", "update", "delete"}
    ),
}


# The enforcement probe's calls, granted only by the opt-in component
# manifests/components/enforcement-probe (a profile's spec.enforcementProbe).
PROBE_CALLS: Final[Mapping[tuple[str, str], frozenset[str]]] = {
    ("", "pods"): frozenset({"get", "list", "create", "delete"}),
}


# The leader election calls, granted by a Role in the operator's own namespace only.
LEASE_CALLS: Final[Mapping[tuple[str, str], frozenset[str]]] = {
    ("coordination.k8s.io", "leases"): frozenset({"get", "create", "update"}),
}


def exposed_series() -> dict[str, Metric]:
    """Every series name a query may select, mapped to its family (histograms grow suffixes)."""
    series: dict[str, Metric] = {}
    for metric in METRICS.values():
        if metric.kind == "histogram":
            for suffix in _HISTOGRAM_SUFFIXES:
                extra = {"le": _ANY} if suffix == "_bucket" else {}
                series[metric.name + suffix] = Metric(
                    metric.name + suffix, metric.kind, {**metric.labels, **extra}
                )
        else:
            series[metric.name] = metric
    return series


@dataclass(frozen=True)
class Matcher:
    """One label matcher inside a selector's braces."""

    metric: str
    label: str
    op: str
    value: str


@dataclass(frozen=True)
class Scan:
    """What a PromQL expression refers to."""

    metrics: frozenset[str]
    matchers: tuple[Matcher, ...]
    grouping: frozenset[str]


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SELECTOR = re.compile(r"(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)?\s*\{(?P<body>[^{}]*)\}")
_MATCHER = re.compile(
    r'(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>[^"]*)"'
)
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\((?P<labels>[^()]*)\)"
)
_IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_:$.])[A-Za-z_:][A-Za-z0-9_:]*(?![A-Za-z0-9_:])(?!\s*\()")
_KEYWORDS: Final = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "inf", "nan", "Inf", "NaN"}
)


def scan_promql(expr: str) -> Scan:
    """Metric names, label matchers and grouping labels used by `expr`.

    Function and aggregation names (anything followed by `(`), keywords, range and subquery
    durations and Grafana variables inside brackets are not metric names.
    """
    matchers: list[Matcher] = []
    for selector in _SELECTOR.finditer(expr):
        name = selector.group("name") or ""
        for found in _MATCHER.finditer(selector.group("body")):
            matchers.append(
                Matcher(name, found.group("label"), found.group("op"), found.group("value"))
            )
    grouping: set[str] = set()
    for clause in _GROUPING.finditer(expr):
        grouping.update(part.strip() for part in clause.group("labels").split(",") if part.strip())

    bare = _STRING.sub('""', expr)
    bare = re.sub(r"\{[^{}]*\}", " ", bare)
    bare = re.sub(r"\[[^\[\]]*\]", " ", bare)
    bare = _GROUPING.sub(" ", bare)
    names = {word for word in _IDENTIFIER.findall(bare) if word not in _KEYWORDS}
    return Scan(frozenset(names), tuple(matchers), frozenset(grouping))


def contract_violations(expr: str, *, allowed: Mapping[str, Metric]) -> list[str]:
    """Every way `expr` steps outside `allowed` (series name -> family); empty when it does not.

    Checks metric names, label names in matchers and grouping clauses, and label values for
    labels with a closed set of values (plain alternations under =~ are checked value by value).
    """
    scan = scan_promql(expr)
    problems: list[str] = []
    unknown = sorted(scan.metrics - set(allowed))
    problems.extend(f"unknown metric {name!r}" for name in unknown)
    if not scan.metrics:
        problems.append("no metric at all")
    known_labels = set(SCRAPE_LABELS)
    for name in scan.metrics & set(allowed):
        known_labels.update(allowed[name].labels)
    for label in sorted(scan.grouping - known_labels):
        problems.append(f"groups by unknown label {label!r}")
    for matcher in scan.matchers:
        metric = allowed.get(matcher.metric)
        if metric is None:
            continue
        if matcher.label not in metric.labels and matcher.label not in SCRAPE_LABELS:
            problems.append(f"{matcher.metric} has no label {matcher.label!r}")
            continue
        values = metric.labels.get(matcher.label, _ANY)
        if not values or "$" in matcher.value:
            continue
        if matcher.op in ("=", "!="):
            wanted = {matcher.value}
        elif re.fullmatch(r"[A-Za-z0-9_|]+", matcher.value):
            wanted = set(matcher.value.split("|"))
        else:
            continue
        for value in sorted(wanted - values):
            problems.append(f"{matcher.metric}{{{matcher.label}}} has no value {value!r}")
    return problems
