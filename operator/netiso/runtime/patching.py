"""Patching the IsolationProfile status subresource, the one place netiso reports on a profile.

Cluster layer: the I/O half of status (reporting/statuses.py decides what it says and when).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netiso.runtime.client import ApiClient
from netiso.runtime.reading import profile_path


async def patch_profile_status(api: ApiClient, name: str, status: Mapping[str, Any]) -> str:
    """Merge-patch `status` onto the profile's status subresource; returns the profile's new
    resourceVersion. Raises ApiError."""
    _, stored = await api.request(
        "PATCH",
        profile_path(name, status=True),
        verb="patch",
        body={"status": dict(status)},
        content_type="application/merge-patch+json",
    )
    return str((stored.get("metadata") or {}).get("resourceVersion", ""))
