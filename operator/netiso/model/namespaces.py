"""What netiso knows about a namespace: its name and labels, as one frozen value.

Model layer, pure. Handlers build NamespaceFacts from watch events; planning and rendering take
them as input and never look a namespace up themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from netiso import conventions


@dataclass(frozen=True)
class NamespaceFacts:
    """A namespace's name and labels; `labels` is read-only.

    `kubernetes.io/metadata.name` is always present and equal to `name`, as the API server
    guarantees for live namespaces (and as a namespaceSelector on that label expects).
    """

    name: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        labels = dict(self.labels)
        labels[conventions.NAMESPACE_NAME_LABEL] = self.name
        # Frozen dataclass: __post_init__ is the one place that may set a field.
        object.__setattr__(self, "labels", MappingProxyType(labels))

    @property
    def profile_name(self) -> str | None:
        """The IsolationProfile this namespace opted into via its label, or None."""
        return opted_in_profile(self.labels) or None


def opted_in_profile(labels: Mapping[str, Any] | None) -> str:
    """The profile a namespace opted into through its label; "" when it did not opt in.

    The one reader of the opt-in label: the operator, the CLI and the tests all go through it.
    """
    value = (labels or {}).get(conventions.PROFILE_LABEL)
    return str(value) if value else ""
