"""Authorship evidence: netiso's keyed signature, bound to namespace, name and content.

Unit tests of netiso.observed.authorship and of drifts.owned/compare with a signing key: what
a new process (no memory of the writer) may change or delete, and what it must leave alone.
"""

from __future__ import annotations

import copy
from typing import Any

from netiso import conventions
from netiso.model.namespaces import NamespaceFacts
from netiso.model.parsing import parse_profile
from netiso.observed.authorship import Signer
from netiso.observed.drifts import DriftReason, LivePolicy, PolicyWrite, Verb, compare, owned
from netiso.rendering.bodies import RenderedPolicy, render_policies
from netiso.rendering.environment import make_environment

KEY = Signer(key=b"k" * 32)
OTHER_KEY = Signer(key=b"o" * 32)
MODIFIED_DENY_UPDATE = PolicyWrite(
    verb=Verb.UPDATE, name="netiso-default-deny", drift=DriftReason.MODIFIED
)


def rendered(namespace: str = "team-a", **spec: Any) -> tuple[RenderedPolicy, ...]:
    body = {
        "apiVersion": "netiso.io/v1alpha1",
        "kind": "IsolationProfile",
        "metadata": {"name": "base"},
        "spec": spec,
    }
    return render_policies(make_environment(), parse_profile(body), NamespaceFacts(name=namespace))


def stored(
    policy: RenderedPolicy, *, namespace: str | None = None, uid: str = "u1"
) -> dict[str, Any]:
    """The body as the API server would return it (optionally copied into `namespace`)."""
    body = copy.deepcopy(policy.body)
    body["metadata"].update({"uid": uid, "resourceVersion": "9"})
    if namespace is not None:
        body["metadata"]["namespace"] = namespace
    return body


def deny(policies: tuple[RenderedPolicy, ...]) -> RenderedPolicy:
    return next(p for p in policies if p.name == "netiso-default-deny")


def test_a_signature_is_bound_to_namespace_name_hash_and_key() -> None:
    signature = KEY.sign(namespace="a", name="netiso-default-deny", spec_hash="h")
    assert KEY.verifies(
        namespace="a", name="netiso-default-deny", spec_hash="h", signature=signature
    )
    for namespace, name, spec_hash in (
        ("b", "netiso-default-deny", "h"),
        ("a", "x", "h"),
        ("a", "netiso-default-deny", "g"),
    ):
        assert not KEY.verifies(
            namespace=namespace, name=name, spec_hash=spec_hash, signature=signature
        )
    assert not OTHER_KEY.verifies(
        namespace="a", name="netiso-default-deny", spec_hash="h", signature=signature
    )
    assert "k" * 8 not in repr(KEY)


def test_an_edited_signed_policy_of_an_older_generation_is_netisos_to_a_new_process() -> None:
    # Rendered under the previous profile generation, then `ingress: [{}]` added by hand: a
    # process that wrote nothing and renders only the current generation still proves it.
    older = KEY.signed(deny(rendered(reason="first generation")))
    body = stored(older)
    body["spec"]["ingress"] = [{}]
    live = LivePolicy.from_body(body)
    assert live.edited
    assert live.recorded_hash not in {p.spec_hash for p in rendered()}
    assert owned(live, signer=KEY)
    assert not owned(live, signer=OTHER_KEY)
    desired = tuple(KEY.signed(p) for p in rendered())
    changes = compare(desired=desired, live=[live], repair=True, signer=KEY)
    assert ("netiso-default-deny", DriftReason.MODIFIED) in {
        (d.policy, d.reason) for d in changes.drifts
    }
    assert MODIFIED_DENY_UPDATE in changes.planned()


def test_a_signed_copy_in_another_namespace_is_not_netisos_and_is_never_deleted() -> None:
    original = KEY.signed(deny(rendered("team-a")))
    copy_in_b = LivePolicy.from_body(stored(original, namespace="team-b"))
    assert not copy_in_b.edited  # a genuine hash: the spec does not depend on the namespace
    assert not owned(copy_in_b, signer=KEY)
    changes = compare(desired=(), live=[copy_in_b], repair=True, signer=KEY)
    assert changes.steps == ()
    assert [(d.policy, d.reason) for d in changes.drifts] == [
        ("netiso-default-deny", DriftReason.FOREIGN_CLAIMS_MANAGED)
    ]


