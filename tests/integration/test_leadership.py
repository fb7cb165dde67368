"""Replicas behind one Lease on the real API server: fail-over, hand-over and no split brain.

Several operator processes run as users run them, under the shipped RBAC, campaigning for one
Lease per test. Tests about the defaults (kill -9, SIGTERM, steady state) keep 15/10/2 s; the
others shorten the Lease through the environment to keep the run short, and say so.
Take-over times are printed for the record; speed targets live in bench/ (`failover`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from netiso.model.leases import lease_name, shard_of
from netiso_devkit.harness import (
    OPERATOR_USER,
    OperatorProcess,
    grant_operator_rbac,
    install_crd,
    wait_for,
)

from .conftest import MakeNamespace, unique_name
from .ship_cluster import (
    DEFAULT_DENY,
    DNS_EGRESS,
    create_profile,
    managed_in,
    patch_profile_spec,
    read_profile,
    remove_profile,
)

pytestmark = pytest.mark.integration

LEASE_NAMESPACE: Final = "netiso-system"
MANAGED: Final = "app.kubernetes.io/managed-by=netiso"
EXPECTED: Final = sorted([DEFAULT_DENY, DNS_EGRESS])
# Shorter than the defaults, for tests whose point is not the default timing.
SHORT_LEASE: Final = {
    "NETISO_LEASE_DURATION": "4",
    "NETISO_RENEW_DEADLINE": "3",
    "NETISO_RETRY_PERIOD": "0.5",
}
WRITE_VERBS: Final = ("create", "patch", "apply", "delete", "update")


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def operator_kubeconfig(control_plane: Any, kube_api: client.ApiClient) -> Path:
    install_crd(kube_api)
    grant_operator_rbac(kube_api)
    path: Path = control_plane.user_kubeconfig(OPERATOR_USER)
    return path


@pytest.fixture
def profile(kube_api: client.ApiClient) -> Iterator[str]:
    name = unique_name("ha")
    create_profile(kube_api, name)
    yield name
    remove_profile(kube_api, name)


Replicas = Callable[..., list[OperatorProcess]]


@pytest.fixture
def replicas(
    operator_kubeconfig: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Replicas]:
    """replicas(n, **env) -> n operators campaigning for one Lease, all ready (a standby is
    ready once its view is listed). Every one still running is stopped after the test."""
    started: list[OperatorProcess] = []
    lease = f"netiso-ha-{uuid.uuid4().hex[:8]}"
    failed_before = request.session.testsfailed

    def start(n: int, **env: str) -> list[OperatorProcess]:
        group = []
        for _ in range(n):
            index = len(started)
            operator = OperatorProcess(
                kubeconfig=operator_kubeconfig,
                log_path=tmp_path / f"replica-{index}.log",
                env={"NETISO_LEASE_NAME": lease, "NETISO_IDENTITY": f"replica-{index}", **env},
            )
            started.append(operator)
            group.append(operator.start())
        return group

    yield start
    for operator in started:
        with contextlib.suppress(ProcessLookupError):
            operator.stop(sig=signal.SIGCONT, timeout=0.1)
        operator.stop()
    if request.session.testsfailed > failed_before:
        for index, operator in enumerate(started):
            print(f"----- replica-{index} log -----\n{operator.log()[-6000:]}")


# --- helpers ---------------------------------------------------------------------------------


def is_leader(operator: OperatorProcess) -> bool:
    return operator.running() and operator.metric("netiso_leader") == 1.0


def the_leader(operators: list[OperatorProcess], *, timeout: float = 30.0) -> OperatorProcess:
    """The one replica that says it leads, once exactly one does."""

    def one() -> OperatorProcess | None:
        leaders = [op for op in operators if op.running() and is_leader(op)]
        return leaders[0] if len(leaders) == 1 else None

    return wait_for("exactly one leader", one, timeout=timeout, interval=0.1)


def managed_by_namespace(api: client.ApiClient) -> dict[str, list[str]]:
    """Every managed policy in the cluster, by namespace, names sorted."""
    items = client.NetworkingV1Api(api).list_network_policy_for_all_namespaces(
        label_selector=MANAGED
    )
    out: dict[str, list[str]] = {}
    for item in items.items:
        out.setdefault(item.metadata.namespace, []).append(item.metadata.name)
    return {ns: sorted(names) for ns, names in out.items()}


def all_isolated(api: client.ApiClient, names: list[str]) -> Callable[[], bool]:
    def probe() -> bool:
        per_ns = managed_by_namespace(api)
        return all(per_ns.get(ns) == EXPECTED for ns in names)

    return probe


def writes(operator: OperatorProcess) -> float:
    """API writes netiso sent for its work (the Lease is counted apart)."""
    return operator.write_requests()


def lease_writes(operator: OperatorProcess) -> float:
    return sum(
        operator.metric_sum("netiso_lease_requests_total", verb=verb)
        for verb in ("create", "update")
    )


def read_lease(api: client.ApiClient, name: str) -> Any:
    return client.CoordinationV1Api(api).read_namespaced_lease(name, LEASE_NAMESPACE)


def opt_in_many(
    api: client.ApiClient, *, prefix: str, count: int, profile: str, pause: float = 0.0
) -> tuple[list[str], threading.Thread, list[BaseException]]:
    """Create `count` opted-in namespaces from a background thread; returns (names, thread,
    errors). The names list fills as they are created."""
    core = client.CoreV1Api(api)
    names: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(count):
                name = unique_name(prefix)
                body = client.V1Namespace(
                    metadata=client.V1ObjectMeta(name=name, labels={"netiso.io/profile": profile})
                )
                core.create_namespace(body)
                names.append(name)
                if pause:
                    time.sleep(pause)
        except BaseException as exc:  # surfaced by the test, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"opt-in-{prefix}", daemon=True)
    thread.start()
    return names, thread, errors


@contextlib.contextmanager
def namespaces_deleted(api: client.ApiClient, names: list[str]) -> Iterator[None]:
    """Delete the namespaces after the block and wait until they are gone: still labelled
    while they terminate, they would meet later tests' operators with their profile deleted."""
    try:
        yield
    finally:
        core = client.CoreV1Api(api)

        def delete(name: str) -> None:
            with contextlib.suppress(ApiException):
                core.delete_namespace(name)

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(delete, list(names)))

        def gone() -> bool:
            listed = {ns.metadata.name for ns in core.list_namespace().items}
            return not listed & set(names)

        wait_for("the test's namespaces gone", gone, timeout=600, interval=2)


