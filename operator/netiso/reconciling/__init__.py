"""The reconcile pipeline: decide (assessments), queue (queueing), remember unechoed writes
(overlays) and run it all (reconciler).

Reconciling layer, below the Kopf handlers and above reporting, cluster, rendering and model.
Import the submodules directly; this package imports nothing.
"""
