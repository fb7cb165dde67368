"""The operator's container image, built on this machine with no registry: a Debian base made
by mmdebstrap (bases.py), the repository's Dockerfile built on it by buildah (building.py), and
a runc runner for checking the result (running.py). Part of the development kit, never shipped;
knows nothing of the operator's code, only its Dockerfile.
"""
