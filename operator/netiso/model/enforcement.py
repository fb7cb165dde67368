"""The enforcement probe as values: its spec (`spec.enforcementProbe`), its states and verdict.

Model layer, pure. The probe proves with one real connection that the network plugin enforces
what the profile promises; netiso/probing/ runs it. `conclude` is the one place a round's two
observed outcomes become a verdict; `parse_enforcement_probe` reads the spec field.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

from netiso.model.fields import FieldTree, ObjectReader, items_of, shown
from netiso.model.names import dns1123_subdomain_problem

# The image runs `agnhost netexec` (the targets) and `agnhost connect` (the source); any image
# with agnhost's commands at /agnhost works (a mirror, say).
DEFAULT_PROBE_IMAGE: Final = "registry.k8s.io/e2e-test-images/agnhost:2.53"
DEFAULT_PROBE_PORT: Final = 8080
DEFAULT_PROBE_INTERVAL: Final = 600
MIN_PROBE_INTERVAL: Final = 60
MAX_PROBE_INTERVAL: Final = 86_400
# Non-root containers cannot bind below 1024 on most nodes.
MIN_PROBE_PORT: Final = 1024
MAX_PROBE_PORT: Final = 65535
MAX_IMAGE_LENGTH: Final = 512
MAX_PULL_SECRETS: Final = 8

ENFORCEMENT_PROBE_FIELDS: Final[FieldTree] = {
    "enabled": {},
    "intervalSeconds": {},
    "image": {},
    "imagePullSecrets": {"name": {}},
    "port": {},
}


@dataclass(frozen=True)
class EnforcementProbe:
    """`spec.enforcementProbe`: whether and how often netiso proves the isolation with packets.

    `interval` is in seconds (at most one round per interval per profile); `port` is the TCP
    port the probe targets listen on; `image_pull_secrets` name Secrets in the namespaces the
    probe pods run in.
    """

    enabled: bool = False
    interval: int = DEFAULT_PROBE_INTERVAL
    image: str = DEFAULT_PROBE_IMAGE
    image_pull_secrets: tuple[str, ...] = ()
    port: int = DEFAULT_PROBE_PORT

    def to_spec(self) -> dict[str, Any]:
        """The field in CRD form, every default filled in (empty lists omitted)."""
        spec: dict[str, Any] = {
            "enabled": self.enabled,
            "intervalSeconds": self.interval,
            "image": self.image,
            "port": self.port,
        }
        if self.image_pull_secrets:
            spec["imagePullSecrets"] = [{"name": name} for name in self.image_pull_secrets]
        return spec


def parse_enforcement_probe(reader: ObjectReader) -> EnforcementProbe:
    """Read `spec.enforcementProbe` through `reader` (built on ENFORCEMENT_PROBE_FIELDS);
    problems go to the reader's list and the field keeps its default."""
    image = reader.string("image", default=DEFAULT_PROBE_IMAGE, max_length=MAX_IMAGE_LENGTH)
    if not image.strip() or any(c.isspace() for c in image):
        reader.problem("image", f"must be an image reference without spaces, got {shown(image)}")
    return EnforcementProbe(
        enabled=reader.boolean("enabled", default=False),
        interval=reader.integer(
            "intervalSeconds",
            default=DEFAULT_PROBE_INTERVAL,
            low=MIN_PROBE_INTERVAL,
            high=MAX_PROBE_INTERVAL,
        ),
        image=image,
        image_pull_secrets=_pull_secrets(reader),
        port=reader.integer(
            "port", default=DEFAULT_PROBE_PORT, low=MIN_PROBE_PORT, high=MAX_PROBE_PORT
        ),
    )


def _pull_secrets(reader: ObjectReader) -> tuple[str, ...]:
    path = reader.path_of("imagePullSecrets")
    names: list[str] = []
    raw = items_of(
        reader.get("imagePullSecrets"),
        path=path,
        problems=reader.problems,
        max_items=MAX_PULL_SECRETS,
    )
    for index, item in enumerate(raw):
        entry = ObjectReader(
            item, path=f"{path}[{index}]", fields={"name": {}}, problems=reader.problems
        )
        name = entry.string("name", default="", max_length=253)
        if not name or dns1123_subdomain_problem(name):
            entry.problem("name", f"must name a Secret, got {shown(name or None)}")
            continue
        names.append(name)
    return tuple(names)


class EnforcementState(enum.StrEnum):
    """What one probe round concluded; the metric's `state` label takes exactly these values."""

    # The forbidden connection was blocked while the control connection got through.
    ENFORCED = "enforced"
    # The forbidden connection got through (seen twice): the network plugin does not enforce.
    NOT_ENFORCED = "not-enforced"
    # The control connection failed, or the round could not tell (pods did not run in time).
    INCONCLUSIVE = "inconclusive"
    # No round could run: RBAC not granted, no opted-in namespace, nothing forbidden to test.
    UNAVAILABLE = "unavailable"


class ProbeReason(enum.StrEnum):
    """Why a verdict is what it is: the profile condition's reason."""

    ENFORCED = "Enforced"
    NOT_ENFORCED = "NotEnforced"
    CONTROL_FAILED = "ControlFailed"
    PODS_NOT_READY = "ProbePodsNotReady"
    NOTHING_FORBIDDEN = "NothingForbidden"
    CONTROL_ISOLATED = "ControlIsolated"
    NO_NAMESPACE = "NoNamespace"
    DRY_RUN = "DryRun"
    NOT_PERMITTED = "ProbeNotPermitted"
    API_ERROR = "ProbeError"


@dataclass(frozen=True)
class Connection:
    """What one `agnhost connect` in the probe source observed: connected or not, and how."""

    connected: bool
    # agnhost's word for a failure (REFUSED, TIMEOUT, OTHER, ...); "" when connected.
    detail: str = ""


@dataclass(frozen=True)
class ProbeVerdict:
    """One round's conclusion, as the metric, the condition, the Event and the CLI say it."""

    state: EnforcementState
    reason: ProbeReason
    message: str
    # The namespace whose isolation was probed ("" when no round ran).
    namespace: str = ""
    seconds: float = 0.0


def needs_confirmation(*, forbidden: Connection, control: Connection) -> bool:
    """Whether a first round must be looked at again before it is concluded: a plugin may take
    a moment to program a brand-new pod, so `not-enforced` is only said when a second source,
    started after the first has finished, gets through as well."""
    return forbidden.connected and control.connected


def conclude(*, forbidden: Connection, control: Connection, target: str) -> ProbeVerdict:
    """The verdict of a round's (last) source: the control must get through for anything to be
    concluded; then the forbidden connection decides."""
    if not control.connected:
        return ProbeVerdict(
            EnforcementState.INCONCLUSIVE,
            ProbeReason.CONTROL_FAILED,
            "the probe's control connection, which no policy isolates, failed "
            f"({control.detail or 'no answer'}): the probe cannot tell whether {target} is "
            "isolated",
        )
    if forbidden.connected:
        return ProbeVerdict(
            EnforcementState.NOT_ENFORCED,
            ProbeReason.NOT_ENFORCED,
            f"a connection the policies deny reached {target}: the network plugin does not "
            "enforce NetworkPolicy",
        )
    return ProbeVerdict(
        EnforcementState.ENFORCED,
        ProbeReason.ENFORCED,
        f"a connection the policies deny was blocked ({forbidden.detail or 'no answer'}) "
        f"and the control connection got through: {target} is isolated",
    )
