"""Rendering: Jinja templates -> NetworkPolicy bodies with netiso's identity and content hash.

Rendering layer, pure: may import the model, never the cluster, Kopf or an HTTP client.
The names most callers need are re-exported here; each lives in the module named beside it.
"""

from netiso.rendering.environment import make_environment, shipped_templates_dir
from netiso.rendering.policies import RenderedPolicy, RenderError, policy_hash, render_policies

__all__ = [
    "RenderError",
    "RenderedPolicy",
    "make_environment",
    "policy_hash",
    "render_policies",
    "shipped_templates_dir",
]
