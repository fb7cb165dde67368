"""Reading an IsolationProfile object into a Profile: every field, every problem, one pass.

Model layer, pure. `parse_profile` validates the CR body once, collecting each Problem with
its field path; SPEC_FIELDS lists every field it accepts (the CRD schema test walks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from netiso import conventions
from netiso.model.endpoints import PORT_FIELDS, address_problem, parse_ports
from netiso.model.enforcement import ENFORCEMENT_PROBE_FIELDS, parse_enforcement_probe
from netiso.model.fields import FieldTree, ObjectReader, items_of, json_type, shown
from netiso.model.limits import GUARDRAILS_FIELDS, parse_guardrails
from netiso.model.names import (
    DNS1123_LABEL_RULE,
    LABEL_VALUE_MAX,
    dns1123_label_problem,
    dns1123_subdomain_problem,
)
from netiso.model.problems import Problem, ProfileError
from netiso.model.profiles import (
    DEFAULT_DNS_NAMESPACE,
    DEFAULT_DNS_POD_SELECTOR,
    DEFAULT_DNS_PORTS,
    DEFAULT_MONITORING_POD_SELECTOR,
    DEFAULT_NODE_LOCAL_ADDRESS,
    MAX_NAMESPACES,
    MAX_OWNER_LENGTH,
    MAX_REASON_LENGTH,
    ApiServer,
    DefaultDeny,
    Dns,
    DriftAction,
    Gateway,
    Mode,
    Monitoring,
    NodeLocalCache,
    OnDelete,
    Profile,
    unsafe_text_problem,
)
from netiso.model.selection import SELECTOR_FIELDS, LabelSelector, parse_label_selector

# Every field parse_profile() accepts, by object. The CRD schema test walks SPEC_FIELDS.
DEFAULT_DENY_FIELDS: Final[FieldTree] = {"ingress": {}, "egress": {}}
NODE_LOCAL_CACHE_FIELDS: Final[FieldTree] = {"enabled": {}, "address": {}}
DNS_FIELDS: Final[FieldTree] = {
    "enabled": {},
    "namespace": {},
    "allPods": {},
    "podSelector": SELECTOR_FIELDS,
    "ports": PORT_FIELDS,
    "nodeLocalCache": NODE_LOCAL_CACHE_FIELDS,
}
PEERS_FIELDS: Final[FieldTree] = {
    "enabled": {},
    "namespaces": {},
    "allPods": {},
    "podSelector": SELECTOR_FIELDS,
    "targetPodSelector": SELECTOR_FIELDS,
    "ports": PORT_FIELDS,
}
API_SERVER_FIELDS: Final[FieldTree] = {"enabled": {}, "allPods": {}, "podSelector": SELECTOR_FIELDS}
SPEC_FIELDS: Final[FieldTree] = {
    "mode": {},
    "driftAction": {},
    "onDelete": {},
    "owner": {},
    "reason": {},
    "defaultDeny": DEFAULT_DENY_FIELDS,
    "dns": DNS_FIELDS,
    "gateway": PEERS_FIELDS,
    "monitoring": PEERS_FIELDS,
    "apiServer": API_SERVER_FIELDS,
    "guardrails": GUARDRAILS_FIELDS,
    "enforcementProbe": ENFORCEMENT_PROBE_FIELDS,
}
# Top-level fields of the object; metadata is read leniently (the server adds many fields).
OBJECT_FIELDS: Final[FieldTree] = {
    "apiVersion": {},
    "kind": {},
    "metadata": {},
    "spec": SPEC_FIELDS,
    "status": {},
}


def parse_profile(body: Mapping[str, Any]) -> Profile:
    """Validate a whole IsolationProfile object (as from the API server or a YAML file).

    Raises ProfileError listing every problem found, not just the first. Absent and null
    fields take the CRD's defaults; unknown spec fields are rejected; `status` is ignored.
    """
    if not isinstance(body, Mapping):
        raise ProfileError([Problem("", f"must be an object, got {json_type(body)}")])
    # Another kind of object (a Kustomization in the same file, say): its fields mean nothing
    # to us, so say only that.
    identity = [
        problem
        for key, expected in (("apiVersion", conventions.API_VERSION), ("kind", conventions.KIND))
        if (problem := _identity_problem(body, key=key, expected=expected))
    ]
    if identity:
        raise ProfileError(identity)
    problems: list[Problem] = []
    top = ObjectReader(body, path="", fields=OBJECT_FIELDS, problems=problems)
    name, uid, generation = _parse_metadata(top.get("metadata"), problems=problems)
    spec = ObjectReader(top.get("spec"), path="spec", fields=SPEC_FIELDS, problems=problems)
    profile = Profile(
        name=name,
        uid=uid,
        generation=generation,
        mode=spec.choice("mode", Mode, default=Mode.ENFORCE),
        drift_action=spec.choice("driftAction", DriftAction, default=DriftAction.REPAIR),
        on_delete=spec.choice("onDelete", OnDelete, default=OnDelete.ORPHAN),
        owner=_parse_text(spec, "owner", max_length=MAX_OWNER_LENGTH),
        reason=_parse_text(spec, "reason", max_length=MAX_REASON_LENGTH),
        default_deny=_parse_default_deny(spec),
        dns=_parse_dns(spec),
        gateway=_parse_gateway(spec),
        monitoring=_parse_monitoring(spec),
        api_server=_parse_api_server(spec),
        guardrails=parse_guardrails(spec.child("guardrails", GUARDRAILS_FIELDS)),
        enforcement_probe=parse_enforcement_probe(
            spec.child("enforcementProbe", ENFORCEMENT_PROBE_FIELDS)
        ),
    )
    if problems:
        raise ProfileError(problems)
    return profile


def _parse_text(spec: ObjectReader, key: str, *, max_length: int) -> str:
    """A free-text field stamped on every policy as an annotation: printable characters only."""
    value = spec.string(key, default="", max_length=max_length)
    if problem := unsafe_text_problem(value):
        spec.problem(key, problem)
    return value


def _identity_problem(body: Mapping[str, Any], *, key: str, expected: str) -> Problem | None:
    value = body.get(key)
    if value is None:
        return Problem(key, f"required, must be {expected}")
    if value != expected:
        return Problem(key, f"must be {expected}, got {shown(value)}")
    return None


def _parse_metadata(raw: object, *, problems: list[Problem]) -> tuple[str, str, int]:
    if raw is None:
        problems.append(Problem("metadata.name", "required"))
        return "", "", 0
    if not isinstance(raw, Mapping):
        problems.append(Problem("metadata", f"must be an object, got {json_type(raw)}"))
        return "", "", 0
    name = raw.get("name")
    if name is None:
        problems.append(Problem("metadata.name", "required"))
        name = ""
    elif not isinstance(name, str):
        problems.append(Problem("metadata.name", f"must be a string, got {json_type(name)}"))
        name = ""
    elif problem := dns1123_subdomain_problem(name):
        problems.append(Problem("metadata.name", f"{problem}, got {shown(name)}"))
    elif len(name) > LABEL_VALUE_MAX:
        # Namespaces name their profile in a label, whose values are at most 63 characters.
        problems.append(
            Problem(
                "metadata.name",
                f"must be at most {LABEL_VALUE_MAX} characters (it is used as a label value), "
                f"got {len(name)}",
            )
        )
    uid = raw.get("uid")
    generation = raw.get("generation")
    return (
        name,
        uid if isinstance(uid, str) else "",
        generation if isinstance(generation, int) and not isinstance(generation, bool) else 0,
    )


def _parse_default_deny(spec: ObjectReader) -> DefaultDeny:
    reader = spec.child("defaultDeny", DEFAULT_DENY_FIELDS)
    return DefaultDeny(
        ingress=reader.boolean("ingress", default=True),
        egress=reader.boolean("egress", default=True),
    )


def _parse_dns(spec: ObjectReader) -> Dns:
    reader = spec.child("dns", DNS_FIELDS)
    enabled = reader.boolean("enabled", default=True)
    namespace = _parse_namespace_name(reader, "namespace", default=DEFAULT_DNS_NAMESPACE)
    given = _given_selector(reader)
    all_pods = _all_pods(reader, part="dns", enabled=enabled, given=given)
    pod_selector = LabelSelector() if all_pods else (given or DEFAULT_DNS_POD_SELECTOR)
    ports = parse_ports(reader, default=DEFAULT_DNS_PORTS, part="dns", enabled=enabled)
    cache = reader.child("nodeLocalCache", NODE_LOCAL_CACHE_FIELDS)
    cache_enabled = cache.boolean("enabled", default=False)
    address = cache.string("address", default=DEFAULT_NODE_LOCAL_ADDRESS, max_length=64)
    problem = address_problem(address) if isinstance(cache.get("address"), str) else None
    if problem:
        cache.problem("address", problem)
        address = DEFAULT_NODE_LOCAL_ADDRESS
    return Dns(
        enabled=enabled,
        namespace=namespace,
        pod_selector=pod_selector,
        all_pods=all_pods,
        ports=ports,
        node_local_cache=NodeLocalCache(enabled=cache_enabled, address=address),
    )


def _parse_gateway(spec: ObjectReader) -> Gateway:
    reader = spec.child("gateway", PEERS_FIELDS)
    enabled = reader.boolean("enabled", default=False)
    namespaces = _parse_peer_namespaces(reader, part="gateway", enabled=enabled)
    pod_selector = _given_selector(reader)
    all_pods = _all_pods(reader, part="gateway", enabled=enabled, given=pod_selector)
    target = _parse_target(reader, part="gateway", enabled=enabled)
    ports = parse_ports(reader, default=(), part="gateway", enabled=enabled)
    return Gateway(
        enabled=enabled,
        namespaces=namespaces,
        pod_selector=None if all_pods else pod_selector,
        all_pods=all_pods,
        target_pod_selector=target,
        ports=ports,
    )


def _parse_monitoring(spec: ObjectReader) -> Monitoring:
    reader = spec.child("monitoring", PEERS_FIELDS)
    enabled = reader.boolean("enabled", default=False)
    namespaces = _parse_peer_namespaces(reader, part="monitoring", enabled=enabled)
    pod_selector = _given_selector(reader)
    all_pods = _all_pods(reader, part="monitoring", enabled=enabled, given=pod_selector)
    target = _parse_target(reader, part="monitoring", enabled=enabled)
    ports = parse_ports(reader, default=(), part="monitoring", enabled=enabled)
    return Monitoring(
        enabled=enabled,
        namespaces=namespaces,
        pod_selector=(
            LabelSelector() if all_pods else (pod_selector or DEFAULT_MONITORING_POD_SELECTOR)
        ),
        all_pods=all_pods,
        target_pod_selector=target,
        ports=ports,
    )


def _parse_api_server(spec: ObjectReader) -> ApiServer:
    """Read `apiServer`: the pods that may reach the API server must be named, or every pod
    asked for with `allPods: true` (fail closed, as for the gateway: an absent or empty
    selector never grants a namespace's every pod access to the API server)."""
    reader = spec.child("apiServer", API_SERVER_FIELDS)
    enabled = reader.boolean("enabled", default=False)
    given = _given_selector(reader)
    all_pods = _all_pods(reader, part="apiServer", enabled=enabled, given=given)
    if enabled and not all_pods and given is None:
        reader.problem(
            "podSelector",
            "is required while apiServer is enabled: name the pods that may reach the API "
            "server, or set apiServer.allPods: true to let every pod of the namespace reach it",
        )
    return ApiServer(enabled=enabled, pod_selector=None if all_pods else given, all_pods=all_pods)


def _given_selector(reader: ObjectReader) -> LabelSelector | None:
    """The part's `podSelector` as written, None when absent (its meaning is the part's)."""
    if not reader.has("podSelector"):
        return None
    return parse_label_selector(
        reader.get("podSelector"), path=reader.path_of("podSelector"), problems=reader.problems
    )


def _all_pods(
    reader: ObjectReader,
    *,
    part: str,
    enabled: bool,
    given: LabelSelector | None,
) -> bool:
    """Read `allPods` and check it against the peer's pod selector.

    An empty selector must be asked for: created without strict field validation,
    `podSelector: {matchLabel: ...}` (singular) reaches netiso as `{}`, and would admit every
    pod of the peer namespaces. An absent podSelector keeps its documented meaning (every pod
    of the gateway namespaces; the default selector of DNS and monitoring); `allPods: true`
    says "every pod" explicitly.
    """
    all_pods = reader.boolean("allPods", default=False)
    if all_pods and given is not None:
        reader.problem("allPods", f"contradicts {part}.podSelector; set one or the other")
    elif enabled and not all_pods and given is not None and _spelt_empty(reader, "podSelector"):
        reader.problem(
            "podSelector",
            f"is empty and selects every pod of {_scope(part)} (a misspelt field such as "
            f"matchLabel is dropped by the API server and leaves {{}}): name the pods, or set "
            f"{part}.allPods: true to admit them all on purpose",
        )
    return all_pods


def _scope(part: str) -> str:
    """Where a part's podSelector selects: the isolated namespace, or the part's namespaces."""
    return "the namespace" if part == "apiServer" else f"the {part} namespaces"


def _parse_target(reader: ObjectReader, *, part: str, enabled: bool) -> LabelSelector:
    """Read `targetPodSelector`: absent selects every pod of the isolated namespace, and an
    explicit empty selector is refused, since a misspelt field (`matchLabel`) pruned by the
    API server leaves `{}` and would open every pod where the profile meant a few."""
    if not reader.has("targetPodSelector"):
        return LabelSelector()
    target = parse_label_selector(
        reader.get("targetPodSelector"),
        path=reader.path_of("targetPodSelector"),
        problems=reader.problems,
    )
    if enabled and _spelt_empty(reader, "targetPodSelector"):
        reader.problem(
            "targetPodSelector",
            f"is empty and selects every pod of the namespace (a misspelt field such as "
            f"matchLabel is dropped by the API server and leaves {{}}): name the pods, or leave "
            f"{part}.targetPodSelector out to open {part} ingress to them all on purpose",
        )
    return target


def _spelt_empty(reader: ObjectReader, key: str) -> bool:
    """Whether a present selector names nothing, as the API server would store it (unknown
    fields pruned); a selector with invalid content was reported already, not as empty."""
    raw = reader.get(key)
    return (
        isinstance(raw, Mapping) and not raw.get("matchLabels") and not raw.get("matchExpressions")
    )


def _parse_namespace_name(reader: ObjectReader, key: str, *, default: str) -> str:
    value = reader.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        reader.problem(key, f"must be a string, got {json_type(value)}")
        return default
    if dns1123_label_problem(value):
        reader.problem(key, f"{DNS1123_LABEL_RULE}, got {shown(value)}")
        return default
    return value


def _parse_peer_namespaces(reader: ObjectReader, *, part: str, enabled: bool) -> tuple[str, ...]:
    path = reader.path_of("namespaces")
    raw_items = items_of(
        reader.get("namespaces"), path=path, problems=reader.problems, max_items=MAX_NAMESPACES
    )
    names: list[str] = []
    for index, item in enumerate(raw_items):
        item_path = f"{path}[{index}]"
        if not isinstance(item, str):
            reader.problems.append(Problem(item_path, f"must be a string, got {json_type(item)}"))
        elif dns1123_label_problem(item):
            reader.problems.append(Problem(item_path, f"{DNS1123_LABEL_RULE}, got {shown(item)}"))
        elif item in names:
            reader.problems.append(Problem(item_path, f"duplicate namespace {shown(item)}"))
        else:
            names.append(item)
    # A value of the wrong type was reported already; "empty" would only repeat it.
    if enabled and not raw_items and reader.get("namespaces") in (None, []):
        reader.problem("namespaces", f"must not be empty when {part} is enabled")
    return tuple(names)
