"""Writing kubeconfigs for the local control plane's users (certificates embedded inline).

Part of netiso_devkit.localcluster, which knows nothing of the operator.
"""

from __future__ import annotations

from base64 import b64encode
from pathlib import Path
from typing import Final

import yaml

from netiso_devkit.localcluster.certificates import KeyPair

CONTEXT_NAME: Final = "netiso-local"


def write_kubeconfig(
    path: Path, *, server: str, ca_certificate: Path, user: str, pair: KeyPair
) -> None:
    """Write a kubeconfig for `user` at `path`: one cluster and context, certificates inline."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT_NAME,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": _b64(ca_certificate),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(pair.certificate),
                    "client-key-data": _b64(pair.key),
                },
            }
        ],
        "contexts": [{"name": CONTEXT_NAME, "context": {"cluster": CONTEXT_NAME, "user": user}}],
        "current-context": CONTEXT_NAME,
        "preferences": {},
    }
    # The file embeds a private key: readable by its owner only, written atomically.
    scratch = path.with_suffix(".tmp")
    scratch.write_text(yaml.safe_dump(config, sort_keys=False))
    scratch.chmod(0o600)
    scratch.replace(path)


def _b64(path: Path) -> str:
    return b64encode(path.read_bytes()).decode("ascii")
