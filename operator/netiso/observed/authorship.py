"""Evidence that netiso wrote a policy: a keyed signature bound to namespace, name and content.

Observed layer, pure (HMAC over values; the key is read at startup, by runtime/keys.py). The
signature covers the namespace, the policy name and the spec hash netiso recorded, so it proves
nothing for a copy in another namespace or under another name, and nobody without the key can
make one; a new process with the same key checks it without any memory of the writer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Final

from netiso import conventions
from netiso.rendering.bodies import RenderedPolicy

# The scheme's version, first in what is signed and in the annotation: a later scheme can be
# told apart (and refused) instead of misread.
SCHEME: Final = "v1"
MINIMUM_KEY_BYTES: Final = 16


@dataclass(frozen=True)
class Signer:
    """Signs and checks netiso's policies with one secret key (never shown in its repr)."""

    key: bytes = field(repr=False)

    def sign(self, *, namespace: str, name: str, spec_hash: str) -> str:
        """The signature annotation's value for a policy netiso writes."""
        message = "\0".join((SCHEME, namespace, name, spec_hash)).encode("utf-8")
        digest = hmac.new(self.key, message, hashlib.sha256).hexdigest()
        return f"{SCHEME}:{digest}"

    def verifies(self, *, namespace: str, name: str, spec_hash: str, signature: str) -> bool:
        """True when `signature` is this key's for exactly this namespace, name and hash."""
        if not signature or not spec_hash:
            return False
        expected = self.sign(namespace=namespace, name=name, spec_hash=spec_hash)
        return hmac.compare_digest(expected.encode("utf-8"), signature.encode("utf-8"))

    def signed(self, policy: RenderedPolicy) -> RenderedPolicy:
        """`policy` with its signature annotation (a new body; the shared spec is not copied)."""
        metadata = policy.body["metadata"]
        signature = self.sign(
            namespace=policy.namespace, name=policy.name, spec_hash=policy.spec_hash
        )
        annotations = {**metadata["annotations"], conventions.SIGNATURE_ANNOTATION: signature}
        body = {**policy.body, "metadata": {**metadata, "annotations": annotations}}
        return dataclasses.replace(policy, body=body)