def first_write_after(operator: OperatorProcess, *, baseline: float, timeout: float) -> float:
    """Poll the operator's write count until it passes `baseline`; returns that moment."""
    wait_for(
        "the new leader's first write",
        lambda: writes(operator) > baseline,
        timeout=timeout,
        interval=0.05,
    )
    return time.monotonic()


# --- behaviour -------------------------------------------------------------------------------


def test_standby_is_ready_and_only_the_leader_writes(
    replicas: Replicas, kube_api: client.ApiClient, make_namespace: MakeNamespace, profile: str
) -> None:
    operators = replicas(2)
    leader = the_leader(operators)
    standby = next(op for op in operators if op is not leader)
    assert standby.metric("netiso_leader") == 0.0
    assert standby.metric("netiso_ready") == 1.0
    names = [make_namespace("ha-one", labels={"netiso.io/profile": profile}) for _ in range(5)]
    wait_for("isolated by the leader", all_isolated(kube_api, names))
    assert writes(standby) == 0
    assert writes(leader) > 0
    # The standby shows no per-namespace series: the leader is the one source of those.
    assert standby.metric_sum("netiso_namespaces") == 0
    assert leader.metric("netiso_namespaces", profile=profile, state="isolated") == 5
    assert "is standing by" in standby.log()
    assert "is now the leader" in leader.log()


def test_kill_9_of_the_leader_mid_opt_in_the_standby_converges_everything(
    replicas: Replicas, kube_api: client.ApiClient, profile: str
) -> None:
    # The defaults (15/10/2 s): this is the fail-over the docs promise.
    operators = replicas(2)
    leader = the_leader(operators)
    standby = next(op for op in operators if op is not leader)
    names, thread, errors = opt_in_many(
        kube_api, prefix="ha-kill", count=200, profile=profile, pause=0.02
    )
    with namespaces_deleted(kube_api, names):
        wait_for("the leader isolating", lambda: writes(leader) >= 40, timeout=60)
        baseline = writes(standby)
        assert baseline == 0
        killed = time.monotonic()
        leader.stop(sig=signal.SIGKILL)
        first = first_write_after(standby, baseline=baseline, timeout=60)
        thread.join(timeout=120)
        assert not errors, errors
        assert len(names) == 200
        assert is_leader(standby)
        wait_for("all 200 converged", all_isolated(kube_api, names), timeout=120, interval=0.5)
        print(f"kill -9 -> first write of the new leader: {first - killed:.2f} s")
        per_ns = managed_by_namespace(kube_api)
        # Exactly the expected policies in each (no duplicates, none missed) ...
        assert {ns: per_ns.get(ns) for ns in names} == dict.fromkeys(names, EXPECTED)
        # ... none anywhere else of this test, and the standby holds the Lease now.
        assert not [ns for ns in per_ns if ns.startswith("ha-kill-") and ns not in names]
        lease = read_lease(kube_api, standby.extra_env["NETISO_LEASE_NAME"])
        assert lease.spec.holder_identity == standby.extra_env["NETISO_IDENTITY"]


