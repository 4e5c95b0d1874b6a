"""The address a request came from: the one place that decides it, for audit events and lockout."""

from __future__ import annotations

from typing import Any


def client_address(request: Any) -> str | None:
    """The caller's address as the web server saw it (REMOTE_ADDR)."""
    return request.META.get("REMOTE_ADDR") or None
