"""A real Kubernetes control plane on 127.0.0.1 for tests and local runs; knows nothing of netiso.

binaries.ensure_binaries() builds kube-apiserver, kube-controller-manager, kubectl and etcd from
the Go module proxy (cached); controlplane.ControlPlane runs them; commands holds
`netiso cluster up|down|env|status`. Import the submodules directly: this package imports
nothing, so `python -m netiso_devkit.localcluster.binaries` and the CLI stay cheap.
"""
