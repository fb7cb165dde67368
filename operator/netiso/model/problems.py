"""What is wrong with a profile, as values: a Problem names a field path and what is wrong there.

Model layer, pure. The parser collects every Problem it finds and raises one ProfileError, so a
user fixes a manifest in one round instead of one error at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One finding about one field, e.g. `spec.dns.ports[1].port: must be 1..65535, got 0`.

    `path` is the field path in camelCase as the user wrote it ("" means the whole object);
    the same type carries warnings (legal but probably unintended settings).
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ProfileError(ValueError):
    """An IsolationProfile is invalid; `problems` lists every finding, in document order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))
