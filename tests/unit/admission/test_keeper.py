"""The admission keeper end to end against the in-memory API server, on loop time.

Built by the composition root with NETISO_ADMISSION on (tests/unit/hermetic.py): it installs
the guardrail policies and one binding per profile, restores what a person removes, deletes
a gone profile's binding, and waits out an API server that does not serve the API yet.
"""

from __future__ import annotations

import logging

import pytest

from netiso.rendering.validations import BASELINE_BINDING, binding_name
from tests.unit.apiserver import FakeApiServer
from tests.unit.hermetic import (
    BINDINGS,
    POLICIES,
    PROFILES,
    deliver_profile,
    profile_body,
    running,
    settings,
    settle,
)

pytestmark = pytest.mark.looptime

ADMISSION_ON = settings(admission=True, status_interval=1.0)


def names(server: FakeApiServer, path: str) -> set[str]:
    return {body["metadata"]["name"] for body in server.items(path)}


def restored_events(server: FakeApiServer) -> list[str]:
    return [
        e["message"] for e in server.items("/api/v1/events") if e["reason"] == "GuardrailRestored"
    ]


async def test_the_keeper_installs_the_policies_and_a_binding_per_profile() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    async with running(server, ADMISSION_ON):
        await settle()
        assert names(server, POLICIES)
        assert {binding_name("base"), BASELINE_BINDING} <= names(server, BINDINGS)
        installed = len(server.writes())
        await settle(60)
        assert len(server.writes()) == installed  # in place: nothing more to write


async def test_a_binding_someone_deletes_is_restored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    async with running(server, ADMISSION_ON):
        await settle()
        server.remove(BINDINGS, binding_name("base"))
        with caplog.at_level(logging.WARNING, logger="netiso.admission.keeper"):
            await settle()
        assert binding_name("base") in names(server, BINDINGS)
        assert restored_events(server) == [
            f"ValidatingAdmissionPolicyBinding {binding_name('base')} was deleted by someone "
            "other than netiso; netiso restored it"
        ]
    # The log line names its profile and reason as fields (keys of the JSON line).
    (line,) = [r for r in caplog.records if "restored" in r.getMessage()]
    assert (getattr(line, "profile", None), getattr(line, "reason", None)) == (
        "base",
        "GuardrailRestored",
    )


async def test_a_deleted_profiles_binding_goes_with_it() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    server.put(PROFILES, profile_body("other"))
    async with running(server, ADMISSION_ON) as runtime:
        await settle()
        server.remove(PROFILES, "other")
        await deliver_profile(runtime, server, "other")
        await settle()
        bindings = names(server, BINDINGS)
        assert binding_name("base") in bindings
        assert binding_name("other") not in bindings


async def test_an_api_server_without_the_api_is_waited_for_with_backoff() -> None:
    server = FakeApiServer()
    server.put(PROFILES, profile_body("base"))
    refused = server.fail("GET", "validatingadmissionpolicies", status=404, times=4)
    async with running(server, ADMISSION_ON):
        await settle(5)
        assert not names(server, POLICIES)
        await settle(60)  # backoff 1, 2, 4, 8 s, then served
        assert refused.times == 0
        assert {binding_name("base"), BASELINE_BINDING} <= names(server, BINDINGS)
