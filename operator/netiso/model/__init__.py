"""The pure model: validated profiles, namespace facts, label selection, the desired policy set.

Model layer, the lowest above settings/conventions: no I/O, no Kubernetes client, no rendering.
Import each name from the module that holds it: importing this package costs nothing more.
"""
