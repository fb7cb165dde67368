"""The API error kinds: the status (and reason) an answer carries picks the class."""

from __future__ import annotations

import pytest

from netiso.runtime.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    Fenced,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    ServerError,
    TooManyRequests,
    Unauthorized,
    Unreachable,
)


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (0, "ConnectionError", Unreachable),
        (401, "Unauthorized", Unauthorized),
        (403, "Forbidden", Forbidden),
        (404, "NotFound", NotFound),
        (409, "Conflict", Conflict),
        (409, "AlreadyExists", AlreadyExists),
        (410, "Expired", Gone),
        (422, "Invalid", Invalid),
        (429, "TooManyRequests", TooManyRequests),
        (500, "InternalError", ServerError),
        (504, "Timeout", ServerError),
    ],
)
def test_an_answer_is_raised_as_the_kind_its_status_names(
    status: int, reason: str, kind: type[ApiError]
) -> None:
    error = ApiError(status=status, reason=reason, message="m", method="GET", path="/x")
    assert type(error) is kind
    assert (error.status, error.reason, error.message, error.method, error.path) == (
        status,
        reason,
        "m",
        "GET",
        "/x",
    )
    assert str(error) == f"{status} {reason}: m"


def test_an_already_exists_is_caught_as_a_conflict() -> None:
    with pytest.raises(Conflict):
        raise ApiError(status=409, reason="AlreadyExists", message="taken")


def test_a_status_without_a_kind_stays_a_plain_api_error() -> None:
    assert type(ApiError(status=418, reason="Teapot", message="")) is ApiError


def test_a_fenced_write_is_no_unreachable_server() -> None:
    fenced = Fenced()
    assert fenced.status == 0
    assert not isinstance(fenced, Unreachable)
