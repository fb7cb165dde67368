"""Reachability: what NetworkPolicies allow, computed from pods, namespaces and policies.

Pure core beside rendering: no cluster access, no Kopf, no output formats. `evaluation` answers
one connection with evidence (for `netiso explain`); `indexing` answers every pair at once (for
`netiso matrix`); both follow the networking.k8s.io/v1 API reference and are tested to agree.
"""
