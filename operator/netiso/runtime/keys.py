"""Reading the key netiso signs its policies with (observed/authorship.py), once, at startup.

Cluster layer: the only file read for authorship. The key is a file mounted into the pod from
a Secret the operator itself has no RBAC to read; no file (an optional volume left empty) means
no signatures and the weaker evidence of earlier releases, said in a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

from netiso.observed.authorship import MINIMUM_KEY_BYTES, Signer

log = logging.getLogger(__name__)


class SigningKeyError(ValueError):
    """The key file exists but cannot serve as a key."""


def load_signer(path: Path | None) -> Signer | None:
    """The signer for the key in `path`; None (with a warning) when there is no file.

    Surrounding whitespace is not part of the key (`kubectl create secret --from-literal` and
    editors add a newline). Raises SigningKeyError for an unreadable or too short key.
    """
    if path is None:
        log.warning(
            "no signing key (NETISO_SIGNING_KEY_FILE): netiso's policies are not signed, and "
            "only what this process wrote is proven netiso's beyond content anyone can copy"
        )
        return None
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        log.warning(
            "no signing key at %s (NETISO_SIGNING_KEY_FILE): netiso's policies are not signed; "
            "create the Secret netiso-signing-key (docs/install.md) and restart",
            path,
        )
        return None
    except OSError as exc:
        raise SigningKeyError(f"NETISO_SIGNING_KEY_FILE: cannot read {path}: {exc}") from exc
    if len(key) < MINIMUM_KEY_BYTES:
        raise SigningKeyError(
            f"NETISO_SIGNING_KEY_FILE: {path} holds {len(key)} bytes; a key needs at least "
            f"{MINIMUM_KEY_BYTES}"
        )
    return Signer(key=key)
