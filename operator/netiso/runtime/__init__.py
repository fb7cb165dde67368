"""The controller runtime: the only package that talks to the API server.

The HTTP client and its credentials, reads, writes, watches, the coalescing work queue, the
Event poster, the status patch and the /metrics endpoint: the machinery under the reconciler,
the admission keeper and the elector. docs/architecture.md says why netiso has its own.
"""
