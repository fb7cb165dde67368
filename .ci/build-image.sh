#!/usr/bin/env bash
# Build the operator image on this machine, as root: the Debian base made by mmdebstrap (cached
# under ~/.cache/netiso), then the Dockerfile with buildah, tagged as the manifests name it and
# written as a docker-archive for `ctr images import`. An unchanged tree is not rebuilt.
# `--release` builds on the Dockerfile's pinned base instead (needs its registry).
# The work is done by the dev kit's netiso_devkit.operatorimage (docs/install.md).
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[[ -x $python ]] || python=python3
exec "$python" -m netiso_devkit.operatorimage.building "$@"
