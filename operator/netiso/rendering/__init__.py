"""Rendering: Jinja templates -> NetworkPolicy bodies with netiso's identity and content hash.

Rendering layer, pure: may import the model, never the cluster, Kopf or an HTTP client.
Import each name from the module that holds it, so a user of one module never loads Jinja
for nothing.
"""
