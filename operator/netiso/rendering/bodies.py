"""Rendering planned policies into NetworkPolicy bodies, and the content hash drift checks use.

Rendering layer, pure. Templates own the spec; this module owns identity (apiVersion, kind,
name, namespace, labels, annotations) and `policy_hash`, which the cluster layer applies to live
objects to tell whether anybody changed what netiso wrote.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import jinja2
import jinja2.nodes
import yaml

from netiso import conventions
from netiso.model.apiendpoints import ApiServerEndpoints
from netiso.model.fields import json_type
from netiso.model.namespaces import NamespaceFacts
from netiso.model.planning import PlannedPolicy, plan_policies
from netiso.model.profiles import Profile
from netiso.rendering.environment import templates_dir_of
from netiso.rendering.shapes import spec_problems

NETWORK_POLICY_API_VERSION: Final = "networking.k8s.io/v1"
NETWORK_POLICY_KIND: Final = "NetworkPolicy"
# The metadata that is part of a policy's identity and therefore of its hash; everything else
# in metadata (uid, resourceVersion, managedFields, other people's labels) is ignored.
HASHED_LABELS: Final = (
    conventions.MANAGED_BY_LABEL,
    conventions.PROFILE_LABEL,
    conventions.POLICY_ROLE_LABEL,
)
HASHED_ANNOTATIONS: Final = (conventions.OWNER_ANNOTATION, conventions.REASON_ANNOTATION)
HASH_LENGTH: Final = 16


class RenderError(ValueError):
    """A template could not produce a valid NetworkPolicy spec.

    The message reads `<template file>: <reason>`; `template` and `reason` hold the parts.
    """

    def __init__(self, template: str, reason: str) -> None:
        self.template = template
        self.reason = reason
        super().__init__(f"{template}: {reason}")


@dataclass(frozen=True)
class RenderedPolicy:
    """One NetworkPolicy ready to apply: `body` is the full object, `spec_hash` its hash.

    `body["metadata"]["annotations"]` carries `spec_hash` under the spec-hash annotation.
    `body["spec"]` may be shared with the renderings of other namespaces: read it, never
    change it (copy the body first, as a write does).
    """

    role: str
    name: str
    namespace: str
    body: dict[str, Any] = field(hash=False)
    spec_hash: str


def render_policies(
    env: jinja2.Environment,
    profile: Profile,
    namespace: NamespaceFacts,
    *,
    api_server: ApiServerEndpoints | None = None,
) -> tuple[RenderedPolicy, ...]:
    """Render every policy plan_policies() wants in `namespace`, in plan order; the API server
    allow admits the `api_server` endpoints (None: none known, it admits nothing).

    Raises RenderError on the first template that fails; nothing is partially returned.
    The three parameters stay positional (an exception to the keyword-only rule): this is the
    published interface the reconciler was written against, and the types tell them apart.
    """
    return tuple(
        render_policy(env, planned=planned, profile=profile, namespace=namespace.name)
        for planned in plan_policies(profile, namespace, api_server=api_server)
    )


def render_policy(
    env: jinja2.Environment, *, planned: PlannedPolicy, profile: Profile, namespace: str
) -> RenderedPolicy:
    """Render one planned policy: the template's spec inside netiso's identity metadata.

    The spec and the hash depend on the namespace only when the template uses it: for the
    shipped templates every namespace of a profile generation shares one rendering, so a
    fan-out to 10,000 namespaces renders each template once (see `_shared`).
    """
    spec, spec_hash = _shared(env, planned=planned, profile=profile)
    body = _identified(planned=planned, profile=profile, namespace=namespace, spec=spec)
    body["metadata"]["annotations"][conventions.SPEC_HASH_ANNOTATION] = spec_hash
    return RenderedPolicy(
        role=planned.role,
        name=planned.name,
        namespace=namespace,
        body=body,
        spec_hash=spec_hash,
    )


def _identified(
    *, planned: PlannedPolicy, profile: Profile, namespace: str, spec: dict[str, Any]
) -> dict[str, Any]:
    """The whole object: netiso's identity metadata around `spec`."""
    return {
        "apiVersion": NETWORK_POLICY_API_VERSION,
        "kind": NETWORK_POLICY_KIND,
        "metadata": {
            "name": planned.name,
            "namespace": namespace,
            "labels": {
                conventions.MANAGED_BY_LABEL: conventions.MANAGED_BY_VALUE,
                conventions.PROFILE_LABEL: profile.name,
                conventions.POLICY_ROLE_LABEL: planned.role,
            },
            "annotations": {
                conventions.OWNER_ANNOTATION: profile.owner,
                conventions.REASON_ANNOTATION: profile.reason,
            },
        },
        "spec": spec,
    }


# Renderings shared by the namespaces of a profile generation live on the environment they
# came from (jinja2's Environment.extend), so they go with it and never mix template sets.
_RENDERINGS_ATTRIBUTE: Final = "netiso_renderings"
_MAX_RENDERINGS: Final = 4096


@dataclass
class _Renderings:
    """(profile id, template, namespace or "", cluster fact) -> (that profile, spec, hash); per
    template, whether it reads `namespace`. The profile is kept so a recycled id() can never
    return another profile's rendering; a profile generation is parsed once, so its identity
    is stable for as long as the operator uses it."""

    specs: dict[tuple[int, str, str, Hashable], tuple[Profile, dict[str, Any], str]] = field(
        default_factory=dict
    )
    uses_namespace: dict[str, bool] = field(default_factory=dict)


