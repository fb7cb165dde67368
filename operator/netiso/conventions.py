"""Names netiso shares with the cluster: API group, labels, annotations, field manager.

Defined once here and imported everywhere else; the bottom layer, importing nothing of netiso.
"""

from typing import Final

GROUP: Final = "netiso.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "IsolationProfile"
PLURAL: Final = "isolationprofiles"
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

FIELD_MANAGER: Final = "netiso"
# The operator's identity as manifests/ installs it (ServiceAccount netiso-operator in
# netiso-system); admission lets only this user write the policies netiso manages.
OPERATOR_USER: Final = "system:serviceaccount:netiso-system:netiso-operator"

# Label a namespace owner sets to opt in; its value names the IsolationProfile.
PROFILE_LABEL: Final = f"{GROUP}/profile"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "netiso"
# Set by the API server on every namespace; cannot be spoofed by namespace owners.
NAMESPACE_NAME_LABEL: Final = "kubernetes.io/metadata.name"

SPEC_HASH_ANNOTATION: Final = f"{GROUP}/spec-hash"
# netiso's keyed signature over namespace, name and spec hash: evidence that netiso wrote it.
SIGNATURE_ANNOTATION: Final = f"{GROUP}/signature"
OWNER_ANNOTATION: Final = f"{GROUP}/owner"
REASON_ANNOTATION: Final = f"{GROUP}/reason"
POLICY_ROLE_LABEL: Final = f"{GROUP}/policy"
# On a namespace owner's NetworkPolicy: why it may break the profile's guardrails (a ticket).
EXCEPTION_ANNOTATION: Final = f"{GROUP}/exception"

POLICY_NAME_PREFIX: Final = "netiso-"

# Namespaces that are never isolated, whatever their labels say.
ALWAYS_PROTECTED_NAMESPACES: Final = frozenset({"kube-system", "kube-public", "kube-node-lease"})

EVENT_SOURCE: Final = "netiso"
