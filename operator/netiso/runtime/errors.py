"""What the API server (or the way to it) refused: one error class per answer that matters.

Runtime layer. Callers catch the kind (`except NotFound:`), never compare status numbers;
`status` stays on every error as the typed HTTP status for messages (0: no answer at all).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """The API server answered with a non-success status (after retries, where retried).

    Constructing the base class picks the subclass the status (and, for 409, the server's
    reason) names, as `OSError(ENOENT, ...)` is a FileNotFoundError: `ApiError(status=404,
    ...)` is a NotFound wherever it was made. `status` 0 means no answer at all (connection
    refused, DNS, TLS, timeout). `method` and `path` name the request, so a 403 can say which
    permission is missing.
    """

    status: int
    reason: str
    message: str
    method: str
    path: str

    def __new__(cls, *args: Any, **kwargs: Any) -> ApiError:
        kind = cls
        if cls is ApiError:
            kind = kind_of(status=int(kwargs.get("status", 0)), reason=str(kwargs.get("reason")))
        return super().__new__(kind)

    def __init__(
        self, *, status: int, reason: str, message: str, method: str = "", path: str = ""
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.method = method
        self.path = path


class Unreachable(ApiError):
    """No answer at all (status 0): connection refused, DNS, TLS or a timeout."""


class Fenced(ApiError):
    """A write refused before it was sent: this replica does not hold the Lease (any more)."""

    def __init__(self) -> None:
        super().__init__(status=0, reason="Fenced", message="not the leader: write not sent")


class Unauthorized(ApiError):
    """401: the credentials were refused (an invalid or expired token or certificate)."""


class Forbidden(ApiError):
    """403: the credentials lack a permission, or admission refused the request."""


class NotFound(ApiError):
    """404: the object does not exist, or the API server does not serve its kind."""


class Conflict(ApiError):
    """409: the object changed since it was read (a resourceVersion or uid precondition
    failed), or, as its subclass AlreadyExists, a create found the name taken."""


class AlreadyExists(Conflict):
    """409 with reason AlreadyExists: a create found an object of that name."""


class Gone(ApiError):
    """410: the resourceVersion a watch resumed from is too old; list again."""


class Invalid(ApiError):
    """422: the server's validation (schema, CEL rules) refused the object."""


class TooManyRequests(ApiError):
    """429: the server is throttling (API priority and fairness)."""


class ServerError(ApiError):
    """5xx: the server (or etcd behind it) failed."""


_BY_STATUS: dict[int, type[ApiError]] = {
    0: Unreachable,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def kind_of(*, status: int, reason: str) -> type[ApiError]:
    """The error class for one answer; ApiError itself for a status without a class."""
    if status == 409 and reason == "AlreadyExists":
        return AlreadyExists
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ApiError)
