"""netiso benchmarks against a real API server: `python -m bench --help`.

Not part of the operator package: the suite drives a local control plane (or any cluster) and
the operator as a subprocess, and measures what users and the API server see. See README.md.
"""
