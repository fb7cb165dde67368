"""Kopf adapters: the only package that imports kopf.

Kopf runs the operator's lifecycle (startup, cleanup) and follows the IsolationProfiles: their
events, the periodic resync timer and the finalizer. Namespaces and NetworkPolicies are not
Kopf's: the reconciler follows them with plain watches of its own (runtime/watching.py), which
cost a fraction of Kopf's per-event machinery and never write to those objects.
"""