def test_sigterm_releases_the_lease_and_the_standby_takes_over_at_once(
    replicas: Replicas, kube_api: client.ApiClient, make_namespace: MakeNamespace, profile: str
) -> None:
    operators = replicas(2)
    leader = the_leader(operators)
    standby = next(op for op in operators if op is not leader)
    signalled = time.monotonic()
    assert leader.stop() == 0
    wait_for("the standby leading", lambda: is_leader(standby), timeout=30, interval=0.05)
    took = time.monotonic() - signalled
    print(f"SIGTERM -> standby leading: {took:.2f} s")
    # Not a speed check: without the release the standby could not lead before the 15 s
    # lease duration ran out, so leading sooner proves the Lease was handed back.
    assert took < 15.0
    assert "released lease" in leader.log()
    ns = make_namespace("ha-term", labels={"netiso.io/profile": profile})
    wait_for("isolated by the new leader", all_isolated(kube_api, [ns]))


def test_a_paused_leader_resumed_after_losing_the_lease_writes_nothing(
    replicas: Replicas, kube_api: client.ApiClient, make_namespace: MakeNamespace, profile: str
) -> None:
    # Short lease (4/3/0.5 s) to keep the pause short; the rule is the same at any length.
    operators = replicas(2, **SHORT_LEASE)
    leader = the_leader(operators)
    standby = next(op for op in operators if op is not leader)
    names = [make_namespace("ha-stop", labels={"netiso.io/profile": profile}) for _ in range(3)]
    wait_for("isolated", all_isolated(kube_api, names))
    before = writes(leader)
    assert leader.process is not None
    leader.process.send_signal(signal.SIGSTOP)
    try:
        wait_for("the standby leading", lambda: is_leader(standby), timeout=30)
        # Work the paused one will see in its watch streams once resumed: a new namespace
        # and a deleted policy. The new leader must do it; the old one must not.
        late = make_namespace("ha-late", labels={"netiso.io/profile": profile})
        client.NetworkingV1Api(kube_api).delete_namespaced_network_policy(DNS_EGRESS, names[0])
        wait_for("the new leader's work", all_isolated(kube_api, [*names, late]))
        versions = {ns: resource_versions(kube_api, ns) for ns in [*names, late]}
    finally:
        leader.process.send_signal(signal.SIGCONT)
    # Long enough for the resumed one to process its backlog and fail to renew, twice over.
    wait_for("the resumed one standing by", lambda: leader.metric("netiso_leader") == 0.0)
    time.sleep(3.0)
    assert writes(leader) == before, "the resumed replica wrote after losing the Lease"
    assert {ns: resource_versions(kube_api, ns) for ns in [*names, late]} == versions
    assert is_leader(standby)
    assert "no longer the leader" in leader.log()


def resource_versions(api: client.ApiClient, namespace: str) -> dict[str, str]:
    return {n: b["metadata"]["resourceVersion"] for n, b in managed_in(api, namespace).items()}


def test_two_replicas_at_steady_state_write_nothing_but_lease_renewals(
    replicas: Replicas, kube_api: client.ApiClient, make_namespace: MakeNamespace, profile: str
) -> None:
    operators = replicas(2)
    leader = the_leader(operators)
    standby = next(op for op in operators if op is not leader)
    names = [make_namespace("ha-steady", labels={"netiso.io/profile": profile}) for _ in range(5)]
    wait_for("isolated", all_isolated(kube_api, names))
    time.sleep(2.0)  # the status flush and the Events of the opt-in settle
    work = [writes(op) for op in operators]
    leases = [lease_writes(op) for op in operators]
    window = 10.0
    time.sleep(window)
    assert [writes(op) for op in operators] == work
    renewals = lease_writes(leader) - leases[operators.index(leader)]
    print(f"steady state, {window:.0f} s: 0 writes, {renewals:.0f} lease renewals by the leader")
    # The leader renews every retry period (2 s); the standby only reads the Lease.
    assert renewals >= 3
    assert lease_writes(standby) == leases[operators.index(standby)]


