"""The pure model: validated profiles, namespace facts, label selection, the desired policy set.

Model layer, the lowest above settings/conventions: no I/O, no Kubernetes client, no rendering.
The names most callers need are re-exported here; each lives in the module named beside it.
"""

from netiso.model.advisories import profile_warnings
from netiso.model.namespaces import NamespaceFacts
from netiso.model.planning import (
    DEFAULT_DENY_ROLE,
    DNS_EGRESS_ROLE,
    GATEWAY_INGRESS_ROLE,
    MONITORING_SCRAPE_ROLE,
    ROLES,
    PlannedPolicy,
    plan_policies,
    policy_name,
)
from netiso.model.problems import Problem, ProfileError
from netiso.model.profiles import DriftAction, Mode, OnDelete, Profile
from netiso.model.selection import LabelSelector
from netiso.model.specs import parse_profile

__all__ = [
    "DEFAULT_DENY_ROLE",
    "DNS_EGRESS_ROLE",
    "GATEWAY_INGRESS_ROLE",
    "MONITORING_SCRAPE_ROLE",
    "ROLES",
    "DriftAction",
    "LabelSelector",
    "Mode",
    "NamespaceFacts",
    "OnDelete",
    "PlannedPolicy",
    "Problem",
    "Profile",
    "ProfileError",
    "parse_profile",
    "plan_policies",
    "policy_name",
    "profile_warnings",
]
