"""Dependency tracking: what a profile depends on in the cluster, kept in step by watches.

Tracking layer, beside reconciling and probing: tracker (the watches of the DNS, gateway and
monitoring namespaces, the DependenciesResolved verdict per profile, its metric and Events).
`netiso doctor` runs the same checks once, from a listing.
"""