def test_three_shards_each_namespace_isolated_once_and_a_dead_shard_leader_replaced(
    replicas: Replicas, kube_api: client.ApiClient, profile: str
) -> None:
    # Short lease (4/3/0.5 s): the point is the assignment, not the timing.
    shards = {"NETISO_SHARDS": "3", "NETISO_MAX_SHARDS_PER_REPLICA": "2", **SHORT_LEASE}
    first = replicas(1, **shards)[0]
    wait_for("the first replica leading 2 shards", lambda: led_shards(first) == 2)
    others = replicas(2, **shards)
    operators = [first, *others]
    wait_for(
        "every shard led once",
        lambda: sorted(led_shards(op) for op in operators) == [0, 1, 2],
    )
    names, thread, errors = opt_in_many(kube_api, prefix="ha-shard", count=2000, profile=profile)
    with namespaces_deleted(kube_api, names):
        thread.join(timeout=600)
        assert not errors, errors
        wait_for("all 2,000 isolated", all_isolated(kube_api, names), timeout=600, interval=2)
        # One status, summed over the shards by the leader of shard 0, its only writer.
        wait_for(
            "the merged status",
            lambda: status_counts(kube_api, profile) == (2000, 2000),
            timeout=60,
        )
        status_writers = [
            op for op in operators if op.metric_sum("netiso_api_requests_total", verb="patch")
        ]
        assert status_writers == [
            op for op in operators if op.metric("netiso_shard_leader", shard="0") == 1.0
        ]
        # Each namespace was written by its shard's leader alone: two writers would race
        # their POSTs, and the loser's create would be refused as AlreadyExists (409).
        raced = sum(
            op.metric_sum("netiso_api_requests_total", verb="create", code="409")
            for op in operators
        )
        assert raced == 0
        first.stop(sig=signal.SIGKILL)
        wait_for(
            "the dead replica's shards taken over",
            lambda: sorted(led_shards(op) for op in others) == [1, 2],
            timeout=60,
        )
        # A namespace of every shard opted in after the kill is isolated by its new leader.
        late, thread, errors = opt_in_many(kube_api, prefix="ha-late", count=30, profile=profile)
        thread.join(timeout=60)
        names.extend(late)
        assert {shard_of(ns, 3) for ns in late} == {0, 1, 2}
        wait_for("late ones isolated", all_isolated(kube_api, late), timeout=120)
        lease = shards_lease_holders(kube_api, others[0])
        assert set(lease.values()) <= {op.extra_env["NETISO_IDENTITY"] for op in others}
        per_ns = managed_by_namespace(kube_api)
        assert {ns: per_ns.get(ns) for ns in names} == dict.fromkeys(names, EXPECTED)


def status_counts(api: client.ApiClient, profile: str) -> tuple[int, int] | None:
    status = read_profile(api, profile) or {}
    counts = status.get("status") or {}
    if "namespaces" not in counts:
        return None
    return int(counts["namespaces"]), int(counts["inSync"])


def led_shards(operator: OperatorProcess) -> int:
    return int(operator.metric_sum("netiso_shard_leader"))


def shards_lease_holders(api: client.ApiClient, operator: OperatorProcess) -> dict[int, str]:
    base = operator.extra_env["NETISO_LEASE_NAME"]
    return {
        shard: read_lease(api, lease_name(base, shard=shard, shards=3)).spec.holder_identity
        for shard in range(3)
    }


# --- fencing: what a deposed replica's in-flight write meets ---------------------------------


