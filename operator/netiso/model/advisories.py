"""Advice on legal profiles: settings that are probably mistakes, with the field to look at.

Model layer, pure. Warnings never block: the operator reports them and `netiso validate`
prints them. Listed exceptions past their expiry are advised on apart, given the time.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime

from netiso.model.problems import Problem
from netiso.model.profiles import Profile


def profile_warnings(profile: Profile) -> tuple[Problem, ...]:
    """Legal settings that are probably mistakes, as Problems with the field path to look at.

    Warnings never block: the operator reports them (Events, status) and the CLI prints them.
    """
    warnings: list[Problem] = []
    deny = profile.default_deny
    if not deny.ingress and not deny.egress:
        warnings.append(
            Problem(
                "spec.defaultDeny",
                "neither ingress nor egress is denied: netiso creates no policies",
            )
        )
    if deny.egress and not profile.dns.enabled:
        warnings.append(
            Problem(
                "spec.dns.enabled",
                "egress is denied and DNS is disabled: pods cannot resolve names",
            )
        )
    if (deny.ingress or deny.egress) and not (
        profile.dns.enabled or profile.gateway.enabled or profile.monitoring.enabled
    ):
        warnings.append(Problem("spec", "every allow is disabled: the namespace is fully isolated"))
    if profile.dns.node_local_cache.enabled and not profile.dns.enabled:
        warnings.append(
            Problem(
                "spec.dns.nodeLocalCache.enabled",
                "has no effect while spec.dns.enabled is false",
            )
        )
    for part, enabled in (
        ("gateway", profile.gateway.enabled),
        ("monitoring", profile.monitoring.enabled),
    ):
        if enabled and not deny.ingress:
            warnings.append(
                Problem(
                    f"spec.{part}.enabled",
                    "has no effect while spec.defaultDeny.ingress is false: "
                    "ingress is not denied, so nothing needs allowing",
                )
            )
    warnings.extend(_broad_peer_warnings(profile))
    return tuple(warnings)


def _broad_peer_warnings(profile: Profile) -> list[Problem]:
    """Allows that admit more than their part needs: every pod of a peer namespace, or a
    node-local DNS address that is a whole range."""
    warnings: list[Problem] = []
    peers = (
        ("gateway", "gateway", profile.gateway.enabled, profile.gateway.pod_selector is None),
        ("monitoring", "scraper", profile.monitoring.enabled, profile.monitoring.all_pods),
    )
    for part, who, enabled, every_pod in peers:
        if enabled and every_pod:
            warnings.append(
                Problem(
                    f"spec.{part}.podSelector",
                    f"absent or allPods: every pod of the {part} namespaces is admitted, not "
                    f"only the {who}; name its pods to admit only them",
                )
            )
    cache = profile.dns.node_local_cache
    if profile.dns.enabled and cache.enabled and "/" in cache.address:
        network = ipaddress.ip_network(cache.address, strict=False)
        if network.num_addresses > 1:
            warnings.append(
                Problem(
                    "spec.dns.nodeLocalCache.address",
                    f"is a range of {network.num_addresses} addresses: every pod may send DNS "
                    "traffic to all of them; the node-local cache listens on one address",
                )
            )
    return warnings


def expired_exception_warnings(profile: Profile, *, now: datetime) -> tuple[Problem, ...]:
    """A warning per `spec.guardrails.exceptions[]` entry expired at `now` (from its expiry
    on, as the operator and `netiso check` judge it), naming the entry and its expiry.

    Apart from profile_warnings because it depends on the clock: a profile valid yesterday
    warns today, and nothing else changed.
    """
    return tuple(
        Problem(
            f"spec.guardrails.exceptions[{index}].expires",
            f"the exception for {grant.namespace}/{grant.policy} expired {grant.expiry()}: "
            "the operator and netiso check no longer honour it, admission still does until "
            "the entry is removed",
        )
        for index, grant in enumerate(profile.guardrails.exceptions)
        if grant.expired(now)
    )
