"""Leader election by Lease, the fence on every write, and sharding of the namespaces.

The pure decisions about a Lease are in model/leases.py; the Lease reads and writes in
runtime/leasing.py.
"""