def stopped(operator: OperatorProcess) -> bool:
    """True while the process is stopped (SIGSTOP): state T in /proc."""
    assert operator.process is not None
    stat = Path(f"/proc/{operator.process.pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


def allow_all_ingress(api: client.ApiClient, namespace: str) -> None:
    """A hand edit of netiso's default-deny: `ingress: [{}]` admits everything."""
    client.NetworkingV1Api(api).patch_namespaced_network_policy(
        DEFAULT_DENY, namespace, {"spec": {"ingress": [{}]}}
    )


def denies_all(api: client.ApiClient, namespace: str) -> bool:
    deny = managed_in(api, namespace).get(DEFAULT_DENY)
    return deny is not None and not deny["spec"].get("ingress")


def test_a_write_frozen_between_the_fence_and_the_send_is_refused_by_the_api_server(
    replicas: Replicas, kube_api: client.ApiClient, make_namespace: MakeNamespace, profile: str
) -> None:
    # Short lease (4/3/0.5 s). The leader stops itself (fault injection in the API client)
    # right after its repair of the edited default-deny passed the fence, before it is sent.
    ns = make_namespace("ha-fence", labels={"netiso.io/profile": profile})
    (leader,) = replicas(1, NETISO_TEST_STOP_AFTER_FENCE=f"update:{ns}", **SHORT_LEASE)
    assert the_leader([leader]) is leader
    (standby,) = replicas(1, **SHORT_LEASE)
    wait_for("isolated", all_isolated(kube_api, [ns]))
    allow_all_ingress(kube_api, ns)
    wait_for("the leader frozen with its update in hand", lambda: stopped(leader), timeout=30)
    try:
        frozen = time.monotonic()
        wait_for("the standby leading", lambda: is_leader(standby), timeout=30, interval=0.05)
        wait_for("the new leader's repair", lambda: denies_all(kube_api, ns), timeout=30)
        repaired = time.monotonic()
        versions = resource_versions(kube_api, ns)
    finally:
        assert leader.process is not None
        leader.process.send_signal(signal.SIGCONT)
    print(f"frozen leader -> repaired by the new leader: {repaired - frozen:.2f} s")
    wait_for("the resumed one standing by", lambda: leader.metric("netiso_leader") == 0.0)
    # Its update was sent with the resourceVersion it had read, and the server refused it.
    wait_for(
        "the stale update refused (409)",
        lambda: leader.metric_sum("netiso_api_requests_total", verb="update", code="409") == 1,
        timeout=10,
    )
    time.sleep(2.0)
    assert leader.metric_sum("netiso_api_requests_total", verb="update", code="200") == 0
    assert resource_versions(kube_api, ns) == versions, "the deposed replica's write landed"
    assert denies_all(kube_api, ns)
    assert is_leader(standby)


# --- authorship across a fail-over: what a new leader may prove is netiso's -------------------


def spec_hash(body: dict[str, Any]) -> str:
    return str(body["metadata"]["annotations"]["netiso.io/spec-hash"])


def test_a_new_leader_repairs_an_edit_of_a_policy_rendered_under_the_previous_generation(
    replicas: Replicas, kube_api: client.ApiClient, make_namespace: MakeNamespace, profile: str
) -> None:
    # Short lease (4/3/0.5 s). The leader stops itself (fault injection in the API client)
    # in the middle of a profile fan-out, at its first update in the last namespace; while it
    # is frozen a default-deny the fan-out has not reached is opened by hand. The new leader
    # wrote none of these policies and renders only the new generation: it must still prove
    # the edited one netiso's, repair it and call the namespace isolated.
    names = [make_namespace("ha-gen", labels={"netiso.io/profile": profile}) for _ in range(8)]
    (leader,) = replicas(1, NETISO_TEST_STOP_AFTER_FENCE=f"update:{names[-1]}", **SHORT_LEASE)
    assert the_leader([leader]) is leader
    (standby,) = replicas(1, **SHORT_LEASE)
    wait_for("isolated", all_isolated(kube_api, names))
    old = {ns: spec_hash(managed_in(kube_api, ns)[DEFAULT_DENY]) for ns in names}
    patch_profile_spec(kube_api, profile, spec={"reason": "second generation"})
    wait_for("the leader frozen mid fan-out", lambda: stopped(leader), timeout=60)
    try:
        frozen = time.monotonic()
        unreached = [
            ns for ns in names if spec_hash(managed_in(kube_api, ns)[DEFAULT_DENY]) == old[ns]
        ]
        assert names[-1] in unreached  # its allows go first, its default-deny after
        target = unreached[0]
        allow_all_ingress(kube_api, target)
        wait_for("the standby leading", lambda: is_leader(standby), timeout=30, interval=0.05)
        led = time.monotonic()
        wait_for("the edit repaired", lambda: denies_all(kube_api, target), timeout=30)
        repaired = time.monotonic()
        wait_for(
            "the edited namespace isolated",
            lambda: (
                standby.metric("netiso_namespace_out_of_sync", namespace=target) is None
                and standby.metric("netiso_namespaces", profile=profile, state="isolated") == 8
            ),
            timeout=30,
        )
    finally:
        assert leader.process is not None
        leader.process.send_signal(signal.SIGCONT)
    print(
        f"frozen mid fan-out ({len(unreached)} of 8 unreached) -> new leader {led - frozen:.2f} s"
        f" -> edit repaired {repaired - frozen:.2f} s (lease 4 s)"
    )
    new = {ns: spec_hash(managed_in(kube_api, ns)[DEFAULT_DENY]) for ns in names}
    assert all(new[ns] != old[ns] for ns in names), "a namespace kept the old generation"
    assert denies_all(kube_api, target)
    wait_for("the resumed one standing by", lambda: leader.metric("netiso_leader") == 0.0)
    assert is_leader(standby)
    assert standby.metric_sum("netiso_policy_drift", reason="conflict") == 0


def test_a_signed_copy_in_a_namespace_not_opted_in_is_never_netisos_not_even_after_fail_over(
    replicas: Replicas, kube_api: client.ApiClient, make_namespace: MakeNamespace, profile: str
) -> None:
    # Short lease (4/3/0.5 s). A copy of netiso's default-deny, with netiso's labels, its
    # genuine spec hash and its signature, all made for another namespace.
    operators = replicas(2, **SHORT_LEASE)
    leader = the_leader(operators)
    standby = next(op for op in operators if op is not leader)
    source = make_namespace("ha-src", labels={"netiso.io/profile": profile})
    target = make_namespace("ha-copy")
    wait_for("isolated", all_isolated(kube_api, [source]))
    original = managed_in(kube_api, source)[DEFAULT_DENY]
    metadata = original["metadata"]
    copied = {
        "metadata": {
            "name": DEFAULT_DENY,
            "labels": metadata["labels"],
            "annotations": metadata["annotations"],
        },
        "spec": original["spec"],
    }
    net = client.NetworkingV1Api(kube_api)
    net.create_namespaced_network_policy(target, copied)
    series = {"namespace": target, "policy": DEFAULT_DENY, "reason": "foreign_claims_managed"}

    def reported_by(operator: OperatorProcess) -> Callable[[], bool]:
        return lambda: operator.metric_sum("netiso_policy_drift", **series) == 1

    wait_for("the copy reported as not netiso's", reported_by(leader), timeout=30)
    leader.stop(sig=signal.SIGKILL)
    wait_for("the standby leading", lambda: is_leader(standby), timeout=30)
    wait_for("the copy reported by the new leader", reported_by(standby), timeout=30)
    time.sleep(2.0)
    kept = net.read_namespaced_network_policy(DEFAULT_DENY, target)
    assert kept.metadata.annotations == metadata["annotations"]
    # Not counted as netiso's: the namespace is not among the profile's.
    assert standby.metric_sum("netiso_namespaces", profile=profile) == 1


# --- upgrade from the one-replica release -----------------------------------------------------


def test_upgrade_from_one_unsigned_replica_after_it_stopped_signs_each_policy_once(
    replicas: Replicas, kube_api: client.ApiClient, make_namespace: MakeNamespace, profile: str
) -> None:
    # The documented step (docs/install.md#upgrading): the one-replica release, which writes
    # without a Lease and signs nothing, is stopped first; then the replicas start. The new
    # leader takes over the unsigned policies (no conflict), signs each once, then is quiet.
    (old,) = replicas(1, NETISO_LEADER_ELECTION="false", NETISO_SIGNING_KEY_FILE="")
    names = [make_namespace("ha-up", labels={"netiso.io/profile": profile}) for _ in range(3)]
    wait_for("isolated by the old release", all_isolated(kube_api, names))
    assert all(
        "netiso.io/signature" not in body["metadata"]["annotations"]
        for ns in names
        for body in managed_in(kube_api, ns).values()
    )
    assert old.stop() == 0
    operators = replicas(2)
    leader = the_leader(operators)

    def signed() -> bool:
        return all(
            "netiso.io/signature" in body["metadata"]["annotations"]
            for ns in names
            for body in managed_in(kube_api, ns).values()
        )

    wait_for("every policy signed", signed, timeout=30)
    assert all_isolated(kube_api, names)()
    time.sleep(2.0)
    # One replace per policy (two per namespace); creates would be Events, not policies.
    assert leader.metric_sum("netiso_api_requests_total", verb="update") == 2 * len(names)
    assert leader.metric_sum("netiso_policy_drift") == 0
    assert leader.metric("netiso_namespaces", profile=profile, state="isolated") == len(names)
