"""What the cluster holds, as pure values: the view, drifts, foreign policies, records.

No I/O: the runtime feeds these values from listings and watch events, the reconciler and the
CLI read them.
"""