def test_an_unsigned_copy_with_a_genuine_hash_is_never_deleted_with_a_key() -> None:
    unsigned = LivePolicy.from_body(stored(deny(rendered("team-a")), namespace="team-b"))
    assert not owned(unsigned, signer=KEY)
    changes = compare(
        desired=(),
        live=[unsigned],
        repair=True,
        signer=KEY,
        known_hashes={unsigned.recorded_hash},
    )
    assert changes.steps == ()


def test_a_copy_at_a_wanted_name_is_taken_over_only_on_content_evidence() -> None:
    # In a namespace opted in to the profile, at netiso's own name: replacing a copy of a
    # current rendering with netiso's signed one loses nothing. An edited copy of an older
    # generation, signed for another namespace, proves nothing: a conflict.
    original = KEY.signed(deny(rendered("team-a")))
    as_copied = LivePolicy.from_body(stored(original, namespace="team-b"))
    desired = tuple(KEY.signed(p) for p in rendered("team-b"))
    changes = compare(desired=desired, live=[as_copied], repair=True, signer=KEY)
    assert PolicyWrite(verb=Verb.UPDATE, name="netiso-default-deny") in changes.planned()
    assert changes.drifts == ()
    older = KEY.signed(deny(rendered("team-a", reason="first generation")))
    body = stored(older, namespace="team-b")
    body["spec"]["ingress"] = [{}]
    opened = LivePolicy.from_body(body)
    changes = compare(desired=desired, live=[opened], repair=True, signer=KEY)
    assert [(d.policy, d.reason) for d in changes.conflicts] == [
        ("netiso-default-deny", DriftReason.CONFLICT)
    ]
    assert not any(s.name == "netiso-default-deny" for s in changes.steps)
    # The same edit in the namespace it was signed for is netiso's drift, repaired.
    mine = stored(older)
    mine["spec"]["ingress"] = [{}]
    desired_a = tuple(KEY.signed(p) for p in rendered("team-a"))
    changes = compare(desired=desired_a, live=[LivePolicy.from_body(mine)], repair=True, signer=KEY)
    assert MODIFIED_DENY_UPDATE in changes.planned()


def test_unsigned_policies_of_an_earlier_release_are_signed_once_then_left_alone() -> None:
    plain = rendered()
    live = [LivePolicy.from_body(stored(p, uid=f"u-{p.name}")) for p in plain]
    desired = tuple(KEY.signed(p) for p in plain)
    changes = compare(desired=desired, live=live, repair=True, signer=KEY)
    assert sorted(map(str, changes.planned())) == sorted(f"update {p.name}" for p in plain)
    assert changes.drifts == ()
    signed_live = [LivePolicy.from_body(stored(p, uid=f"u-{p.name}")) for p in desired]
    assert compare(desired=desired, live=signed_live, repair=True, signer=KEY).empty


def test_without_a_key_signatures_are_neither_written_nor_demanded() -> None:
    plain = rendered()
    live = [LivePolicy.from_body(stored(KEY.signed(p))) for p in plain]
    assert compare(desired=plain, live=live, repair=True).empty
    assert all(
        p.body["metadata"]["annotations"].get(conventions.SIGNATURE_ANNOTATION) is None
        for p in plain
    )


def test_without_a_key_a_signature_is_taken_at_its_word() -> None:
    # The CLI has no key: an edited signed policy is netiso's drift there too, as it is to
    # the operator.
    body = stored(KEY.signed(deny(rendered(reason="first generation"))))
    body["spec"]["ingress"] = [{}]
    live = LivePolicy.from_body(body)
    assert owned(live)
    changes = compare(desired=rendered(), live=[live], repair=True)
    assert MODIFIED_DENY_UPDATE in changes.planned()