def _renderings(env: jinja2.Environment) -> _Renderings:
    cache = getattr(env, _RENDERINGS_ATTRIBUTE, None)
    if not isinstance(cache, _Renderings):
        cache = _Renderings()
        env.extend(**{_RENDERINGS_ATTRIBUTE: cache})
    return cache


def _shared(
    env: jinja2.Environment, *, planned: PlannedPolicy, profile: Profile
) -> tuple[dict[str, Any], str]:
    """The spec and content hash of `planned`, rendered once per profile and template."""
    cache = _renderings(env)
    namespace = str(planned.context.get("namespace", ""))
    uses = cache.uses_namespace.get(planned.template)
    if uses is None:
        uses = cache.uses_namespace[planned.template] = _uses_namespace(env, planned.template)
    key = (id(profile), planned.template, namespace if uses else "", planned.depends_on)
    cached = cache.specs.get(key)
    if cached is not None and cached[0] is profile:
        return cached[1], cached[2]
    spec = render_spec(env, planned)
    identity = _identified(planned=planned, profile=profile, namespace=namespace, spec=spec)
    spec_hash = policy_hash(identity)
    if len(cache.specs) >= _MAX_RENDERINGS:
        cache.specs.clear()
    cache.specs[key] = (profile, spec, spec_hash)
    return spec, spec_hash


def _uses_namespace(env: jinja2.Environment, template: str) -> bool:
    """Whether the template reads the `namespace` variable (then each namespace renders)."""
    # Any mention counts: `namespace` is also a Jinja global, so find_undeclared_variables
    # would not report it even where the render context's value is what the template reads.
    try:
        source = env.loader.get_source(env, template)[0] if env.loader else ""
        names = env.parse(source).find_all(jinja2.nodes.Name)
        return any(node.name == "namespace" for node in names)
    except jinja2.TemplateError:
        return True  # render_spec reports the problem; never share a broken rendering


def render_spec(env: jinja2.Environment, planned: PlannedPolicy) -> dict[str, Any]:
    """Render one template to a checked NetworkPolicy spec; RenderError says what went wrong."""
    name = planned.template
    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound:
        raise RenderError(name, f"template not found in {templates_dir_of(env)}") from None
    except jinja2.TemplateSyntaxError as error:
        raise RenderError(
            name, f"template syntax error at line {error.lineno}: {error.message}"
        ) from None
    try:
        text = template.render(dict(planned.context))
    except jinja2.UndefinedError as error:
        raise RenderError(name, f"undefined variable: {error.message}") from None
    except jinja2.TemplateError as error:
        raise RenderError(name, f"cannot render: {error}") from None
    except Exception as error:
        # Templates are user-replaceable code: a filter or expression can raise anything
        # (TypeError from tojson on an odd value, ZeroDivisionError, ...). It is their bug.
        raise RenderError(name, f"cannot render: {type(error).__name__}: {error}") from None
    spec: dict[str, Any] = json.loads(_checked_spec(name, text))
    return spec


# libyaml's parser when PyYAML was built with it: the pure-Python one dominated reconcile time.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=4096)
def _checked_spec(name: str, text: str) -> str:
    """Parse and check one rendered template; the result as JSON text, cached by input.

    Every namespace of a profile renders the same text for a role, so parsing and checking
    happen once per distinct text; callers get a fresh dict each time from json.loads.
    Failures raise and are not cached.
    """
    try:
        documents = [doc for doc in yaml.load_all(text, Loader=_SAFE_LOADER) if doc is not None]
    except yaml.YAMLError:
        # Re-parse with the pure-Python loader for the error: its wording does not depend on
        # whether PyYAML was built with libyaml, and errors are rare enough not to matter.
        try:
            list(yaml.safe_load_all(text))
        except yaml.YAMLError as error:
            raise RenderError(name, f"rendered invalid YAML: {_yaml_reason(error)}") from None
        raise RenderError(name, "rendered invalid YAML") from None
    if len(documents) != 1:
        raise RenderError(name, f"must render exactly one YAML document, got {len(documents)}")
    spec = documents[0]
    if not isinstance(spec, dict):
        raise RenderError(
            name, f"must render a mapping (the NetworkPolicy spec), got {json_type(spec)}"
        )
    if problems := spec_problems(spec):
        raise RenderError(
            name,
            "not a valid NetworkPolicy spec: " + "; ".join(str(problem) for problem in problems),
        )
    return json.dumps(spec)


def policy_hash(body: Mapping[str, Any]) -> str:
    """The content hash of a NetworkPolicy: spec plus identity labels and owner/reason.

    Works on rendered bodies and on live objects from the API server alike: the spec is
    normalised the way the server stores it (keys with None or [] values dropped, empty dicts
    kept because `{}` means "all"), and only netiso's identity labels and annotations count.
    So `policy_hash(live) == live's spec-hash annotation` exactly when nobody changed it.
    """
    metadata = body.get("metadata") or {}
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    canonical = {
        "spec": _normalized(body.get("spec") or {}),
        "labels": {key: labels.get(key) for key in HASHED_LABELS},
        "annotations": {key: annotations.get(key) for key in HASHED_ANNOTATIONS},
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def _normalized(value: Any) -> Any:
    # Exact type checks first: JSON from the API server is dicts, lists and scalars, and the
    # ABC check behind isinstance(x, Mapping) was a third of the cost of hashing a policy.
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {
            key: _normalized(item) for key, item in value.items() if item is not None and item != []
        }
    if kind is list or kind is tuple:
        return [_normalized(item) for item in value]
    return value


def _yaml_reason(error: yaml.YAMLError) -> str:
    """A one-line reason with the rendered line, as PyYAML's own message spans lines."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{error.problem or error.context}{where}"
    return str(error).replace("\n", " ")
