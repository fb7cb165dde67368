"""Kopf adapters: the only package that imports kopf.

Handlers turn Kopf kwargs and indexes into model values and hand work to the reconciling layer.
On Namespaces and NetworkPolicies only index and event handlers are used, so netiso never
writes to those objects; timers, finalizers and status live on the IsolationProfile.
"""
