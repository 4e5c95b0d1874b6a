"""API permissions: token scopes on top of the same role rules the pages use."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from portal.models import ApiToken

# Analyses whose rows are findings: through a token they need `read:findings` as well as the
# endpoint's own scope (results of a run are otherwise `read:investigations`).
FINDINGS_ANALYSES = frozenset({"detections"})


def hidden_analyses(request: Request | None) -> frozenset[str]:
    """The analyses whose results this request may not see: the findings ones, for a token
    without `read:findings`. Session users see them (their roles apply)."""
    token = getattr(request, "auth", None)
    if isinstance(token, ApiToken) and not token.has_scope("read:findings"):
        return FINDINGS_ANALYSES
    return frozenset()


class TokenHasScope(BasePermission):
    """A view names `required_scopes = {"GET": "read:...", "POST": "write:..."}`.

    Session users are not limited by scopes (their roles still apply); token users need the
    scope for the method.
    """

    message = "This API token lacks the scope for this action."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        scopes: dict[str, str] = getattr(view, "required_scopes", {})
        needed = scopes.get(request.method or "GET") or scopes.get("*")
        if needed is None:
            return False
        return token.has_scope(needed)
