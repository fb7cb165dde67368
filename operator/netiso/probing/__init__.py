"""The enforcement probe: real connections that prove the network plugin enforces a profile.

Probing layer, beside reconciling: podspecs (pure pod bodies and checks), rounds (one round
through the API), prober (the operator's per-profile schedule). `netiso probe` runs a round.
"""
