"""A one-node Kubernetes dataplane beside the local control plane: real pods, real packets.

nodebuilds (kubelet, kube-scheduler, agnhost, pause: Go module proxy, cached), images (OCI
archives imported into containerd), nodeconfigs (pure: config files), kuberouter (the test-only
NetworkPolicy enforcer), sweeping (teardown), nodes.Dataplane (runs it all), probing (connections
from inside a pod's network namespace). Import the submodules directly; this one imports nothing.
"""
