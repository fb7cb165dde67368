"""A recording stand-in for the API client at its HTTP boundary, for reporting unit tests.

It records each request and answers 200 (or a status the test sets), so the decisions of the
reporting layer (what to write, when, how often) can be tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netiso.runtime.client import ApiError


@dataclass
class RecordingApi:
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    fail_with: int | None = None

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        self.requests.append((method, path, kwargs.get("body")))
        if self.fail_with is not None:
            raise ApiError(status=self.fail_with, reason="Test", message="refused by the test")
        return 200, {}
