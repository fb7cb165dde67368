"""netiso: keeps opted-in namespaces behind a default-deny NetworkPolicy baseline.

The package is layered (see .importlinter): handlers adapt Kopf, reconciling runs the pipeline,
reporting/cluster/rendering/model are the services beneath it.
"""

__version__ = "0.1.0"
